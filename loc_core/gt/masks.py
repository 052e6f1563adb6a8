"""Visibility masks of Occ3D: `mask_lidar` (voxels the LiDAR rays crossed or hit) and `mask_camera`
(voxels some camera sees, occluded by occupied voxels). Both (X,Y,Z) bool on a `VoxelGrid`, all
geometry in the keyframe's ego frame, metres."""
from __future__ import annotations

import numpy as np

from loc_core.data.frame import CameraView
from loc_core.geometry.camera import nearest_depth_buffer, project_to_camera
from loc_core.geometry.transforms import invert
from loc_core.geometry.voxel_grid import VoxelGrid
from loc_core.gt.densify import thin_points

_MAX_SAMPLES_PER_CHUNK = 4_000_000


def clip_rays_to_grid(grid: VoxelGrid, origins, ends) -> tuple[np.ndarray, np.ndarray]:
    """(R,3) ray starts and ends -> (t_enter, t_exit) (R,) float64 in [0, 1] along each segment,
    where it lies inside the grid's box (slab method); t_enter > t_exit when it misses the box."""
    direction = ends - origins
    with np.errstate(divide='ignore', invalid='ignore'):
        t_low = (grid.lower - origins) / direction
        t_high = (grid.upper - origins) / direction
    parallel = direction == 0
    inside_slab = (origins >= grid.lower) & (origins < grid.upper)
    t_near = np.where(parallel, np.where(inside_slab, -np.inf, np.inf), np.minimum(t_low, t_high))
    t_far = np.where(parallel, np.where(inside_slab, np.inf, -np.inf), np.maximum(t_low, t_high))
    return np.maximum(t_near.max(axis=1), 0.0), np.minimum(t_far.min(axis=1), 1.0)


def lidar_mask(grid: VoxelGrid, origins, ends, step: float) -> np.ndarray:
    """(X,Y,Z) bool: voxels crossed by any ray from `origins` (R,3) to `ends` (R,3), sampled every
    `step` metres along the part inside the grid, plus the voxels of the ends themselves."""
    origins = np.asarray(origins, dtype=np.float64)
    ends = np.asarray(ends, dtype=np.float64)
    seen = np.zeros(grid.num_voxels, dtype=bool)
    if len(ends) == 0:
        return seen.reshape(grid.shape)
    t_enter, t_exit = clip_rays_to_grid(grid, origins, ends)
    hit = t_exit >= t_enter
    origins, ends, t_enter, t_exit = origins[hit], ends[hit], t_enter[hit], t_exit[hit]
    length = np.linalg.norm(ends - origins, axis=1)
    counts = np.floor((t_exit - t_enter) * length / step).astype(np.int64) + 1
    start = 0
    while start < len(counts):
        stop = start + max(1, int(np.searchsorted(np.cumsum(counts[start:]), _MAX_SAMPLES_PER_CHUNK)))
        _mark_samples(grid, seen, origins[start:stop], ends[start:stop], t_enter[start:stop],
                      step / np.maximum(length[start:stop], 1e-9), counts[start:stop])
        start = stop
    seen[_flat_in_grid(grid, ends)] = True
    return seen.reshape(grid.shape)


def _mark_samples(grid, seen, origins, ends, t_enter, t_step, counts):
    ray = np.repeat(np.arange(len(counts)), counts)
    rank = np.arange(len(ray)) - np.repeat(np.cumsum(counts) - counts, counts)
    t = t_enter[ray] + rank * t_step[ray]
    samples = origins[ray] + t[:, None] * (ends[ray] - origins[ray])
    seen[_flat_in_grid(grid, samples)] = True


def _flat_in_grid(grid: VoxelGrid, points) -> np.ndarray:
    index = grid.point_to_index(points)
    return grid.flat_index(index[grid.valid_index(index)])


def unique_rays(origins, ends, frame_index, cell: float) -> np.ndarray:
    """Indices of one ray per (source frame, `cell`-metre cube of its end): rays that differ by
    less than a voxel add nothing to the mask."""
    return thin_points(ends, cell, groups=frame_index)


def camera_mask(grid: VoxelGrid, occupied, cameras: list[CameraView], stride: int = 16,
                near: float = 0.1) -> np.ndarray:
    """(X,Y,Z) bool: voxels whose centre some camera sees. Each camera gets a depth buffer at
    1/`stride` of its resolution, holding the nearest occupied voxel per pixel (voxels splatted
    as squares of their projected size); a voxel is seen when it projects into the image and is
    no deeper than that buffer plus half a voxel. Without cameras the mask is empty."""
    seen = np.zeros(grid.num_voxels, dtype=bool)
    if not cameras:
        return seen.reshape(grid.shape)
    centers = grid.all_centers().astype(np.float64)
    occupied_centers = centers[np.asarray(occupied, dtype=bool).reshape(-1)]
    for camera in cameras:
        seen |= _seen_by(grid, camera, centers, occupied_centers, stride, near)
    return seen.reshape(grid.shape)


def _seen_by(grid, camera: CameraView, centers, occupied_centers, stride, near) -> np.ndarray:
    width, height = camera.image_size
    size = (int(np.ceil(width / stride)), int(np.ceil(height / stride)))
    intrinsics = camera.intrinsics.copy()
    intrinsics[:2] /= stride
    ego_to_cam = invert(camera.cam_to_ego)
    depth_buffer = _depth_buffer(occupied_centers, ego_to_cam, intrinsics, size, grid.voxel_size, near)
    pixels, depth, visible = project_to_camera(centers, ego_to_cam, intrinsics, size, near)
    out = np.zeros(len(centers), dtype=bool)
    index = np.flatnonzero(visible)
    u, v = pixels[index, 0].astype(np.int64), pixels[index, 1].astype(np.int64)
    out[index] = depth[index] <= depth_buffer[v, u] + grid.voxel_size / 2
    return out


def _depth_buffer(points, ego_to_cam, intrinsics, size, voxel_size, near, max_radius: int = 8):
    """(H', W') float64 nearest depth per pixel of occupied voxel centres, each splatted over the
    square of pixels its voxel covers (capped at `max_radius`); inf where nothing was seen."""
    pixels, depth, _ = project_to_camera(points, ego_to_cam, intrinsics, size, near)
    front = depth > near
    return nearest_depth_buffer(pixels[front], depth[front], size, intrinsics[0, 0], voxel_size, max_radius)
