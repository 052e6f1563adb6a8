"""`loc-bag frames` on bags we did not write: a user's recording with its own topic and frame
names, a driver's cloud layout, poses only on /odom at another rate, cameras firing after the
LiDAR, one malformed message; plus our own bags of a known toy rig, and damaged inputs."""
import shutil
import struct

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from bag_test_frames import CAMERA_MOUNT, K, LIDAR_MOUNT, T0_NS, ego_pose, toy_calibration, toy_frames
from loc_core.data.calibration import CalibrationError, CameraCalibration, RigCalibration, save_calibration
from loc_core.geometry.transforms import compose, invert
from rosbags_tools import conventions as C
from rosbags_tools import messages as M
from rosbags_tools.bag_access import BagError
from rosbags_tools.cli import main
from rosbags_tools.images import encode_jpeg
from rosbags_tools.reader import BagFrameSource
from rosbags_tools.writer import write_frames_to_bag

SCANS, SCAN_PERIOD_NS, CAMERA_DELAY_NS, ODOM_PERIOD_NS = 6, 100_000_000, 30_000_000, 20_000_000


def _driver_cloud(points, intensity, ring, stamp):
    """x y z intensity (float32), ring (uint16), time (float32), padded to 24 bytes a point."""
    dtype = np.dtype({'names': ['x', 'y', 'z', 'intensity', 'ring', 'time'],
                      'formats': ['<f4', '<f4', '<f4', '<f4', '<u2', '<f4'],
                      'offsets': [0, 4, 8, 12, 16, 18], 'itemsize': 24})
    rec = np.zeros(len(points), dtype)
    rec['x'], rec['y'], rec['z'] = points.T
    rec['intensity'], rec['ring'] = intensity, ring
    types = C.typestore().types
    field = types['sensor_msgs/msg/PointField']
    fields = [field(name=n, offset=o, datatype=d, count=1) for n, o, d in
              (('x', 0, 7), ('y', 4, 7), ('z', 8, 7), ('intensity', 12, 7), ('ring', 16, 4), ('time', 18, 7))]
    return types[C.POINTCLOUD2](header=M.header(stamp, 'velodyne'), height=1, width=len(rec), fields=fields,
                                is_bigendian=False, point_step=24, row_step=24 * len(rec),
                                data=rec.view(np.uint8).reshape(-1), is_dense=True)


def _user_calibration() -> RigCalibration:
    cam = CameraCalibration(name='front', frame_id='camera_optical', image_topic='/camera/image_raw/compressed',
                            info_topic='/camera/camera_info', width=64, height=48, intrinsics=K,
                            cam_to_base=CAMERA_MOUNT)
    return RigCalibration(base_frame='base_footprint', lidar_frame='velodyne', lidar_topic='/velodyne_points',
                          lidar_to_base=LIDAR_MOUNT, cameras=[cam])


@pytest.fixture(scope='module')
def user_bag(tmp_path_factory):
    """Written with rosbags directly (sqlite3), as another recorder would; returns (bag, yaml, truth)."""
    root = tmp_path_factory.mktemp('user')
    bag, store, rng = root / 'drive', C.typestore(), np.random.default_rng(7)
    truth = []
    with Writer(bag, version=8, storage_plugin=StoragePlugin.SQLITE3) as writer:
        conn = {topic: writer.add_connection(topic, msgtype, typestore=store) for topic, msgtype in (
            ('/velodyne_points', C.POINTCLOUD2), ('/camera/image_raw/compressed', C.COMPRESSED_IMAGE),
            ('/camera/camera_info', C.CAMERA_INFO), ('/wheel_odom', C.ODOMETRY))}

        def put(topic, stamp, msg):
            writer.write(conn[topic], stamp, store.serialize_cdr(msg, conn[topic].msgtype))

        for k in range(SCANS * SCAN_PERIOD_NS // ODOM_PERIOD_NS + 1):
            stamp = T0_NS + k * ODOM_PERIOD_NS
            put('/wheel_odom', stamp, M.odometry(ego_pose(stamp), stamp, np.zeros(3), np.zeros(3), 'odom',
                                                 'base_footprint'))
        for k in range(SCANS):
            stamp, cam_stamp = T0_NS + k * SCAN_PERIOD_NS, T0_NS + k * SCAN_PERIOD_NS + CAMERA_DELAY_NS
            points = rng.normal(0, 10, (300, 3)).astype(np.float32)
            intensity = rng.uniform(0, 100, 300).astype(np.float32)
            ring = rng.integers(0, 64, 300)
            jpeg = encode_jpeg(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
            put('/velodyne_points', stamp, _driver_cloud(points, intensity, ring, stamp))
            put('/camera/image_raw/compressed', cam_stamp, M.compressed_image(jpeg, cam_stamp, 'camera_optical'))
            put('/camera/camera_info', cam_stamp, M.camera_info(K, 64, 48, cam_stamp, 'camera_optical'))
            truth.append((stamp, cam_stamp, points, intensity, ring, jpeg))
        garbage_stamp = T0_NS + SCANS * SCAN_PERIOD_NS
        sec, nanosec = divmod(garbage_stamp, 1_000_000_000)  # a valid header stamp, then junk
        junk = b'\x00\x01\x00\x00' + struct.pack('<iI', sec, nanosec) + b'\xff' * 40
        writer.write(conn['/velodyne_points'], garbage_stamp, junk)
        writer.write(conn['/camera/image_raw/compressed'], garbage_stamp, junk)
        writer.write(conn['/velodyne_points'], garbage_stamp + 1, b'\x00\x01')  # too short for a header
    calibration = root / 'rig.yaml'
    save_calibration(calibration, _user_calibration())
    return bag, calibration, truth


def test_a_users_bag_reads_back_with_its_calibration(user_bag):
    bag, calibration, truth = user_bag
    source = BagFrameSource(bag, calibration=calibration, odom_topic='/wheel_odom')
    frames = list(source)
    assert len(frames) == SCANS
    assert source.report == {'unreadable clouds': 1, 'malformed /velodyne_points': 1,  # malformed messages,
                             'malformed /camera/image_raw/compressed': 1}  # counted, never fatal
    for frame, (stamp, cam_stamp, points, intensity, ring, jpeg) in zip(frames, truth):
        assert frame.timestamp_ns == stamp
        assert frame.points.tobytes() == points.tobytes() and frame.intensity.tobytes() == intensity.tobytes()
        np.testing.assert_array_equal(frame.ring, ring)
        np.testing.assert_allclose(frame.lidar_to_ego, LIDAR_MOUNT, atol=1e-12)
        np.testing.assert_allclose(frame.ego_to_world, ego_pose(stamp), atol=1e-12)  # odom stamp hit exactly
        (cam,) = frame.cameras  # the camera 30 ms after the scan joins that scan (nearest)
        assert cam.name == 'front' and cam.timestamp_ns == cam_stamp and cam.jpeg == jpeg
        assert cam.image.shape == (48, 64, 3)
        # odom at 50 Hz: the pose at the camera stamp is interpolated between two odom samples
        expected = compose(invert(ego_pose(stamp)), ego_pose(cam_stamp), CAMERA_MOUNT)
        np.testing.assert_allclose(cam.cam_to_ego, expected, atol=1e-4)
        assert frame.boxes is None and frame.is_keyframe


def test_our_toy_bag_round_trips(tmp_path):
    frames = toy_frames(4)
    out = tmp_path / 'toy'
    report = write_frames_to_bag(frames, toy_calibration(), out, storage='sqlite3', progress=False)
    assert report.frames == 4 and report.messages['/tf'] == 8  # scan stamps + the earlier camera stamps
    back = list(BagFrameSource(out))
    assert len(back) == 4
    for got, want in zip(back, frames):
        assert got.points.tobytes() == want.points.tobytes() and np.array_equal(got.ring, want.ring)
        np.testing.assert_allclose(got.cameras[0].cam_to_ego, want.cameras[0].cam_to_ego, atol=1e-9)
        assert np.abs(got.cameras[0].image.astype(int) - want.cameras[0].image).mean() < 3  # re-encoded JPEG
        np.testing.assert_allclose(got.boxes.poses, want.boxes.poses, atol=1e-12)


def test_missing_or_wrong_calibration_and_topics_are_clear_errors(user_bag, tmp_path, capsys):
    bag, calibration, _ = user_bag
    with pytest.raises(BagError, match='no calibration.yaml; pass the rig calibration YAML'):
        BagFrameSource(bag)
    with pytest.raises(CalibrationError, match='not found'):
        BagFrameSource(bag, calibration=tmp_path / 'missing.yaml')
    with pytest.raises(BagError, match="has no topic /lidar_top/points; it has .*'/velodyne_points'"):
        list(BagFrameSource(bag, calibration=toy_calibration()))
    assert main(['frames', str(bag)]) == 2
    assert 'pass the rig calibration YAML (--calibration)' in capsys.readouterr().err


def test_truncated_or_missing_bag_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / 'toy'
    write_frames_to_bag(toy_frames(2), toy_calibration(), out, progress=False)
    damaged = tmp_path / 'damaged'
    shutil.copytree(out, damaged)
    (storage,) = damaged.glob('*.mcap')
    storage.write_bytes(storage.read_bytes()[:-100])
    with pytest.raises(BagError, match='cannot open bag .*truncated'):
        list(BagFrameSource(damaged))
    assert main(['frames', str(damaged)]) == 2
    assert main(['frames', str(tmp_path / 'nothing')]) == 2
    err = capsys.readouterr().err
    assert 'truncated or not a ROS 2 bag' in err and 'nothing' in err


def test_empty_and_non_finite_clouds_are_counted_drops(tmp_path):
    frames = toy_frames(3)
    frames[1].points, frames[1].intensity, frames[1].ring = np.zeros((0, 3)), np.zeros(0), np.zeros(0, np.uint8)
    frames[2].points[[3, 9]] = np.nan
    out = tmp_path / 'toy'
    write_frames_to_bag(frames, toy_calibration(), out, progress=False)
    source = BagFrameSource(out, decode_images=False)
    back = list(source)
    assert [f.timestamp_ns for f in back] == [frames[0].timestamp_ns, frames[2].timestamp_ns]
    assert source.report == {'empty clouds': 1, 'non-finite points': 2}
    assert len(back[1].points) == len(frames[2].points) - 2 and np.isfinite(back[1].points).all()
    np.testing.assert_array_equal(back[1].ring, np.delete(frames[2].ring, [3, 9]))


def _raw_image(rgb, stamp, encoding='bgr8', pad=4):
    """sensor_msgs/Image with `pad` bytes of padding at the end of every row."""
    height, width, _ = rgb.shape
    pixels = rgb[..., ::-1] if encoding == 'bgr8' else rgb
    rows = np.concatenate([pixels.reshape(height, -1), np.zeros((height, pad), np.uint8)], axis=1)
    return C.typestore().types['sensor_msgs/msg/Image'](
        header=M.header(stamp, 'camera_optical'), height=height, width=width, encoding=encoding,
        is_bigendian=0, step=rows.shape[1], data=rows.reshape(-1))


def test_raw_image_topics_and_bad_encodings(tmp_path):
    from rosbags_tools.pointcloud import encode_pointcloud

    store, frames = C.typestore(), toy_frames(2)
    calibration = _user_calibration()
    calibration.cameras[0].image_topic = '/camera/image_raw'
    bag = tmp_path / 'raw'
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        lidar = writer.add_connection('/velodyne_points', C.POINTCLOUD2, typestore=store)
        camera = writer.add_connection('/camera/image_raw', 'sensor_msgs/msg/Image', typestore=store)
        for frame, encoding in zip(frames, ('bgr8', '16UC1')):
            stamp = frame.timestamp_ns
            cloud = encode_pointcloud(frame.points, frame.intensity, frame.ring, stamp, 'velodyne')
            writer.write(lidar, stamp, store.serialize_cdr(cloud, C.POINTCLOUD2))
            image = _raw_image(frame.cameras[0].image, stamp, encoding)
            writer.write(camera, stamp, store.serialize_cdr(image, 'sensor_msgs/msg/Image'))
    source = BagFrameSource(bag, calibration=calibration)
    first, second = list(source)
    (cam,) = first.cameras
    np.testing.assert_array_equal(cam.image, frames[0].cameras[0].image)  # exact: no compression
    assert cam.jpeg is None and cam.intrinsics.tolist() == K.tolist()  # no camera_info: K from the YAML
    np.testing.assert_allclose(cam.cam_to_ego, CAMERA_MOUNT, atol=1e-12)  # no poses: a static rig
    np.testing.assert_array_equal(first.ego_to_world, np.eye(4))
    assert second.cameras == [] and not second.is_keyframe
    assert source.report == {'no ego poses': 1, 'cameras left out': 1}


def test_ego_pose_through_a_users_tf_chain(tmp_path):
    """map -> odom on /tf_static, odom -> base_footprint on /tf at 50 Hz: ego_to_world is their chain."""
    from loc_core.geometry.transforms import make_transform
    from rosbags_tools.pointcloud import encode_pointcloud

    store, frames = C.typestore(), toy_frames(3)
    map_to_odom = make_transform([3.0, 4.0, 0.0], [0.9238795, 0.0, 0.0, 0.3826834])
    bag = tmp_path / 'tf'
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        lidar = writer.add_connection('/velodyne_points', C.POINTCLOUD2, typestore=store)
        tf = writer.add_connection('/tf', C.TF_MESSAGE, typestore=store)
        tf_static = writer.add_connection('/tf_static', C.TF_MESSAGE, typestore=store)
        static = M.tf_message([M.transform_stamped(map_to_odom, T0_NS, 'map', 'odom')])
        writer.write(tf_static, T0_NS, store.serialize_cdr(static, C.TF_MESSAGE))
        for k in range(16):
            stamp = T0_NS + k * ODOM_PERIOD_NS
            msg = M.tf_message([M.transform_stamped(ego_pose(stamp), stamp, 'odom', 'base_footprint')])
            writer.write(tf, stamp, store.serialize_cdr(msg, C.TF_MESSAGE))
        for frame in frames:
            cloud = encode_pointcloud(frame.points, frame.intensity, frame.ring, frame.timestamp_ns, 'velodyne')
            writer.write(lidar, frame.timestamp_ns, store.serialize_cdr(cloud, C.POINTCLOUD2))
    calibration = _user_calibration()
    calibration.cameras = []
    source = BagFrameSource(bag, calibration=calibration)
    back = list(source)
    assert len(back) == 3 and not source.report
    for got, want in zip(back, frames):
        np.testing.assert_allclose(got.ego_to_world, map_to_odom @ ego_pose(want.timestamp_ns), atol=1e-6)
        assert got.is_keyframe  # a rig without cameras: every scan is a keyframe


def test_no_frames_or_unknown_storage_write_nothing(tmp_path):
    with pytest.raises(ValueError, match='no frames to write'):
        write_frames_to_bag([], toy_calibration(), tmp_path / 'empty', progress=False)
    with pytest.raises(ValueError, match="unknown storage 'bag1'"):
        write_frames_to_bag(toy_frames(1), toy_calibration(), tmp_path / 'x', storage='bag1', progress=False)
    assert list(tmp_path.iterdir()) == []
