"""bench/real_errors.py's column breakdown of low false positives on a hand-made case."""
from types import SimpleNamespace

import numpy as np
from bench_modules import load_bench

from loc_core.geometry.voxel_grid import VoxelGrid


def test_false_positives_are_split_by_the_returns_in_their_column():
    bench = load_bench('real_errors')
    grid = VoxelGrid()
    centre = lambda i, j, k: np.asarray(grid.lower) + (np.array([i, j, k]) + 0.5) * grid.voxel_size  # noqa: E731
    points = np.array([centre(10, 10, 3), centre(10, 10, 6), centre(20, 20, 0)], np.float32)
    frame = SimpleNamespace(points_ego=lambda: points)
    false_positive = np.zeros(grid.shape, bool)
    false_positive[10, 10, 1] = True  # lowest return (layer 3) above it
    false_positive[20, 20, 2] = True  # lowest return (layer 0) below it
    false_positive[30, 30, 0:3] = True  # no return in the column
    false_positive[30, 30, 7] = True  # above the layers looked at
    table = bench.column_evidence(frame, grid, false_positive)
    assert table.shape == (bench.COLUMN_LAYERS, 3)
    assert table.sum(0).tolist() == [3, 1, 1]
    assert table[1].tolist() == [1, 1, 0] and table[2].tolist() == [1, 0, 1] and table[0].tolist() == [1, 0, 0]


def test_object_voxels_away_from_the_labels_count_only_object_classes():
    bench = load_bench('real_errors')
    shape = (12, 12, 4)
    labels = np.full(shape, 255, np.uint8)  # free
    labels[0, 0, 0] = 0  # prompt 0: car, far from every labelled voxel -> counted twice
    labels[6, 8, 1] = 0  # car two columns from the labelled car: near it
    labels[6, 6, 3] = 0  # car two layers above it: away
    labels[11, 0, 0] = 1  # prompt 1: road (stuff), far away: not an object
    labels[11, 11, 0] = 254  # unknown: not an object
    semantics = np.full(shape, 17, np.uint8)
    semantics[6, 6, 1] = 4
    frame = SimpleNamespace(occupancy=SimpleNamespace(semantics=semantics))
    result = SimpleNamespace(labels=labels, class_ids=np.array([4, 11]))
    assert bench.object_voxels(result, frame).tolist() == [3, 2]
