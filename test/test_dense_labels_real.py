"""Dense labels on real nuScenes data: car boxes come out as car, outputs are valid Occ3D."""
import numpy as np
import pytest

from loc_core.data.lidarseg_source import LidarsegSequenceSource
from loc_core.data.occ3d_io import OCC3D_SHAPE, validate_arrays
from loc_core.data.vocabulary import FREE_ID, THING_IDS, UNLABELLED_ID
from loc_core.gt.config import DenseLabelConfig
from loc_core.gt.fusion import box_membership
from loc_core.gt.pipeline import DenseLabelPipeline

pytestmark = pytest.mark.sample_data
CAR = 4


def _car_fraction(frame, labels, grid):
    """(occupied voxels whose centre lies in an annotated car box, fraction of them labelled car)."""
    cars = frame.boxes.subset(frame.boxes.class_ids == CAR)
    occupied = np.argwhere(labels.semantics != FREE_ID)
    inside = box_membership(cars, grid.index_to_center(occupied), 0.0) >= 0
    values = labels.semantics[tuple(occupied[inside].T)]
    return int(inside.sum()), float(np.mean(values == CAR)) if len(values) else 0.0


@pytest.fixture(scope='module')
def lidarseg_results(lidarseg_folder):
    frames = [LidarsegSequenceSource(lidarseg_folder)[i] for i in range(4)]
    pipeline = DenseLabelPipeline()
    return frames, pipeline, list(pipeline.run(frames))


def test_lidarseg_car_boxes_are_labelled_car_and_outputs_are_valid_occ3d(lidarseg_results):
    frames, pipeline, results = lidarseg_results
    assert [r.index for r in results] == [0, 1, 2, 3]
    for frame, result in zip(frames, results):
        validate_arrays(result.labels.as_dict(), shape=OCC3D_SHAPE)
        count, fraction = _car_fraction(frame, result.labels, pipeline.grid)
        assert count > 100 and fraction >= 0.9, (frame.token, count, fraction)
        ids = set(np.unique(result.labels.semantics).tolist())
        assert {11, 15, 16} <= ids  # road, buildings, vegetation from the per-point labels
        assert not result.labels.mask_camera.any()  # the lidarseg frames have no cameras
        assert 0.1 < result.labels.mask_lidar.mean() < 0.9


def test_densification_and_fusion_add_voxels_over_one_raw_scan(lidarseg_results):
    frames, _, results = lidarseg_results
    single = DenseLabelPipeline(DenseLabelConfig(window=0, poisson=False, dynamic_objects=False))
    [raw] = single.run(frames[:1])
    assert results[0].stats['occupied_voxels'] > 1.5 * raw.stats['occupied_voxels']


def test_nuscenes_without_lidarseg_labels_objects_by_box_and_leaves_stuff_unlabelled(nuscenes_source):
    frames = [nuscenes_source.frame(token) for token in nuscenes_source.sample_tokens()[:4]]
    pipeline = DenseLabelPipeline()
    results = list(pipeline.run(frames))
    for frame, result in zip(frames, results):
        labels = result.labels
        validate_arrays(labels.as_dict(), shape=OCC3D_SHAPE)
        count, fraction = _car_fraction(frame, labels, pipeline.grid)
        assert count > 100 and fraction >= 0.9, (frame.token, count, fraction)
        occupied = labels.semantics[labels.semantics != FREE_ID]
        assert np.mean(occupied == UNLABELLED_ID) > 0.5  # stuff has no labels without lidarseg
        assert set(np.unique(occupied).tolist()) <= set(THING_IDS) | {0, UNLABELLED_ID}
        assert 0.05 < labels.mask_camera.mean() < 0.9 and result.stats['cameras'] == 6
        assert labels.mask_camera[labels.semantics != FREE_ID].mean() < 1.0  # occluded voxels exist
