"""Evaluation on real labels: ground truth 255 (occupied but unlabelled), mask_camera and mask_lidar
reported apart (LiDAR-only frames have an empty mask_camera), point-level lidarseg scores, and
`loc-eval --lidarseg`, `--per-frame`."""
import json

import numpy as np
import pytest

from loc_core.data.frame import Frame
from loc_core.data.occ3d_io import Occ3DLabels, save_occ3d_labels
from loc_core.evaluation.frame_scores import PromptSetScores, frame_record
from loc_core.evaluation.metrics import OccupancyMetrics
from loc_core.evaluation.point_metrics import PointMetrics
from loc_core.geometry.voxel_grid import VoxelGrid

U = 255  # occupied but unlabelled
NAMES = [str(i) for i in range(17)]


def column(*ids) -> np.ndarray:
    """A (1,1,N) uint8 grid holding `ids` along z."""
    return np.array(ids, np.uint8).reshape(1, 1, -1)


def make_frame(points_lidar=None, labels=None, lidar_to_ego=None, occupancy=None) -> Frame:
    points = np.zeros((0, 3), np.float32) if points_lidar is None else np.asarray(points_lidar, np.float32)
    return Frame(timestamp_ns=0, points=points, intensity=np.zeros(len(points), np.float32),
                 lidar_to_ego=np.eye(4) if lidar_to_ego is None else lidar_to_ego, ego_to_world=np.eye(4),
                 point_labels=None if labels is None else np.asarray(labels, np.uint8), occupancy=occupancy,
                 scene='hand-made', token='t0')


def test_unlabelled_ground_truth_counts_for_geometry_only():
    gt = column(U, U, U, 17, 4, 17)
    pred = column(4, 11, 17, 4, 4, 17)
    metrics = OccupancyMetrics()
    assert metrics.add(pred, gt, np.ones_like(gt))
    # geometry: gt occupied {0,1,2,4} (255 is occupied), pred occupied {0,1,3,4}: tp 3, fp 1, fn 1
    assert metrics.geometry_iou() == pytest.approx(3 / 5 * 100)
    # the classes predicted inside 255 voxels (car, road) are absent from the confusion matrix
    assert metrics.confusion.sum() == 3
    assert metrics.confusion[:, 11].sum() == 0 and np.isnan(metrics.per_class_iou()[11])
    # car predicted in gt free (voxel 3) is a false positive: tp 1, fp 1
    assert metrics.confusion[17, 4] == 1
    assert metrics.per_class_iou()[4] == pytest.approx(1 / 2)
    assert metrics.miou() == pytest.approx(50.0)


def test_empty_mask_is_skipped_and_gives_none():
    metrics = OccupancyMetrics()
    assert not metrics.add(column(4, 17), column(4, 17), column(0, 0))
    summary = metrics.summary(NAMES)
    assert summary['frames'] == 0 and summary['empty_mask_frames'] == 1
    assert summary['miou'] is None and summary['geometry_iou'] is None
    assert all(v is None for v in summary['per_class_iou'].values())
    json.dumps(summary, allow_nan=False)  # valid JSON: no NaN


def test_mask_camera_and_mask_lidar_reported_apart():
    gt = column(4, 17, U, 11)
    pred = column(4, 4, 17, 11)
    everywhere = np.ones_like(gt)
    no_camera = Occ3DLabels(gt, everywhere, np.zeros_like(gt))  # a LiDAR-only frame
    with_camera = Occ3DLabels(gt, everywhere, column(1, 1, 0, 0))
    totals = PromptSetScores()
    for labels in (no_camera, with_camera):
        here = PromptSetScores()
        here.add(make_frame(occupancy=labels), pred, VoxelGrid((0, 0, 0, 1, 1, 4), 1.0))
        totals.merge(here)
        if labels is no_camera:
            record = frame_record(make_frame(occupancy=labels), pred, here, 'standard')
            assert record['mask_camera'] is None
            assert record['mask_lidar'] == {'geometry_iou': pytest.approx(50.0), 'miou': pytest.approx(75.0)}
            assert record['occupied_predicted'] == 3 and record['occupied_ground_truth'] == 3
    report = totals.summary(NAMES)
    # mask_camera (top level): frame 2 only, voxels 0-1: geometry tp 1, fp 1; car tp 1, fp 1
    assert report['frames'] == 1 and report['empty_mask_frames'] == 1
    assert report['geometry_iou'] == pytest.approx(50.0) and report['miou'] == pytest.approx(50.0)
    # mask_lidar: both frames, every voxel: geometry tp 2, fp 1 (voxel 1), fn 1 (the 255 voxel);
    # car 1/2, road 1/1
    lidar = report['mask_lidar']
    assert lidar['frames'] == 2 and lidar['empty_mask_frames'] == 0
    assert lidar['geometry_iou'] == pytest.approx(50.0) and lidar['miou'] == pytest.approx(75.0)
    assert lidar['per_class_iou']['4'] == pytest.approx(50.0) and lidar['per_class_iou']['0'] is None
    assert 'points' not in report


def test_point_metric_by_hand():
    grid = VoxelGrid((0, 0, 0, 3, 1, 1), 1.0)  # three voxels along x
    prediction = np.array([4, 11, 17], np.uint8).reshape(3, 1, 1)  # car, road, free
    points_ego = np.array([
        [0.5, 0.5, 0.5],  # car in the car voxel: car tp
        [0.2, 0.5, 0.5],  # road in the car voxel: road fn, car fp
        [1.5, 0.5, 0.5],  # road in the road voxel: road tp
        [2.5, 0.5, 0.5],  # car in a free voxel: car fn, no class's fp
        [2.6, 0.5, 0.5],  # noise (255): ignored
        [1.4, 0.5, 0.5],  # 'others' (0): not a lidarseg class, ignored
        [5.0, 0.5, 0.5],  # car outside the grid: ignored
    ])
    labels = [4, 11, 11, 4, U, 0, 4]
    expected_miou = (1 / 3 + 1 / 2) / 2 * 100  # car 1/(1+1+1), road 1/(1+0+1)

    metrics = PointMetrics()
    metrics.add(prediction, points_ego, labels, grid)
    summary = metrics.summary()
    assert summary['per_class_iou']['car'] == pytest.approx(100 / 3)
    assert summary['per_class_iou']['driveable_surface'] == pytest.approx(50.0)
    assert summary['per_class_iou']['bus'] is None and 'others' not in summary['per_class_iou']
    assert summary['miou'] == pytest.approx(expected_miou)
    assert summary['points'] == 4 and summary['points_in_free'] == 1
    assert summary['geometry_recall'] == pytest.approx(75.0)

    # the same points given in a LiDAR frame 1 m ahead of the ego origin are moved into the ego frame
    lidar_to_ego = np.eye(4)
    lidar_to_ego[0, 3] = 1.0
    scores = PromptSetScores(points=True)
    scores.add(make_frame(points_ego - [1.0, 0.0, 0.0], labels, lidar_to_ego), prediction, grid)
    assert scores.points.summary()['miou'] == pytest.approx(expected_miou)
    assert scores.masks['mask_camera'].frames == 0  # no dense labels: no voxel figures
    record = frame_record(make_frame(points_ego, labels), prediction, scores, 'standard')
    assert record['mask_lidar'] is None and record['occupied_ground_truth'] is None
    assert record['points']['geometry_recall'] == pytest.approx(75.0)


def test_per_frame_lines_to_a_file_and_to_stdout(tmp_path, capsys):
    from loc_core.evaluation.cli import write_per_frame

    records = [{'token': 'a', 'mask_camera': None}, {'token': 'b', 'mask_camera': None}]
    target = tmp_path / 'out' / 'frames.jsonl'
    write_per_frame(str(target), records)
    assert [json.loads(line) for line in target.read_text().splitlines()] == records
    assert sorted(p.name for p in target.parent.iterdir()) == ['frames.jsonl']  # no temporary left
    write_per_frame('-', records)
    assert [json.loads(line)['token'] for line in capsys.readouterr().out.splitlines()] == ['a', 'b']


@pytest.mark.sample_data
def test_loc_eval_on_the_lidarseg_frames(lidarseg_folder, tmp_path, capsys):
    from loc_core.evaluation.cli import main

    # stand-in dense labels for frame_00 in loc-gt's layout (the plumbing is tested, not the scores):
    # a LiDAR-only frame, so mask_camera is empty
    semantics = np.full((200, 200, 16), 17, np.uint8)
    semantics[:, :, :2] = U
    semantics[100:105, 100:105, 2:4] = 4
    folder = tmp_path / 'gt' / 'lidarseg-11frames' / 'frame_00'
    save_occ3d_labels(folder / 'labels.npz', Occ3DLabels(semantics, np.ones_like(semantics), np.zeros_like(semantics)))
    per_frame = tmp_path / 'frames.jsonl'
    code = main(['--lidarseg', str(lidarseg_folder), '--labels-dir', str(tmp_path / 'gt'), '--max-frames', '1',
                 '--json', '--prompt-sets', 'standard', '--per-frame', str(per_frame)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    standard = report['standard']
    assert standard['frames'] == 0 and standard['empty_mask_frames'] == 1 and standard['miou'] is None
    assert standard['mask_lidar']['frames'] == 1 and 0 <= standard['mask_lidar']['geometry_iou'] <= 100
    points = standard['points']
    assert points['frames'] == 1 and points['points'] > 10000
    assert 0 <= points['miou'] <= 100 and 0 <= points['geometry_recall'] <= 100
    assert '255' in report['protocol'] and 'point_protocol' in report
    assert report['point_miou'] == points['miou'] and report['geometry_iou'] == standard['mask_lidar']['geometry_iou']
    assert report['points_outside_grid'] == points['points_outside_grid'] > 0  # points beyond 40 m
    raw = report['raw_sweep']  # the input sweep voxelised, scored on the same frame
    assert raw['mask_lidar']['frames'] == 1 and 0 <= raw['mask_lidar']['geometry_iou'] <= 100
    assert raw['mask_lidar']['occupied_labels_per_frame'] == standard['mask_lidar']['occupied_labels_per_frame']
    assert raw['points']['geometry_recall'] == 100.0  # every labelled point lies in its own occupied voxel
    assert report['frames_skipped'] == 0
    (line,) = per_frame.read_text().splitlines()
    record = json.loads(line)
    assert record['token'] == 'frame_00' and record['scene'] == 'lidarseg-11frames'
    assert record['mask_camera'] is None and record['mask_lidar']['geometry_iou'] is not None
    assert record['raw_sweep']['mask_camera'] is None and record['raw_sweep']['occupied_predicted'] > 0
    assert record['occupied_ground_truth'] == int((semantics != 17).sum()) and record['occupied_predicted'] > 0
