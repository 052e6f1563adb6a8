"""Bad input to the dense-label pipeline: empty, tiny and non-finite clouds, frames without boxes,
one-frame sequences. Each is handled and reported, never a crash."""
import numpy as np
import pytest

from loc_core.data.boxes import Boxes
from loc_core.data.frame import Frame
from loc_core.data.occ3d_io import OCC3D_SHAPE, validate_arrays
from loc_core.data.vocabulary import FREE_ID
from loc_core.geometry.transforms import yaw_transform
from loc_core.gt.config import DenseLabelConfig
from loc_core.gt.pipeline import DenseLabelPipeline

LIDAR_TO_EGO = yaw_transform(0.0, 0.0, 1.8, 0.0)
FAST = DenseLabelConfig(poisson=False)


def _street(ego_x: float, rng) -> np.ndarray:
    """(N,3) LiDAR-frame points of a road (z=0, label 11) and a wall at y=8 (label 15), as seen
    from an ego at world x = ego_x."""
    road = np.column_stack([rng.uniform(-20, 20, 6000), rng.uniform(-7, 7, 6000), np.zeros(6000)])
    wall = np.column_stack([rng.uniform(-20, 20, 3000), np.full(3000, 8.0), rng.uniform(0, 4, 3000)])
    points = np.concatenate([road, wall]) - [0, 0, 1.8]  # ego -> LiDAR frame (no rotation)
    return points, np.concatenate([np.full(6000, 11), np.full(3000, 15)]).astype(np.uint8)


def _frame(i, points=None, labels=None, boxes=None):
    rng = np.random.default_rng(i)
    if points is None:
        points, labels = _street(float(i), rng)
    return Frame(timestamp_ns=i, points=points, intensity=np.zeros(len(points)), lidar_to_ego=LIDAR_TO_EGO,
                 ego_to_world=yaw_transform(float(i), 0, 0, 0), point_labels=labels, boxes=boxes,
                 token=f'kf{i}')


def test_one_frame_sequence_without_boxes_is_labelled():
    [result] = DenseLabelPipeline(FAST).run([_frame(0)])
    validate_arrays(result.labels.as_dict(), shape=OCC3D_SHAPE)
    ids = np.unique(result.labels.semantics).tolist()
    assert 11 in ids and 15 in ids and FREE_ID in ids


def test_empty_tiny_and_non_finite_clouds_are_counted_and_neighbours_still_label_them():
    nan_points, nan_labels = _street(2.0, np.random.default_rng(2))
    nan_points[:100] = np.nan
    frames = [_frame(0, boxes=Boxes.empty()), _frame(1, np.zeros((0, 3)), np.zeros(0, np.uint8)),
              _frame(2, nan_points, nan_labels), _frame(3, np.ones((3, 3)), np.full(3, 11, np.uint8))]
    pipeline = DenseLabelPipeline(FAST)
    prepared = pipeline.prepare(frames)
    report = prepared.fused.report
    assert report['tiny_clouds'] == 2 and report['non_finite_points'] == 100
    assert report['frames_without_boxes'] == 2  # the two usable frames; tiny ones are not fused at all
    results = [pipeline.label(prepared, i) for i in range(4)]
    assert all(r.labels is not None for r in results)  # empty keyframes are labelled from neighbours
    assert (results[1].labels.semantics == 11).sum() > 1000


def test_a_sequence_with_nothing_usable_is_skipped_with_a_reason():
    [result] = DenseLabelPipeline(FAST).run([_frame(0, np.zeros((0, 3)), np.zeros(0, np.uint8))])
    assert result.labels is None and 'fused points' in result.skipped


def test_non_frames_are_rejected_clearly():
    with pytest.raises(TypeError, match='Frame'):
        DenseLabelPipeline(FAST).prepare([np.zeros((10, 3))])


def test_poisson_pipeline_on_a_one_frame_sequence():
    [result] = DenseLabelPipeline(DenseLabelConfig(poisson=True)).run([_frame(0)])
    assert result.labels is not None and result.stats['surface_points'] > 0
    occupied = result.labels.semantics != FREE_ID
    assert occupied.sum() >= DenseLabelPipeline(FAST).label(DenseLabelPipeline(FAST).prepare([_frame(0)]), 0) \
        .stats['occupied_voxels']
