"""Real-data evaluation that cannot flatter: the raw-sweep baseline (the input sweep voxelised, no
network) scored by the network's scoring code, point mIoU over a dataset's mapped classes with the
points outside the grid counted, stuff classes scored where labels carry them, and
`loc-eval --semantickitti` end to end."""
import json

import numpy as np
import pytest

from loc_core.data.frame import Frame
from loc_core.data.occ3d_io import Occ3DLabels, save_occ3d_labels
from loc_core.data.vocabulary import OCC3D_CLASS_NAMES
from loc_core.evaluation.frame_scores import PromptSetScores
from loc_core.evaluation.point_metrics import PointMetrics, mapped_point_classes
from loc_core.evaluation.raw_sweep import OCCUPIED_ID, RawSweepBaseline, raw_sweep_semantics
from loc_core.geometry.voxel_grid import VoxelGrid

U = 255  # occupied but unlabelled
NAMES = list(OCC3D_CLASS_NAMES[:17])
ROW = VoxelGrid((0, 0, 0, 4, 1, 1), 1.0)  # four 1 m voxels along x


def row(*ids) -> np.ndarray:
    """A (4,1,1) uint8 grid along x."""
    return np.array(ids, np.uint8).reshape(4, 1, 1)


def frame_with(points_ego, occupancy=None, labels=None) -> Frame:
    """A frame whose LiDAR sits 0.5 m above the ego origin (the points are given in the ego frame)."""
    lidar_to_ego = np.eye(4)
    lidar_to_ego[2, 3] = 0.5
    points = np.asarray(points_ego, np.float32) - [0.0, 0.0, 0.5]
    return Frame(timestamp_ns=0, points=points, intensity=np.zeros(len(points), np.float32),
                 lidar_to_ego=lidar_to_ego, ego_to_world=np.eye(4), occupancy=occupancy,
                 point_labels=None if labels is None else np.asarray(labels, np.uint8), scene='hand-made', token='t')


def test_raw_sweep_by_hand():
    labels = Occ3DLabels(row(4, 17, U, 11), row(1, 1, 1, 1), row(1, 1, 0, 0))  # occupied: voxels 0, 2, 3
    first = frame_with([[0.5, 0.5, 0.5], [0.6, 0.2, 0.9], [2.5, 0.5, 0.5], [9.0, 0.5, 0.5]], labels)
    second = frame_with([[1.5, 0.5, 0.5], [3.5, 0.5, 0.5]], labels)
    assert raw_sweep_semantics(first, ROW).ravel().tolist() == [OCCUPIED_ID, 17, OCCUPIED_ID, 17]

    baseline = RawSweepBaseline(PromptSetScores())
    baseline(first, None, ROW)
    # first frame: mask_lidar tp 2 (voxels 0, 2), fn 1 (voxel 3); mask_camera (voxels 0, 1) tp 1
    assert baseline.last_record() == {'mask_camera': pytest.approx(100.0), 'mask_lidar': pytest.approx(200 / 3),
                                      'occupied_predicted': 2}
    baseline(second, None, ROW)
    report = baseline.summary()
    # both frames, mask_lidar: tp 3, fp 1 (voxel 1 of the second), fn 3 (0 and 2 of the second, 3 of the first)
    lidar = report['mask_lidar']
    assert lidar['geometry_iou'] == pytest.approx(300 / 7)
    assert lidar['geometry_precision'] == pytest.approx(75.0) and lidar['geometry_recall'] == pytest.approx(50.0)
    assert lidar['occupied_predicted_per_frame'] == 2.0 and lidar['occupied_labels_per_frame'] == 3.0
    # mask_camera (top level): tp 1, fp 1, fn 1
    assert report['geometry_iou'] == pytest.approx(100 / 3) and report['frames'] == 2
    assert report['geometry_precision'] == pytest.approx(50.0) and report['geometry_recall'] == pytest.approx(50.0)
    assert report['occupied_predicted_per_frame'] == 1.0 and report['occupied_labels_per_frame'] == 1.0
    assert 'miou' not in report and 'per_class_iou' not in lidar  # the baseline names no class

    # the network's scoring code gives the same geometry for the same grid
    network = PromptSetScores()
    for frame in (first, second):
        network.add(frame, raw_sweep_semantics(frame, ROW), ROW)
    assert network.summary(NAMES)['mask_lidar']['geometry_iou'] == pytest.approx(lidar['geometry_iou'])


def test_point_miou_over_mapped_classes_by_hand():
    classes = mapped_point_classes([U, 4, 11, 0, 16, 16, 17])
    assert classes == (4, 11, 16)  # others, free and unlabelled are no scored class
    prediction = np.array([4, 11, 2, 17], np.uint8).reshape(4, 1, 1)  # car, road, bicycle, free
    points = [[0.5, 0.5, 0.5],   # car in the car voxel: car tp
              [1.5, 0.5, 0.5],   # car in the road voxel: car fn, road fp
              [1.6, 0.5, 0.5],   # road in the road voxel: road tp
              [2.5, 0.5, 0.5],   # vegetation in the bicycle voxel: vegetation fn (bicycle is not scored)
              [0.4, 0.5, 0.5],   # others: ignored
              [2.4, 0.5, 0.5],   # bicycle: not a mapped class here, ignored
              [7.0, 0.5, 0.5],   # car outside the grid: counted apart
              [-3.0, 0.5, 0.5]]  # unlabelled outside the grid: not counted
    labels = [4, 4, 11, 16, 0, 2, 4, U]
    metrics = PointMetrics(classes)
    metrics.add(prediction, points, labels, ROW)
    summary = metrics.summary()
    assert summary['per_class_iou'] == {'car': pytest.approx(50.0), 'driveable_surface': pytest.approx(50.0),
                                        'vegetation': 0.0}
    assert summary['miou'] == pytest.approx(100 / 3)
    assert summary['points'] == 4 and summary['points_outside_grid'] == 1
    assert summary['geometry_recall'] == pytest.approx(100.0)
    with pytest.raises(ValueError, match='1-16'):
        PointMetrics((0, 4))

    # the raw sweep on the same labelled points: every labelled point lies in an occupied voxel
    baseline = RawSweepBaseline(PromptSetScores(points=True, point_classes=classes))
    baseline(frame_with(points, labels=labels), None, ROW)
    assert baseline.summary()['points'] == {'geometry_recall': 100.0, 'points': 4, 'points_in_free': 0,
                                            'points_outside_grid': 1, 'frames': 1}


def test_labelled_stuff_counts_in_class_iou():
    """Teacher-painted labels carry stuff classes; where they do, stuff is scored like objects (255,
    occupied but unlabelled, stays out of the class scores)."""
    grid = VoxelGrid((0, 0, 0, 5, 1, 1), 1.0)
    painted = np.array([11, 14, 16, 17, U], np.uint8).reshape(5, 1, 1)
    prediction = np.array([11, 16, 16, 17, 14], np.uint8).reshape(5, 1, 1)
    everywhere = np.ones_like(painted)
    scores = PromptSetScores()
    scores.add(frame_with(np.zeros((0, 3)), Occ3DLabels(painted, everywhere, everywhere)), prediction, grid)
    report = scores.summary(NAMES)
    per_class = report['per_class_iou']
    assert per_class['driveable_surface'] == pytest.approx(100.0)
    assert per_class['terrain'] == 0.0 and per_class['vegetation'] == pytest.approx(50.0)
    assert report['miou'] == pytest.approx(50.0)  # road, terrain, vegetation
    assert report['geometry_iou'] == pytest.approx(100.0)  # the 255 voxel is occupied and predicted so


def scan_labels(frame, grid) -> Occ3DLabels:
    """Stand-in dense labels of one scan: its labelled points voxelised (the plumbing is tested, not
    the labels), every voxel observed by LiDAR, mask_camera empty."""
    labelled = frame.point_labels != U
    semantics = grid.voxelize(frame.points_ego()[labelled], frame.point_labels[labelled], fill=17)
    return Occ3DLabels(semantics, np.ones_like(semantics), np.zeros_like(semantics))


@pytest.mark.sample_data
def test_loc_eval_semantickitti_end_to_end(semantickitti_root, tmp_path, capsys):
    from loc_core.data.semantickitti_source import SemanticKittiSource
    from loc_core.evaluation.cli import main
    from loc_core.evaluation.point_metrics import semantickitti_point_classes

    frame = next(iter(SemanticKittiSource(semantickitti_root, '07', load_images=False)))
    assert frame.scene == 'semantickitti-07' and frame.token == '07_000000'
    save_occ3d_labels(tmp_path / 'gt' / frame.scene / frame.token / 'labels.npz', scan_labels(frame, VoxelGrid()))
    per_frame = tmp_path / 'frames.jsonl'
    code = main(['--semantickitti', str(semantickitti_root), '--sequences', '07', '--labels-dir', str(tmp_path / 'gt'),
                 '--checkpoint', 'real', '--max-frames', '1', '--prompt-sets', 'standard', '--json',
                 '--per-frame', str(per_frame)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    for key in ('point_miou', 'geometry_iou'):
        assert isinstance(report[key], float) and 0 <= report[key] <= 100, key
    raw = report['raw_sweep']
    assert isinstance(raw['mask_lidar']['geometry_iou'], float) and raw['mask_lidar']['frames'] == 1
    # the labels hold exactly the scan's labelled voxels, so the raw sweep covers all of them
    assert raw['mask_lidar']['geometry_recall'] == pytest.approx(100.0)
    assert raw['points']['geometry_recall'] == pytest.approx(100.0)
    assert raw['frames'] == 0 and raw['empty_mask_frames'] == 1  # no mask_camera in these labels
    names = {OCC3D_CLASS_NAMES[c] for c in semantickitti_point_classes()}
    assert set(report['point_per_class_iou']) == names and 'others' not in names
    assert report['point_per_class_iou']['car'] is not None  # sequence 07's first scan holds cars
    assert report['points_outside_grid'] > 0 and report['standard']['points']['points'] > 50000
    assert 'SemanticKITTI' in report['point_protocol'] and report['sequences'] == '07'
    (line,) = per_frame.read_text().splitlines()
    record = json.loads(line)
    assert record['token'] == '07_000000' and record['raw_sweep']['mask_lidar'] == pytest.approx(
        raw['mask_lidar']['geometry_iou'])
