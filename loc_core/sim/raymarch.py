"""Vectorised ray marching over a voxel grid (for the visibility masks): rays are sampled every
`step` metres (half a voxel by default) from their origin to their end, and the voxels holding
the samples are marked."""
from __future__ import annotations

import numpy as np

from loc_core.geometry.voxel_grid import VoxelGrid


def grid_exit_distance(grid: VoxelGrid, origins, unit_dirs) -> np.ndarray:
    """(N,3) origins inside the grid, (N,3) unit directions -> (N,) metres to the grid's boundary."""
    with np.errstate(divide='ignore', invalid='ignore'):
        to_upper = (grid.upper - origins) / unit_dirs
        to_lower = (grid.lower - origins) / unit_dirs
    far = np.where(unit_dirs > 0, to_upper, np.where(unit_dirs < 0, to_lower, np.inf))
    return np.clip(np.min(far, axis=1), 0.0, None)


def march(grid: VoxelGrid, origins, unit_dirs, lengths, step: float | None = None) -> np.ndarray:
    """Voxels traversed by rays: (N,3) origins and (N,3) unit directions in the grid's frame,
    (N,) lengths in metres (each ray's end point is always included; rays are cut where they
    leave the grid).
    Returns a grid-shaped uint8 0/1 mask."""
    step = grid.voxel_size / 2 if step is None else float(step)
    origins = np.asarray(origins, dtype=np.float64)
    unit_dirs = np.asarray(unit_dirs, dtype=np.float64)
    lengths = np.asarray(lengths, dtype=np.float64)
    mask = np.zeros(grid.num_voxels, dtype=np.uint8)
    if len(lengths) == 0:
        return mask.reshape(grid.shape)
    lengths = np.minimum(lengths, grid_exit_distance(grid, origins, unit_dirs))
    counts = np.floor(lengths / step).astype(np.int64) + 2  # samples 0, step, ..., and the end point
    ray = np.repeat(np.arange(len(lengths)), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(counts.sum()) - np.repeat(starts, counts)
    t = np.minimum(pos * step, lengths[ray]).astype(np.float32)
    t[starts + counts - 1] = lengths.astype(np.float32)
    pts = origins[ray].astype(np.float32) + unit_dirs[ray].astype(np.float32) * t[:, None]
    idx = np.floor((pts - grid.lower.astype(np.float32)) / np.float32(grid.voxel_size)).astype(np.int32)
    shape = np.asarray(grid.shape)
    inside = np.all((idx >= 0) & (idx < shape), axis=1)
    flat = np.where(inside, (idx[:, 0] * shape[1] + idx[:, 1]) * shape[2] + idx[:, 2], 0)
    mask[flat[inside]] = 1
    return mask.reshape(grid.shape)
