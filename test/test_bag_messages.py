"""rosbags_tools message codecs through real CDR: clouds bit-exact and from foreign layouts,
boxes, camera info, transforms, twist; pose interpolation; camera-to-scan assignment."""
from collections import Counter

import numpy as np
import pytest

from bag_test_frames import T0_NS as T0, K, ego_pose, toy_frames
from loc_core.geometry.transforms import compose, invert, make_transform, yaw_transform
from rosbags_tools import conventions as C
from rosbags_tools import messages as M
from rosbags_tools.camera_sync import assign_images
from rosbags_tools.pointcloud import PointCloudError, decode_pointcloud, encode_pointcloud
from loc_core.geometry.pose_track import PoseLookupError, PoseTrack


def _through_cdr(msg, msgtype):
    store = C.typestore()
    return store.deserialize_cdr(store.serialize_cdr(msg, msgtype), msgtype)


def test_cloud_round_trip_is_bit_exact():
    frame = toy_frames(1)[0]
    frame.points[0] = [np.float32(1e-38), np.float32(-0.0), np.float32(3.4e38)]
    msg = _through_cdr(encode_pointcloud(frame.points, frame.intensity, frame.ring, 123, 'lidar_top'), C.POINTCLOUD2)
    assert [f.name for f in msg.fields] == ['x', 'y', 'z', 'intensity', 'ring']
    assert msg.point_step == 18 and msg.header.frame_id == 'lidar_top' and M.time_ns(msg.header.stamp) == 123
    cloud = decode_pointcloud(msg)
    assert cloud.points.tobytes() == frame.points.tobytes()
    assert cloud.intensity.tobytes() == frame.intensity.tobytes()
    assert cloud.ring.dtype == np.uint8 and np.array_equal(cloud.ring, frame.ring)


def test_cloud_without_ring_comes_back_without_ring():
    frame = toy_frames(1)[0]
    cloud = decode_pointcloud(encode_pointcloud(frame.points, frame.intensity, None, 0, 'l'))
    assert cloud.ring is None and np.array_equal(cloud.points, frame.points)


def _foreign_cloud(points, intensity, big_endian=False, nan_rows=()):
    """An organised 2-row cloud as some drivers write it: float64 xyz, uint16 intensity,
    padding inside points and at the end of each row, either byte order."""
    order = '>' if big_endian else '<'
    dtype = np.dtype({'names': ['x', 'y', 'z', 'intensity'], 'formats': [order + 'f8'] * 3 + [order + 'u2'],
                      'offsets': [0, 8, 16, 28], 'itemsize': 32})
    rec = np.zeros(len(points), dtype)
    rec['x'], rec['y'], rec['z'] = points.T
    rec['intensity'] = intensity
    for row in nan_rows:
        rec['y'][row] = np.nan
    width = len(points) // 2
    rows = rec.view(np.uint8).reshape(2, width * 32)
    data = np.concatenate([rows, np.full((2, 8), 0xAB, np.uint8)], axis=1).reshape(-1)
    types = C.typestore().types
    field = types['sensor_msgs/msg/PointField']
    fields = [field(name=n, offset=o, datatype=d, count=1) for n, o, d in
              (('x', 0, 8), ('y', 8, 8), ('z', 16, 8), ('intensity', 28, 4))]
    return types[C.POINTCLOUD2](header=M.header(5, 'velodyne'), height=2, width=width, fields=fields,
                                is_bigendian=big_endian, point_step=32, row_step=width * 32 + 8,
                                data=data, is_dense=False)


@pytest.mark.parametrize('big_endian', [False, True])
def test_foreign_cloud_layouts_decode(big_endian):
    rng = np.random.default_rng(1)
    points = rng.normal(size=(10, 3))
    intensity = rng.integers(0, 60000, 10)
    msg = _through_cdr(_foreign_cloud(points, intensity, big_endian), C.POINTCLOUD2)
    cloud = decode_pointcloud(msg)
    assert cloud.points.dtype == np.float32 and cloud.ring is None
    np.testing.assert_array_equal(cloud.points, points.astype(np.float32))
    np.testing.assert_array_equal(cloud.intensity, intensity.astype(np.float32))


def test_non_finite_points_are_dropped_and_counted():
    points = np.arange(30, dtype=float).reshape(10, 3)
    cloud = decode_pointcloud(_foreign_cloud(points, np.zeros(10), nan_rows=(2, 7)))
    assert cloud.dropped_nonfinite == 2 and len(cloud.points) == 8
    assert np.isfinite(cloud.points).all()
    np.testing.assert_array_equal(cloud.points[2], points[3].astype(np.float32))


def test_malformed_clouds_raise_clear_errors():
    good = _foreign_cloud(np.zeros((4, 3)), np.zeros(4))
    no_z = _foreign_cloud(np.zeros((4, 3)), np.zeros(4))
    no_z.fields = [f for f in no_z.fields if f.name != 'z']
    with pytest.raises(PointCloudError, match=r"lacks single-element field\(s\) \['z'\]"):
        decode_pointcloud(no_z)
    short = _foreign_cloud(np.zeros((4, 3)), np.zeros(4))
    short.data = short.data[:-20]
    with pytest.raises(PointCloudError, match='data has 124 bytes, expected height 2 x row_step 72'):
        decode_pointcloud(short)
    outside = _foreign_cloud(np.zeros((4, 3)), np.zeros(4))
    outside.fields[3].offset = 31
    with pytest.raises(PointCloudError, match="field 'intensity' .offset 31.*does not fit point_step"):
        decode_pointcloud(outside)
    assert len(decode_pointcloud(good).points) == 4


def test_box_markers_round_trip_with_instance_ids():
    boxes = toy_frames(1)[0].boxes
    msg = _through_cdr(M.box_markers(boxes, 77, 'base_link'), C.MARKER_ARRAY)
    assert msg.markers[0].action == 3  # DELETEALL first, so old boxes vanish in rviz
    assert [m.text for m in msg.markers[1:]] == list(boxes.instance_ids)
    assert [m.ns for m in msg.markers[1:]] == ['car', 'pedestrian']
    back = M.boxes_from_markers(msg)
    np.testing.assert_allclose(back.poses, boxes.poses, atol=1e-12)
    np.testing.assert_array_equal(back.sizes, boxes.sizes)
    np.testing.assert_array_equal(back.class_ids, boxes.class_ids)
    assert list(back.instance_ids) == list(boxes.instance_ids)


def test_camera_info_and_transforms_round_trip():
    info = _through_cdr(M.camera_info(K, 64, 48, 9, 'cam_front'), C.CAMERA_INFO)
    assert (info.width, info.height, info.distortion_model) == (64, 48, 'plumb_bob')
    np.testing.assert_array_equal(M.intrinsics_from_camera_info(info), K)
    assert info.p.reshape(3, 4)[:, 3].tolist() == [0, 0, 0]
    info.k = np.zeros(9)
    with pytest.raises(ValueError, match='no usable K'):
        M.intrinsics_from_camera_info(info)
    pose = make_transform([1.0, -2.0, 3.5], [0.9, 0.1, -0.3, 0.2])
    tf = _through_cdr(M.tf_message([M.transform_stamped(pose, 2_500_000_001, 'world', 'base_link')]), C.TF_MESSAGE)
    stamped = tf.transforms[0]
    assert (stamped.header.stamp.sec, stamped.header.stamp.nanosec) == (2, 500_000_001)
    np.testing.assert_allclose(M.transform_to_matrix(stamped.transform), pose, atol=1e-15)


def test_odometry_twist_matches_the_motion():
    before, after = yaw_transform(0, 0, 0, 0.0), yaw_transform(1.0, 0, 0, 0.1)
    linear, angular = M.ego_twist(before, after, 0.5)
    np.testing.assert_allclose(angular, [0, 0, 0.2], atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(linear), 2.0, atol=1e-12)
    odom = _through_cdr(M.odometry(after, 10, linear, angular, 'world', 'base_link'), C.ODOMETRY)
    np.testing.assert_allclose(M.pose_to_matrix(odom.pose.pose), after, atol=1e-15)
    assert odom.twist.twist.angular.z == pytest.approx(0.2)
    assert M.ego_twist(None, after, 0.5)[0].tolist() == [0, 0, 0]


def test_pose_track_exact_interpolated_and_out_of_range():
    track = PoseTrack(extrapolation_ns=50)
    stamps = [0, 1000, 2000]
    for s in stamps:
        track.add(s, ego_pose(s * 1_000_000 + 1_700_000_000_000_000_000))
    assert track.at(1000) is not None and np.array_equal(track.at(1000), track._poses[1000])
    middle = track.at(1500)
    expected_position = (track.at(1000)[:3, 3] + track.at(2000)[:3, 3]) / 2
    np.testing.assert_allclose(middle[:3, 3], expected_position, atol=1e-12)
    yaw = lambda m: np.arctan2(m[1, 0], m[0, 0])  # noqa: E731
    assert yaw(middle) == pytest.approx((yaw(track.at(1000)) + yaw(track.at(2000))) / 2, abs=1e-12)
    np.testing.assert_array_equal(track.at(2040), track.at(2000))
    with pytest.raises(PoseLookupError, match='outside the poses'):
        track.at(2100)
    with pytest.raises(PoseLookupError):
        PoseTrack().at(0)


def test_camera_sync_policies():
    scans = [0, 50, 100, 150]  # ms, LiDAR at 20 Hz
    images = {'CAM_FRONT': [58, 140], 'CAM_BACK': [92, 95, 400]}  # ms
    ms = 1_000_000
    report = Counter()
    nearest = assign_images([s * ms for s in scans], {k: [v * ms for v in vs] for k, vs in images.items()},
                            'nearest', 30 * ms, report)
    assert nearest == {1: {'CAM_FRONT': 58 * ms}, 3: {'CAM_FRONT': 140 * ms}, 2: {'CAM_BACK': 95 * ms}}
    assert report == Counter({'surplus images': 1, 'images without a scan': 1})
    # nuScenes with sweeps: keyframe scan at 100 ms between sweeps 50 ms apart; its images lie in
    # (-50, 0] ms before it (plus jitter), so they belong to the first scan at or after them
    images = {'CAM_FRONT_LEFT': [57_600_000], 'CAM_BACK_LEFT': [100_164_000], 'CAM_BACK': [90_000_000]}
    sweep = assign_images([s * ms for s in scans], images, 'sweep', 45 * ms, Counter())
    assert sweep == {2: {'CAM_FRONT_LEFT': 57_600_000, 'CAM_BACK_LEFT': 100_164_000, 'CAM_BACK': 90_000_000}}
    nearest = assign_images([s * ms for s in scans], images, 'nearest', 45 * ms, Counter())
    assert nearest[1] == {'CAM_FRONT_LEFT': 57_600_000}  # why 'sweep' exists
    with pytest.raises(ValueError, match='sync policy'):
        assign_images([0], {}, 'closest', 1, Counter())


def test_camera_mount_folds_ego_motion_consistently():
    frame = toy_frames(1)[0]
    cam = frame.cameras[0]
    # what the writer puts on /tf at the camera stamp must be the ego pose at that stamp
    from bag_test_frames import CAMERA_MOUNT

    recovered = compose(frame.ego_to_world, cam.cam_to_ego, invert(CAMERA_MOUNT))
    np.testing.assert_allclose(recovered, ego_pose(cam.timestamp_ns), atol=1e-9)


def test_transform_tree_composes_chains_to_the_root():
    from loc_core.geometry.pose_track import TransformTree

    tree = TransformTree()
    map_to_odom = make_transform([10.0, -5.0, 0.0], [0.96592583, 0.0, 0.0, 0.25881905])
    tree.add_static('map', 'odom', map_to_odom)
    for stamp in (0, 100):
        tree.add('odom', 'base_link', stamp, ego_pose(T0 + stamp))
    tree.add('world', 'base_link', 50, np.eye(4))  # a second parent: ignored, counted
    assert tree.chain('base_link') == ['base_link', 'odom', 'map'] and tree.conflicts == 1
    np.testing.assert_allclose(tree.to_root('base_link', 100), map_to_odom @ ego_pose(T0 + 100), atol=1e-12)
    assert 'base_link' in tree and 'map' not in tree
    with pytest.raises(PoseLookupError):
        tree.to_root('base_link', 10**12)
    tree.add_static('base_link', 'map', np.eye(4))
    with pytest.raises(PoseLookupError, match='cycle'):
        tree.chain('odom')


def test_transform_tree_looks_up_between_siblings_and_names_unconnected_frames():
    from bag_test_frames import CAMERA_MOUNT, LIDAR_MOUNT

    from loc_core.geometry.pose_track import TransformTree

    tree = TransformTree()
    tree.add_static('base_link', 'lidar_top', LIDAR_MOUNT)
    tree.add_static('base_link', 'cam_front', CAMERA_MOUNT)
    np.testing.assert_allclose(tree.lookup('lidar_top', 'base_link'), LIDAR_MOUNT)
    np.testing.assert_allclose(tree.lookup('base_link', 'cam_front'), invert(CAMERA_MOUNT), atol=1e-12)
    np.testing.assert_allclose(tree.lookup('cam_front', 'lidar_top'), invert(LIDAR_MOUNT) @ CAMERA_MOUNT, atol=1e-12)
    np.testing.assert_allclose(tree.lookup('lidar_top', 'lidar_top'), np.eye(4))
    with pytest.raises(PoseLookupError, match="no transform from 'radar' to 'base_link'.*known frames"):
        tree.lookup('radar', 'base_link')
