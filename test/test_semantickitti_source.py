"""SemanticKITTI as a source, on the shared sample (`semantickitti-mini`, sequences 00-07, scans
0/3/6/9): poses that register static structure, the camera model against P2 @ Tr, the ego frame's
ground, the class table and clear errors for bad files."""
import shutil

import numpy as np
import pytest
from scipy.spatial import cKDTree

from loc_core.data.semantickitti_classes import SEMANTICKITTI_TO_OCC3D, decode_labels
from loc_core.data.semantickitti_files import SemanticKittiError, read_labels
from loc_core.data.semantickitti_source import SemanticKittiSource, parse_sequences, sequences_frames
from loc_core.data.vocabulary import NUM_SEMANTIC_CLASSES, UNLABELLED_ID, class_id
from loc_core.geometry.transforms import apply_transform

STATIC_STRUCTURE = (50, 51, 70, 71, 80)  # building, fence, vegetation, trunk, pole (raw ids)


@pytest.fixture(scope='module')
def sources(semantickitti_root):
    return {seq: SemanticKittiSource(semantickitti_root, seq, load_images=False) for seq in ('00', '03', '05', '07')}


def _raw(source, scan, frame):
    return read_labels(source.folder / 'labels' / f'{scan:06d}.label', len(frame.points)) & 0xFFFF


@pytest.mark.parametrize('sequence', ['00', '03', '05', '07'])
def test_poses_register_static_structure_of_scan_9_on_scan_0(sources, sequence):
    source = sources[sequence]
    first, last = source.frame(0), source.frame(9)
    mine0 = np.isin(_raw(source, 0, first), STATIC_STRUCTURE)
    mine9 = np.isin(_raw(source, 9, last), STATIC_STRUCTURE)
    tree = cKDTree(first.points_world()[mine0])
    registered = np.median(tree.query(last.points_world()[mine9])[0])
    # the same points placed with scan 0's pose: what a loader that ignored poses.txt would give
    unposed = np.median(tree.query(apply_transform(first.lidar_to_world, last.points[mine9].astype(np.float64)))[0])
    assert registered < 0.15, f'{sequence}: static points of scan 9 are {registered:.3f} m from scan 0\'s'
    assert unposed > 3 * registered and unposed > 0.3, (registered, unposed)


def test_camera_projection_equals_p2_tr(semantickitti_root):
    source = SemanticKittiSource(semantickitti_root, '07', scans=[9])
    frame = next(iter(source))
    camera = frame.camera('image_2')
    assert camera.image.shape == (370, 1226, 3) and camera.image.any()
    points = frame.points.astype(np.float64)
    homogeneous = np.column_stack([points, np.ones(len(points))])
    expected = (source.calibration['P2'] @ source.calibration['Tr'] @ homogeneous.T).T
    in_front = expected[:, 2] > 1.0
    expected = expected[in_front, :2] / expected[in_front, 2:]
    ego = apply_transform(frame.lidar_to_ego, points)  # float64 (points_ego() rounds to float32)
    in_camera = apply_transform(np.linalg.inv(camera.cam_to_ego), ego)[in_front]
    projected = (camera.intrinsics @ in_camera.T).T
    projected = projected[:, :2] / projected[:, 2:]
    assert in_front.sum() > 10000
    assert np.max(np.abs(projected - expected)) < 1e-3  # pixels
    # P2's translation column matters: dropping it moves points by pixels
    crude = (camera.intrinsics @ (source.calibration['Tr'] @ homogeneous.T)[:3]).T[in_front]
    assert np.median(np.abs(crude[:, 0] / crude[:, 2] - expected[:, 0])) > 1.0


@pytest.mark.parametrize('sequence', ['00', '07'])
def test_ego_ground_is_at_z_zero(sources, sequence):
    source = sources[sequence]
    height = source.lidar_to_ego[2, 3]
    assert 1.6 < height < 1.9  # the sensor sits about 1.73 m above the road
    for frame in source:
        ego = frame.points_ego()
        near_road = (frame.point_labels == class_id('driveable_surface')) & (np.linalg.norm(ego[:, :2], axis=1) < 15)
        assert near_road.sum() > 1000
        assert abs(np.median(ego[near_road, 2])) < 0.04, frame.token


def test_frame_fields(sources):
    source = sources['07']
    frame = source.frame(9)
    times = np.loadtxt(source.folder / 'times.txt')
    assert frame.token == '07_000009' and frame.scene == 'semantickitti-07'
    assert frame.timestamp_ns == int(round(times[9] * 1e9))
    assert frame.points.dtype == np.float32 and frame.points.shape[1] == 3
    assert len(frame.intensity) == len(frame.points) and 0 <= frame.intensity.min() and frame.intensity.max() <= 1
    raw = _raw(source, 9, frame)
    assert np.array_equal(frame.point_moving, raw == 254)  # 07/000009 has moving people only
    stuff = np.isin(raw, (40, 44, 48, 50, 70, 72))
    assert np.all(frame.point_instance_ids[stuff] == -1)
    cars = raw == 10
    assert np.all(frame.point_instance_ids[cars] > 10 * 65536)
    assert [f.token for f in source] == ['07_000000', '07_000003', '07_000006', '07_000009']
    several = list(sequences_frames(source.root, '05,07', load_images=False, with_camera=False))
    assert [f.scene for f in several] == ['semantickitti-05'] * 4 + ['semantickitti-07'] * 4


def test_class_table():
    names = {name: occ3d for name, occ3d, _ in SEMANTICKITTI_TO_OCC3D.values()}
    assert names['car'] == names['moving-car'] == class_id('car')
    assert names['road'] == names['parking'] == names['lane-marking'] == class_id('driveable_surface')
    assert names['building'] == names['pole'] == names['fence'] == class_id('manmade')
    assert names['trunk'] == names['vegetation'] == class_id('vegetation')
    assert names['unlabeled'] == names['outlier'] == UNLABELLED_ID
    assert all(v < NUM_SEMANTIC_CLASSES or v == UNLABELLED_ID for v in names.values())
    assert [raw for raw, row in SEMANTICKITTI_TO_OCC3D.items() if row[2]] == list(range(252, 260))
    values = np.array([10 | (7 << 16), 252 | (7 << 16), 254 | (3 << 16), 40 | (5 << 16), 10, 0, 1, 7], np.uint32)
    decoded = decode_labels(values)
    assert decoded['occ3d'].tolist() == [4, 4, 7, 11, 4, 255, 255, 255]
    assert decoded['moving'].tolist() == [False, True, True, False, False, False, False, False]
    assert decoded['instance'].tolist() == [10 * 65536 + 7, 252 * 65536 + 7, 254 * 65536 + 3, -1, -1, -1, -1, -1]
    assert decoded['unknown'].tolist() == [False] * 7 + [True]


def test_parse_sequences(semantickitti_root):
    assert parse_sequences('0-2,7') == ['00', '01', '02', '07']
    assert parse_sequences('all', semantickitti_root)[:2] == ['00', '01']
    with pytest.raises(SemanticKittiError, match='sequence'):
        parse_sequences('x7')


@pytest.fixture()
def copied_sequence(semantickitti_root, tmp_path):
    """Sequence 07 linked into a temporary root, labels copied so that a test can damage them."""
    source = semantickitti_root / 'sequences' / '07'
    target = tmp_path / 'sequences' / '07'
    target.mkdir(parents=True)
    for name in ('calib.txt', 'poses.txt', 'times.txt', 'velodyne', 'image_2'):
        (target / name).symlink_to(source / name)
    shutil.copytree(source / 'labels', target / 'labels')
    return tmp_path, target


def test_short_labels_file_is_a_clear_error(copied_sequence):
    root, folder = copied_sequence
    labels = folder / 'labels' / '000006.label'
    labels.write_bytes(labels.read_bytes()[:-40])
    with pytest.raises(SemanticKittiError, match=r'000006\.label holds \d+ labels for a scan of \d+ points'):
        list(SemanticKittiSource(root, '7', load_images=False))


def test_missing_files_are_clear_errors(copied_sequence, semantickitti_root):
    root, folder = copied_sequence
    (folder / 'labels' / '000003.label').unlink()
    with pytest.raises(SemanticKittiError, match=r'missing labels file .*000003\.label'):
        list(SemanticKittiSource(root, '07', load_images=False))
    with pytest.raises(SemanticKittiError, match=r'no velodyne file for scans \[4\]'):
        SemanticKittiSource(root, '07', scans=[4])
    with pytest.raises(SemanticKittiError, match='no SemanticKITTI sequence 11'):
        SemanticKittiSource(root, '11')
    (folder / 'poses.txt').unlink()
    with pytest.raises(SemanticKittiError, match='missing poses file'):
        SemanticKittiSource(root, '07')
