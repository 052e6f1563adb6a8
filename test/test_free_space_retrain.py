"""Issue 28: the observed-free channel (exact voxels a ray crosses), old checkpoints unchanged,
a widened network starting as its checkpoint, beam dropout by whole rings, free-space targets and
a mixed training step with a SemanticKITTI scan."""
import hashlib
from dataclasses import replace

import numpy as np
import pytest
import torch
from toy_world import TOY_ARCH, TOY_GRID, toy_config, toy_frame

from loc_core.geometry.free_space import observed_free
from loc_core.geometry.voxel_grid import VoxelGrid
from loc_core.train.beams import drop_alternate_rings, ring_index
from loc_core.train.samples import TrainingSample

GRID = VoxelGrid()


def centre(i, j, k) -> np.ndarray:
    return GRID.lower + (np.array([i, j, k]) + 0.5) * GRID.voxel_size


def free_voxels(points, origin, **options) -> list:
    free = observed_free(torch.as_tensor(np.asarray(points), dtype=torch.float32), origin, GRID, **options)
    return sorted(map(tuple, np.argwhere(free.numpy()).tolist()))


def test_a_ray_marks_exactly_the_voxels_it_crosses_and_not_its_return():
    origin = centre(100, 100, 7)
    assert free_voxels([centre(105, 100, 7)], origin) == [(100, 100, 7), (101, 100, 7), (102, 100, 7),
                                                          (103, 100, 7), (104, 100, 7)]
    # from (100.5, 100.5) to (103.5, 102.5): crosses x = 101 at y 100.83, y = 101 at x 101.25,
    # x = 102 at y 101.5 (an edge: one of the tied voxels), x = 103 at y 102.17
    diagonal = free_voxels([centre(103, 102, 7)], origin, one_per_voxel=False)
    assert diagonal == [(100, 100, 7), (101, 100, 7), (101, 101, 7), (102, 101, 7), (102, 102, 7)] or \
        diagonal == [(100, 100, 7), (101, 100, 7), (101, 101, 7), (101, 102, 7), (102, 102, 7)]
    # a voxel holding a return of the sweep is never free, even when another ray crosses it
    assert (102, 100, 7) not in free_voxels([centre(105, 100, 7), centre(102, 100, 7)], origin)
    # a return beyond the grid frees the whole segment inside it; one inside the ego box frees nothing
    far = free_voxels([centre(100, 100, 7) + [100.0, 0, 0]], origin)
    assert far == [(i, 100, 7) for i in range(100, 200)]
    assert free_voxels([centre(101, 100, 7)], origin, ego_box=(-1, -1, -1, 1, 1, 3)) == []


def test_one_ray_per_voxel_keeps_nearly_every_free_voxel_of_a_sweep():
    rng = np.random.default_rng(0)
    azimuth, elevation = rng.uniform(0, 2 * np.pi, 3000), np.radians(rng.uniform(-25, 5, 3000))
    reach = np.minimum(1.8 / np.maximum(np.sin(-elevation), 1e-3), 30.0)
    points = np.stack([reach * np.cos(elevation) * np.cos(azimuth), reach * np.cos(elevation) * np.sin(azimuth),
                       1.8 + reach * np.sin(elevation)], 1)
    every = set(free_voxels(points, (0.0, 0.0, 1.8), one_per_voxel=False))
    reduced = set(free_voxels(points, (0.0, 0.0, 1.8)))
    assert reduced <= every and len(reduced) > 0.95 * len(every)


def test_the_compiled_traversal_finds_the_voxels_the_vectorised_one_finds():
    from loc_core.geometry.free_space import clip_segments, mark_crossed, mark_crossed_vectorised

    rng = np.random.default_rng(1)
    shape = GRID.shape
    start = torch.tensor([100.35, 100.0, 7.1], dtype=torch.float64)  # on a plane, as nuScenes' LiDAR is
    end = torch.as_tensor(rng.uniform(-30, 230, (4000, 3)) * [1, 1, 0.1] + [0, 0, 2], dtype=torch.float64)
    end[:50] = torch.floor(end[:50]) + 0.5  # voxel centres, axis-parallel and diagonal ties
    end[50:60] = start + torch.tensor([5.0, 0.0, 0.0])
    compiled, vectorised = (torch.zeros(int(np.prod(shape)), dtype=torch.bool) for _ in range(2))
    mark_crossed(compiled, start, end, shape)
    mark_crossed_vectorised(vectorised, start, end, *clip_segments(start, end, shape), shape)
    assert int(vectorised.sum()) > 10_000 and torch.equal(compiled, vectorised)
    forced = torch.zeros_like(vectorised)
    mark_crossed(forced, start, end, shape, compiled=False)
    assert torch.equal(forced, vectorised)


@pytest.fixture(scope='module')
def synthetic_frame():
    from loc_core.data.frame_sources import synthetic_frames

    return next(iter(synthetic_frames([1000], 1)))


def test_the_shipped_demo_checkpoint_predicts_as_before(synthetic_frame):
    from loc_core.inference.predictor import LocPredictor

    result = LocPredictor(checkpoint='demo').predict(synthetic_frame)
    digest = hashlib.sha1(np.ascontiguousarray(result.occupied_indices).tobytes() +
                          np.ascontiguousarray(result.labels).tobytes()).hexdigest()
    # computed with the code before the free-space channel existed (commit e956661)
    assert len(result.occupied_indices) == 45915
    assert digest == 'eec527335ad7514a4fdb712eccc999139da129e5'


def test_a_widened_network_starts_out_as_its_checkpoint(synthetic_frame):
    from loc_core.models.checkpoint import load_checkpoint
    from loc_core.models.factory import create_model
    from loc_core.models.inputs import frame_to_input
    from loc_core.train.trainer import widen_trunk_input

    loaded = load_checkpoint('loc_core/checkpoints/loc_demo_fusion.safetensors')  # no free-space channels
    arch = {**loaded.model.arch, 'free_space_input': True}
    widened = create_model(arch, loaded.config.grid.to_grid(), loaded.model.text_dim)
    assert widened.bev_input_channels() == loaded.model.bev_input_channels() + GRID.shape[2]
    widened.load_state_dict(widen_trunk_input(loaded.model.state_dict(), widened.state_dict()))
    widened.eval()
    with torch.inference_mode():
        sample = frame_to_input(synthetic_frame, widened.image_size)
        new = widened.encode([sample]).occupancy_logits
        old = loaded.model.encode([frame_to_input(synthetic_frame, widened.image_size)]).occupancy_logits
    assert torch.equal(new, old)
    assert any(key[0] == 'observed_free' for key in sample.derived)  # computed by the encode, kept on the sample
    assert widened.observed_free(sample).sum() > 10_000
    assert np.allclose(sample.origin, synthetic_frame.lidar_to_ego[:3, 3])
    # carving: what the sweep sees through is never predicted occupied
    from loc_core.models.fusion import CARVED_LOGIT

    widened.arch['carve_observed_free'] = True
    with torch.inference_mode():
        carved = widened.encode([sample]).occupancy_logits[0]
    free = widened.observed_free(sample)
    assert (carved[free] == CARVED_LOGIT).all() and torch.equal(carved[~free], new[0][~free])


def firing_order_scan(rings: int = 64, per_ring: int = 400) -> np.ndarray:
    """(rings*per_ring, 3) points of a spinning unit at the origin, ring after ring, each in azimuth order."""
    azimuth = np.linspace(-np.pi, np.pi, per_ring, endpoint=False)
    points = []
    for ring in range(rings):
        elevation = np.radians(2.0 - 0.4 * ring)
        distance = 20.0 + np.random.default_rng(ring).uniform(-2, 2, per_ring)
        points.append(np.stack([distance * np.cos(elevation) * np.cos(azimuth),
                                distance * np.cos(elevation) * np.sin(azimuth), distance * np.sin(elevation)], 1))
    return np.concatenate(points).astype(np.float32)


def test_beam_dropout_keeps_whole_rings():
    points = firing_order_scan()
    rings, count = ring_index(points, (0, 0, 0))
    assert count == 64 and np.array_equal(rings, np.repeat(np.arange(64), 400))
    keep = drop_alternate_rings(points, (0, 0, 0), phase=1)
    kept_rings = np.unique(rings[keep])
    assert np.array_equal(kept_rings, np.arange(1, 64, 2))
    for ring in range(64):  # each ring entirely kept or entirely dropped
        assert keep[rings == ring].all() or not keep[rings == ring].any()
    # a 32-beam scan is left alone
    assert drop_alternate_rings(firing_order_scan(32), (0, 0, 0), 0) is None


def test_free_space_targets_fill_only_where_labels_say_nothing():
    from loc_core.train.batch import FrameTargets
    from loc_core.train.trainer import add_free_targets

    known = torch.zeros((4, 4, 2), dtype=torch.bool)
    known[0] = True
    occupied = torch.zeros_like(known)
    occupied[0, 0, 0] = occupied[2, 2, 1] = True  # a labelled and an unlabelled (outside the mask) occupied voxel
    target = FrameTargets(occupied, known, torch.zeros((0, 3), dtype=torch.long), torch.zeros(0, dtype=torch.long))
    free = torch.ones_like(known)
    add_free_targets(target, free)
    assert target.known.all()
    assert target.occupied[0, 0, 0] and int(target.occupied.sum()) == 1


@pytest.fixture(scope='module')
def kitti_sample():
    """Scan 0 of SemanticKITTI 07 on the toy grid, its own labelled points voxelised as labels."""
    from conftest import _require

    from loc_core.data.occ3d_io import Occ3DLabels
    from loc_core.data.semantickitti_source import SemanticKittiSource

    root = _require('semantickitti-mini')
    frame = SemanticKittiSource(root, '07', scans=[0]).frame(0)
    grid = VoxelGrid(TOY_GRID.point_range, TOY_GRID.voxel_size)
    points = frame.points_ego()
    inside = grid.in_range(points) & (frame.point_labels < 17)
    index = grid.point_to_index(points[inside])
    semantics = np.full(grid.shape, 17, np.uint8)
    semantics[index[:, 0], index[:, 1], index[:, 2]] = frame.point_labels[inside]
    ones = np.ones(grid.shape, np.uint8)
    frame.occupancy = Occ3DLabels(semantics, ones, ones)
    return TrainingSample.from_frame(frame, tuple(TOY_ARCH['image_size']), source='real',
                                     geometry_mask='camera_or_lidar')


def test_a_mixed_step_with_a_semantickitti_scan_trains(kitti_sample, tmp_path):
    from loc_core.train.trainer import Trainer

    assert kitti_sample.origin[2] > 1.5  # the ego frame lies on the road below the LiDAR
    assert len(kitti_sample.points) > 100_000 and len(kitti_sample.images) == 1
    synthetic = TrainingSample.from_frame(toy_frame(0), tuple(TOY_ARCH['image_size']))
    config = toy_config(lr=1e-3, batch_size=2, checkpoint_every=1000, real_fraction=0.5, beam_dropout=1.0,
                        free_space_targets=True)
    config.model.overrides['free_space_input'] = True
    trainer = Trainer(config, [synthetic, kitti_sample], tmp_path)
    before = trainer.model.trunk.stem[0].weight.detach().clone()
    history = trainer.run(1)
    assert np.isfinite(history[0]['loss']) and history[0]['geometry'] > 0
    assert not torch.equal(before, trainer.model.trunk.stem[0].weight)
