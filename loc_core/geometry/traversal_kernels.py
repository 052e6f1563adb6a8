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



@njit(nogil=True, cache=True)
def _cast_to_first_occupied(seen, occupied, first, d, length, shape, reached):  # pragma: no cover - compiled
    """Per ray r: from `first[r]` (3,) float64 voxel units, inside the grid box, along `d[r]` (3,)
    (voxel units per unit of the ray parameter) for `length[r]` units: mark every voxel crossed in
    the flat bool `seen` (when it has any length), stopping after the first one that `occupied`
    (flat bool) holds; `reached[r]` True when the ray ran its whole length without meeting one."""
    strides = (shape[1] * shape[2], shape[2], 1)
    cell = np.empty(3, np.int64)
    step = np.empty(3, np.int64)
    t_next = np.empty(3, np.float64)
    t_delta = np.empty(3, np.float64)
    for r in range(d.shape[0]):
        reached[r] = False
        for a in range(3):
            cell[a] = min(max(math.floor(first[r, a]), 0), shape[a] - 1)
            if d[r, a] > 0:
                step[a], t_delta[a] = 1, 1.0 / d[r, a]
                t_next[a] = (cell[a] + 1 - first[r, a]) / d[r, a]
            elif d[r, a] < 0:
                step[a], t_delta[a] = -1, -1.0 / d[r, a]
                t_next[a] = (first[r, a] - cell[a]) / -d[r, a]
            else:
                step[a], t_delta[a], t_next[a] = 0, math.inf, math.inf
        while True:
            flat = cell[0] * strides[0] + cell[1] * strides[1] + cell[2]
            if seen.size:
                seen[flat] = True
            if occupied[flat]:
                break
            axis = 0
            if t_next[1] < t_next[axis]:
                axis = 1
            if t_next[2] < t_next[axis]:
                axis = 2
            if t_next[axis] > length[r]:
                reached[r] = True
                break
            cell[axis] += step[axis]
            if cell[axis] < 0 or cell[axis] >= shape[axis]:
                reached[r] = True
                break
            t_next[axis] += t_delta[axis]


def cast_to_first_occupied(seen: np.ndarray | None, occupied: np.ndarray, first: np.ndarray, direction: np.ndarray,
                           length: np.ndarray, shape) -> np.ndarray:
    """Rays through a voxel grid that stop at the first occupied voxel (camera visibility): flat
    (X*Y*Z,) bool `seen` (written in place; None: mark nothing) and `occupied`; per ray (N,3)
    `first` (its entry point, voxel units, inside the grid box), (N,3) `direction` (voxel units per
    unit of length) and (N,) `length` (how far it runs inside the grid, same units). Every voxel a
    ray crosses is marked, up to and including the first occupied one. -> (N,) bool: the rays that
    ran their whole length (or left the grid) without meeting an occupied voxel."""
    reached = np.zeros(len(length), np.bool_)
    _cast_to_first_occupied(np.zeros(0, np.bool_) if seen is None else seen, np.ascontiguousarray(occupied, np.bool_),
                            np.ascontiguousarray(first, np.float64), np.ascontiguousarray(direction, np.float64),
                            np.ascontiguousarray(length, np.float64), np.asarray(shape, np.int64), reached)
    return reached
