"""Helpers shared by the loc_ros tests: real OccupancyResults and ROS isolation."""
from __future__ import annotations

import os

import numpy as np

from loc_core.geometry.voxel_grid import VoxelGrid
from loc_core.inference.result import FREE_LABEL, OccupancyResult

ROS_DOMAIN_FOR_TESTS = {'test_cdr_outputs': 51, 'test_node_e2e': 52, 'test_node_malformed': 53,
                        'test_node_params': 54, 'test_node_main': 55}


def isolate_ros(module_name: str) -> None:
    """Put this test module on its own DDS domain (50-69), localhost only, before rclpy.init."""
    os.environ['ROS_DOMAIN_ID'] = str(ROS_DOMAIN_FOR_TESTS[module_name])
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'


def result_from_labels(labels: np.ndarray, prompts, class_ids, grid: VoxelGrid | None = None,
                       timestamp_ns: int = 0, feature_dim: int = 8) -> OccupancyResult:
    """An OccupancyResult whose occupancy/scores/features follow from `labels` (X,Y,Z) uint8."""
    grid = grid or VoxelGrid()
    labels = np.asarray(labels, dtype=np.uint8)
    occupied = labels != FREE_LABEL
    index = np.argwhere(occupied)
    scores = np.where(occupied, 0.5, 0.0).astype(np.float32)
    features = np.zeros((len(index), feature_dim), dtype=np.float32)
    features[:, 0] = 1.0
    return OccupancyResult(labels=labels, occupancy=occupied.astype(np.float32), scores=scores,
                           occupied_indices=index, features=features, prompts=tuple(prompts),
                           class_ids=np.asarray(class_ids), grid=grid, timestamp_ns=timestamp_ns)


def random_result(num_occupied: int, prompts, class_ids, seed: int = 0, timestamp_ns: int = 0,
                  unknown_fraction: float = 0.1) -> OccupancyResult:
    """A result on the Occ3D grid with `num_occupied` voxels spread over the prompts and unknown."""
    grid = VoxelGrid()
    rng = np.random.default_rng(seed)
    labels = np.full(grid.shape, FREE_LABEL, dtype=np.uint8)
    flat = rng.choice(grid.num_voxels, size=num_occupied, replace=False)
    values = rng.integers(0, len(prompts), size=num_occupied).astype(np.uint8)
    values[rng.random(num_occupied) < unknown_fraction] = 254
    labels.reshape(-1)[flat] = values
    return result_from_labels(labels, prompts, class_ids, grid, timestamp_ns)
