"""Observed free space of one LiDAR sweep: every voxel that a ray from the sensor to one of its
returns crosses before the return is seen empty (a voxel that holds a return of the same sweep is
never free).

The traversal is exact (the voxels a straight segment passes through, as Amanatides-Woo's DDA finds
them) and vectorised without a loop over steps: a segment crosses the integer planes of each axis in
turn, and the voxel it enters at a crossing of axis a's plane k has index k (or k - 1 going down) on
a and the segment's floored position at that crossing on the other two axes. So every voxel crossed
is the start voxel or the voxel entered at one of the plane crossings, and all crossings of all rays
are enumerated at once (`torch.repeat_interleave`). A segment through an edge or corner of voxels
exactly takes one of the tied voxels.

Rays are first reduced to one per return voxel (the first return in it; returns outside the grid:
one per voxel where the ray leaves the grid), which keeps the count of crossings near what the
occupied voxels need (a nuScenes sweep: about 30k returns in about 7k voxels)."""
from __future__ import annotations

import numpy as np
import torch


def _box_mask(points: torch.Tensor, box) -> torch.Tensor:
    """(N,3) points, box (xmin, ymin, zmin, xmax, ymax, zmax) -> (N,) bool inside it."""
    bounds = torch.as_tensor(box, dtype=points.dtype, device=points.device)
    return ((points >= bounds[:3]) & (points <= bounds[3:])).all(1)


def clip_segments(start: torch.Tensor, end: torch.Tensor, shape) -> tuple:
    """Segments from (3,) `start` to (N,3) `end` in voxel units (grid box [0, shape]) -> (t_in,
    t_out) (N,) float64 segment parameters (0 at start, 1 at the return) of the part inside the
    box; t_out <= t_in where a segment misses the box."""
    d = end - start
    upper = torch.as_tensor(shape, dtype=d.dtype, device=d.device)
    with np.errstate(divide='ignore', invalid='ignore'):
        inv = 1.0 / d
    t1 = (0.0 - start) * inv
    t2 = (upper - start) * inv
    inside = (start >= 0) & (start <= upper)
    flat = d == 0
    lo = torch.where(flat, torch.where(inside, -torch.inf, torch.inf), torch.minimum(t1, t2))
    hi = torch.where(flat, torch.where(inside, torch.inf, -torch.inf), torch.maximum(t1, t2))
    return lo.amax(1).clamp(min=0.0), hi.amin(1).clamp(max=1.0)


def mark_crossed(free: torch.Tensor, start: torch.Tensor, end: torch.Tensor, shape, compiled: bool | None = None) -> None:
    """Set True in the flat (X*Y*Z,) bool `free` every voxel that the segments from (3,) `start` to
    (N,3) `end` (voxel units) pass through inside the grid box, the end voxel included (flat index
    (i*Y + j)*Z + k). In host memory the compiled loop of traversal_kernels.py does it (the same
    voxels, several times faster); on a GPU the vectorised form below. `compiled` None: the compiled
    loop for a tensor in host memory; False: the vectorised form anyway."""
    t_in, t_out = clip_segments(start, end, shape)
    if compiled is None:
        compiled = free.device.type == 'cpu'
    if compiled:
        from loc_core.geometry.traversal_kernels import mark_crossed_host

        mark_crossed_host(free.numpy(), start.cpu().numpy(), end.cpu().numpy(), t_in.cpu().numpy(),
                          t_out.cpu().numpy(), shape)
        return
    mark_crossed_vectorised(free, start, end, t_in, t_out, shape)


def mark_crossed_vectorised(free: torch.Tensor, start: torch.Tensor, end: torch.Tensor, t_in: torch.Tensor,
                            t_out: torch.Tensor, shape) -> None:
    """`mark_crossed` with every plane crossing of every ray enumerated at once (module docstring);
    `t_in`, `t_out` from `clip_segments`. Any device."""
    keep = t_out > t_in
    end, t_in, t_out = end[keep], t_in[keep], t_out[keep]
    if len(end) == 0:
        return
    strides = (shape[1] * shape[2], shape[2], 1)
    d = (end - start).float()
    origin = start.float()
    first = start + (end - start) * t_in[:, None]  # where the segment enters the grid box
    last = start + (end - start) * t_out[:, None]
    entry = torch.stack([torch.floor(first[:, a]).long().clamp(0, shape[a] - 1) for a in range(3)], 1)
    free[entry @ torch.as_tensor(strides, device=end.device)] = True
    for axis in range(3):
        plane_lo = torch.floor(torch.minimum(first[:, axis], last[:, axis])).long() + 1
        plane_hi = torch.ceil(torch.maximum(first[:, axis], last[:, axis])).long() - 1
        counts = (plane_hi - plane_lo + 1).clamp(min=0)
        total = int(counts.sum())
        if total == 0:
            continue
        ray = torch.repeat_interleave(torch.arange(len(end), device=end.device), counts)
        offsets = torch.arange(total, device=end.device) - torch.repeat_interleave(counts.cumsum(0) - counts, counts)
        plane = plane_lo[ray] + offsets
        step = d[:, axis][ray]
        t = (plane.float() - origin[axis]) / step
        # the voxel entered: index plane (plane - 1 going down) on this axis, floored position on the others
        flat = (plane - (step < 0).long()) * strides[axis]
        for other in range(3):
            if other != axis:
                position = torch.floor(origin[other] + d[:, other][ray] * t).long().clamp_(0, shape[other] - 1)
                flat += position * strides[other]
        free[flat] = True


def one_ray_per_voxel(start: torch.Tensor, end: torch.Tensor, shape) -> torch.Tensor:
    """(N,3) returns in voxel units -> the first return of each voxel they fall in, and for returns
    outside the grid the first of each voxel where their ray leaves the grid box."""
    t_in, t_out = clip_segments(start, end, shape)
    keep = t_out > t_in
    end, t_out = end[keep], t_out[keep]
    exit_point = start + (end - start) * (t_out[:, None] - 1e-9)
    upper = torch.as_tensor(shape, device=end.device) - 1
    key_voxel = torch.floor(exit_point).long().clamp(min=torch.zeros_like(upper), max=upper)
    key = (key_voxel[:, 0] * shape[1] + key_voxel[:, 1]) * shape[2] + key_voxel[:, 2]
    key = key * 2 + (t_out < 1.0).long()  # inside and outside returns of one voxel stay apart
    unique, inverse = torch.unique(key, return_inverse=True)
    first = torch.full((len(unique),), len(key), dtype=torch.int64, device=end.device)
    first.scatter_reduce_(0, inverse, torch.arange(len(key), device=end.device), reduce='amin')
    return end[first]


def observed_free(points: torch.Tensor, origin, grid, ego_box=None, one_per_voxel: bool = True,
                  compiled: bool | None = None) -> torch.Tensor:
    """(N,3) ego points, metres (one sweep's returns), (3,) sensor `origin` in the ego frame, metres
    -> (X,Y,Z) bool voxels of `grid` that a ray from the origin to a return passes through before
    it, and that hold no return. Returns inside `ego_box` (xmin, ymin, zmin, xmax, ymax, zmax ego
    metres; the vehicle's own) and non-finite ones are left out. `one_per_voxel` traces one ray per
    return voxel (module docstring); False traces every return. `compiled`: see `mark_crossed`."""
    points = points.reshape(-1, 3)
    points = points[torch.isfinite(points).all(1)]
    if ego_box is not None:
        points = points[~_box_mask(points, ego_box)]
    nx, ny, nz = grid.shape
    lower = torch.as_tensor(grid.lower, dtype=torch.float64, device=points.device)
    size = float(grid.voxel_size)
    end = (points.double() - lower) / size
    start = (torch.as_tensor(np.asarray(origin, np.float64), device=points.device) - lower) / size
    if one_per_voxel and len(end):
        end = one_ray_per_voxel(start, end, grid.shape)
    free = torch.zeros(nx * ny * nz, dtype=torch.bool, device=points.device)
    mark_crossed(free, start, end, grid.shape, compiled)
    hit = torch.floor(end).long()
    inside = ((hit >= 0) & (hit < torch.as_tensor(grid.shape, device=points.device))).all(1)
    hit = hit[inside]
    free[(hit[:, 0] * ny + hit[:, 1]) * nz + hit[:, 2]] = False
    return free.view(nx, ny, nz)
