"""nuscenes2bag on the shared scene-0916: an independent reader (mcap + mcap-ros2-support) decodes
every message, the TF chain matches the devkit, the bag reads back to the same Frames as
NuScenesSource, and bad input never leaves partial output."""
import os
from collections import defaultdict

import numpy as np
import pytest
from pyquaternion import Quaternion

from loc_core.data.calibration import load_calibration
from loc_core.data.nuscenes_source import CAMERA_NAMES, NuScenesSource
from rosbags_tools.cli import main
from rosbags_tools.nuscenes2bag import nuscenes_calibration, nuscenes_to_bag
from rosbags_tools.output import OutputExistsError
from rosbags_tools.reader import BagFrameSource
from rosbags_tools.writer import write_frames_to_bag

pytestmark = pytest.mark.sample_data
SCENE = 'scene-0916'
CAMERA_TOPICS = {f'/{c.lower()}/image_rect/compressed' for c in CAMERA_NAMES}


@pytest.fixture(scope='module')
def scene_bag(tmp_path_factory, nuscenes_dataroot, nuscenes_source):
    out = tmp_path_factory.mktemp('bags') / 'scene0916'
    report = nuscenes_to_bag(nuscenes_dataroot, 'v1.0-mini', SCENE, out, progress=False, nusc=nuscenes_source.nusc)
    return out, report


@pytest.fixture(scope='module')
def decoded(scene_bag):
    """Every message of the bag as the independent mcap reader decodes it: topic -> [(log_time, msg)]."""
    from mcap_ros2.reader import read_ros2_messages

    (mcap_file,) = scene_bag[0].glob('*.mcap')
    topics = defaultdict(list)
    for message in read_ros2_messages(str(mcap_file)):
        topics[message.channel.topic].append((message.log_time_ns, message.ros_msg))
    return topics


def _stamp(msg) -> int:
    header = msg.transforms[0].header if hasattr(msg, 'transforms') else \
        msg.markers[0].header if hasattr(msg, 'markers') else msg.header
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def test_all_keyframes_written_and_missing_sweeps_reported(scene_bag, nuscenes_source):
    out, report = scene_bag
    assert report.frames == 41
    for topic in ['/lidar_top/points', '/odom', '/annotations/markers', *CAMERA_TOPICS]:
        assert report.messages[topic] == 41, topic
    assert report.messages['/tf_static'] == 1
    assert report.source['missing sweep blobs'] == 2705 and report.source['missing keyframe blobs'] == 0
    assert 'missing sweep blobs: 2705' in report.summary()
    assert not report.dropped and report.source['skipped while converting'] == {}
    assert sorted(p.name for p in out.iterdir()) == ['calibration.yaml', 'metadata.yaml', 'scene0916.mcap']
    assert (out / 'calibration.yaml').stat().st_mode & 0o777 == 0o644


def test_independent_reader_decodes_every_message_in_order(scene_bag, decoded):
    _, report = scene_bag
    assert sum(len(v) for v in decoded.values()) == sum(report.messages.values())
    assert {t: len(v) for t, v in decoded.items()} == dict(report.messages)
    for topic, messages in decoded.items():
        stamps = [_stamp(msg) for _, msg in messages]
        assert all(a < b for a, b in zip(stamps, stamps[1:])), f'{topic} stamps not increasing'
        assert [t for t, _ in messages] == stamps, f'{topic}: log time differs from header stamp'


def test_frame_ids_are_consistent(decoded):
    frame_ids = defaultdict(set)
    for topic, messages in decoded.items():
        for _, msg in messages:
            if hasattr(msg, 'transforms'):
                frame_ids[topic] |= {(t.header.frame_id, t.child_frame_id) for t in msg.transforms}
            elif hasattr(msg, 'markers'):
                frame_ids[topic] |= {m.header.frame_id for m in msg.markers}
            else:
                frame_ids[topic].add(msg.header.frame_id)
    assert frame_ids['/tf'] == {('world', 'base_link')}
    assert frame_ids['/tf_static'] == {('base_link', 'lidar_top')} | {('base_link', c.lower()) for c in CAMERA_NAMES}
    assert frame_ids['/lidar_top/points'] == {'lidar_top'} and frame_ids['/annotations/markers'] == {'base_link'}
    for cam in CAMERA_NAMES:
        name = cam.lower()
        assert frame_ids[f'/{name}/image_rect/compressed'] == frame_ids[f'/{name}/camera_info'] == {name}
    assert {m.child_frame_id for _, m in decoded['/odom']} == {'base_link'}


def _matrix(translation, q_wxyz) -> np.ndarray:
    out = Quaternion(q_wxyz).transformation_matrix
    out[:3, 3] = translation
    return out


def _tf_matrix(transform) -> np.ndarray:
    r, t = transform.rotation, transform.translation
    return _matrix([t.x, t.y, t.z], [r.w, r.x, r.y, r.z])


def test_tf_chain_lidar_to_camera_matches_devkit(decoded, nuscenes_source):
    nusc = nuscenes_source.nusc
    static = {t.child_frame_id: _tf_matrix(t.transform) for t in decoded['/tf_static'][0][1].transforms}
    ego = {_stamp(msg): _tf_matrix(msg.transforms[0].transform) for _, msg in decoded['/tf']}
    checked = 0
    for token in nuscenes_source.sample_tokens():
        sample = nusc.get('sample', token)
        lidar_sd = nusc.get('sample_data', sample['data']['LIDAR_TOP'])
        for cam in CAMERA_NAMES:
            cam_sd = nusc.get('sample_data', sample['data'][cam])

            def devkit(sd):
                calib = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
                pose = nusc.get('ego_pose', sd['ego_pose_token'])
                return _matrix(calib['translation'], calib['rotation']), _matrix(pose['translation'], pose['rotation'])

            (lidar_mount, lidar_ego), (cam_mount, cam_ego) = devkit(lidar_sd), devkit(cam_sd)
            expected = np.linalg.inv(cam_ego @ cam_mount) @ lidar_ego @ lidar_mount
            via_tf = (np.linalg.inv(ego[cam_sd['timestamp'] * 1000] @ static[cam.lower()])
                      @ ego[lidar_sd['timestamp'] * 1000] @ static['lidar_top'])
            np.testing.assert_allclose(via_tf, expected, atol=1e-6)
            checked += 1
    assert checked == 41 * 6


def test_round_trip_gives_back_the_nuscenes_frames(scene_bag, nuscenes_dataroot, nuscenes_source):
    out, _ = scene_bag
    expected = list(NuScenesSource(nuscenes_dataroot, scene=SCENE, load_images=False, nusc=nuscenes_source.nusc))
    source = BagFrameSource(out, decode_images=False)
    frames = list(source)
    assert len(frames) == len(expected) == 41 and not source.report
    for got, want in zip(frames, expected):
        assert got.timestamp_ns == want.timestamp_ns and got.is_keyframe
        assert got.points.tobytes() == want.points.tobytes()
        assert got.intensity.tobytes() == want.intensity.tobytes() and np.array_equal(got.ring, want.ring)
        np.testing.assert_allclose(got.ego_to_world, want.ego_to_world, atol=1e-9)
        np.testing.assert_allclose(got.lidar_to_ego, want.lidar_to_ego, atol=1e-12)
        assert got.camera_names == want.camera_names
        for g, w in zip(got.cameras, want.cameras):
            assert g.jpeg == w.jpeg and g.timestamp_ns == w.timestamp_ns and g.image_size == w.image_size
            np.testing.assert_array_equal(g.intrinsics, w.intrinsics)
            np.testing.assert_allclose(g.cam_to_ego, w.cam_to_ego, atol=1e-9)
        assert list(got.boxes.instance_ids) == list(want.boxes.instance_ids)
        np.testing.assert_array_equal(got.boxes.class_ids, want.boxes.class_ids)
        np.testing.assert_allclose(got.boxes.poses, want.boxes.poses, atol=1e-9)
        np.testing.assert_allclose(got.boxes.sizes, want.boxes.sizes, atol=1e-12)
    with_images = next(iter(BagFrameSource(out)))
    assert with_images.cameras[0].image.shape == (900, 1600, 3) and with_images.cameras[0].image.any()


def test_calibration_yaml_beside_the_bag_is_the_devkit_rig(scene_bag, nuscenes_source):
    out, _ = scene_bag
    loaded, expected = load_calibration(out / 'calibration.yaml'), nuscenes_calibration(nuscenes_source)
    assert [c.name for c in loaded.cameras] == list(CAMERA_NAMES)
    assert (loaded.base_frame, loaded.lidar_frame, loaded.lidar_topic) == ('base_link', 'lidar_top', '/lidar_top/points')
    np.testing.assert_allclose(loaded.lidar_to_base, expected.lidar_to_base, atol=1e-12)
    for got, want in zip(loaded.cameras, expected.cameras):
        assert (got.image_topic, got.info_topic, got.width, got.height) == \
            (want.image_topic, want.info_topic, 1600, 900)
        np.testing.assert_array_equal(got.intrinsics, want.intrinsics)
        np.testing.assert_allclose(got.cam_to_base, want.cam_to_base, atol=1e-12)


def test_cli_frames_reads_the_bag(scene_bag, capsys):
    assert main(['frames', str(scene_bag[0]), '--no-images']) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith('41 frames') and len(lines) == 42 and 'cameras=6' in lines[0]


def test_sqlite3_with_sweeps_counts_the_missing_sweeps(tmp_path, nuscenes_dataroot, nuscenes_source):
    out = tmp_path / 'sweeps'
    report = nuscenes_to_bag(nuscenes_dataroot, 'v1.0-mini', SCENE, out, storage='sqlite3', with_sweeps=True,
                             progress=False, nusc=nuscenes_source.nusc)
    assert list(out.glob('*.db3')) and report.frames == 41
    assert report.source['skipped while converting'] == {'missing_sweeps': 358}
    assert report.source['missing sweep blobs'] == 2705
    assert sum(1 for _ in BagFrameSource(out, decode_images=False)) == 41


def _no_partial_left(parent):
    return not [p for p in parent.iterdir() if '.partial-' in p.name]


def test_existing_output_needs_force(scene_bag, nuscenes_dataroot, tmp_path, capsys):
    out, _ = scene_bag
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with pytest.raises(OutputExistsError, match='--force'):
        nuscenes_to_bag(nuscenes_dataroot, 'v1.0-mini', SCENE, out, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    target = tmp_path / 'old'
    target.mkdir()
    (target / 'stale.txt').write_text('old run')
    args = ['nuscenes2bag', '--dataroot', str(nuscenes_dataroot), '--out', str(target), '--no-progress']
    assert main(args) == 2 and 'exists already' in capsys.readouterr().err
    assert main(args + ['--force']) == 0
    assert not (target / 'stale.txt').exists() and (target / 'calibration.yaml').is_file()
    assert _no_partial_left(tmp_path)


@pytest.mark.parametrize('args, message', [
    (['--dataroot', '/nonexistent/nuscenes'], 'no nuScenes tables'),
    (['--scene', 'scene-9999'], "unknown scene 'scene-9999'"),
    (['--version', 'v1.0-trainval'], 'no nuScenes tables'),
])
def test_wrong_dataroot_or_scene_is_a_clear_error(args, message, nuscenes_dataroot, tmp_path, capsys):
    out = tmp_path / 'bag'
    base = ['nuscenes2bag', '--dataroot', str(nuscenes_dataroot), '--out', str(out), '--no-progress']
    assert main(base + args) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and _no_partial_left(tmp_path)


def _dataroot_with_corrupt_blobs(src, dst, nusc):
    """A copy of the dataroot made of symlinks, except one truncated LiDAR blob and one truncated JPEG."""
    dst.mkdir()
    (dst / 'v1.0-mini').symlink_to(src / 'v1.0-mini')
    for folder in (src / 'samples').iterdir():
        (dst / 'samples' / folder.name).mkdir(parents=True)
        for blob in folder.iterdir():
            (dst / 'samples' / folder.name / blob.name).symlink_to(blob)
    sample = nusc.get('sample', nusc.scene[0]['first_sample_token'])
    lidar = nusc.get('sample_data', sample['data']['LIDAR_TOP'])['filename']
    second = nusc.get('sample', sample['next'])
    image = nusc.get('sample_data', second['data']['CAM_FRONT'])['filename']
    for name, keep in ((lidar, 1001), (image, 5000)):
        (dst / name).unlink()
        (dst / name).write_bytes((src / name).read_bytes()[:keep])


def test_corrupt_blobs_are_counted_not_fatal(tmp_path, nuscenes_dataroot, nuscenes_source):
    root = tmp_path / 'root'
    _dataroot_with_corrupt_blobs(nuscenes_dataroot, root, nuscenes_source.nusc)
    out = tmp_path / 'bag'
    report = nuscenes_to_bag(root, 'v1.0-mini', SCENE, out, progress=False, nusc=nuscenes_source.nusc)
    assert report.frames == 40 and report.source['skipped while converting'] == {'skipped_keyframes': 1}
    assert report.dropped == {'corrupt_images': 1}
    assert report.messages['/cam_front/image_rect/compressed'] == 39
    assert report.messages['/cam_front_left/image_rect/compressed'] == 40


@pytest.mark.parametrize('failure', [OSError('disk went away'), KeyboardInterrupt()])
def test_a_failure_mid_write_leaves_nothing(failure, tmp_path, nuscenes_source):
    def frames():
        source = iter(NuScenesSource(nuscenes_source.dataroot, load_images=False, nusc=nuscenes_source.nusc))
        yield next(source)
        yield next(source)
        raise failure

    out = tmp_path / 'bag'
    with pytest.raises(type(failure)):
        write_frames_to_bag(frames(), nuscenes_calibration(nuscenes_source), out, progress=False)
    assert not out.exists() and os.listdir(tmp_path) == []
