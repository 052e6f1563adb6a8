"""The voxel traversal of `free_space.mark_crossed` (the voxels a LiDAR ray crosses before its
return) as one compiled loop over rays (numba), on arrays in host memory: the same voxels, found
with the same arithmetic in the same precision (float64 where the segment enters and leaves the
grid, float32 along it), without the tensors of every plane crossing of every ray that the
vectorised form builds. Compiled on first use (about a second; cached on disk where the package
folder is writable); runs without the GIL."""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def _mark(free, origin, d, first, last, shape):  # pragma: no cover - compiled
    """origin (3,) float32, per ray d (N,3) float32 and first/last (N,3) float64 (voxel units)."""
    strides = (shape[1] * shape[2], shape[2], 1)
    for r in range(d.shape[0]):
        flat = 0
        for a in range(3):
            flat += min(max(math.floor(first[r, a]), 0), shape[a] - 1) * strides[a]
        free[flat] = True
        for axis in range(3):
            plane_lo = math.floor(min(first[r, axis], last[r, axis])) + 1
            plane_hi = math.ceil(max(first[r, axis], last[r, axis])) - 1
            step = d[r, axis]
            down = 1 if step < 0 else 0
            for plane in range(plane_lo, plane_hi + 1):
                t = (np.float32(plane) - origin[axis]) / step
                flat = (plane - down) * strides[axis]
                for other in range(3):
                    if other != axis:
                        position = math.floor(origin[other] + d[r, other] * t)
                        flat += min(max(position, 0), shape[other] - 1) * strides[other]
                free[flat] = True


def mark_crossed_host(free: np.ndarray, start: np.ndarray, end: np.ndarray, t_in: np.ndarray,
                      t_out: np.ndarray, shape) -> None:
    """`free_space.mark_crossed` on host arrays: flat (X*Y*Z,) bool `free` (written in place),
    (3,) float64 `start`, (N,3) float64 `end` (voxel units), (N,) float64 segment parameters where
    each segment enters and leaves the grid box (`free_space.clip_segments`)."""
    keep = t_out > t_in
    end, t_in, t_out = end[keep], t_in[keep, None], t_out[keep, None]
    delta = end - start
    _mark(free, start.astype(np.float32), np.ascontiguousarray(delta, np.float32), start + delta * t_in,
          start + delta * t_out, np.asarray(shape, np.int64))

