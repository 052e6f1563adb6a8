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
