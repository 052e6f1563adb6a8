"""Visibility masks of Occ3D: `mask_lidar` (voxels the LiDAR rays crossed or hit) and `mask_camera`
(voxels some camera sees, occluded by occupied voxels). Both (X,Y,Z) bool on a `VoxelGrid`, all
geometry in the keyframe's ego frame, metres."""
from __future__ import annotations

import numpy as np

from loc_core.data.frame import CameraView
from loc_core.geometry.camera import project_to_camera
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


def camera_mask(grid: VoxelGrid, occupied, cameras: list[CameraView], stride: int = 0,
                near: float = 0.1) -> np.ndarray:
    """(X,Y,Z) bool: voxels some camera sees, as Occ3D defines `mask_camera`: a ray from the camera
    centre through the centre of every `stride`-th pixel (in both directions), from `near` metres
    of depth on, crosses voxels until the first occupied one, which it sees too; what lies behind
    is unseen. `stride` 0: per camera, the largest stride that keeps neighbouring rays within half a
    voxel of each other at the grid's farthest corner (`ray_stride`). Rays that dense still pass
    over most voxels of a surface seen at a grazing angle (the ground far ahead), so an occupied
    voxel is also seen when the sight line to the centre of one of its faces that turn towards the
    camera crosses no occupied voxel (`_faces_in_sight`). `occupied` (X,Y,Z) bool. Without cameras
    the mask is empty."""
    from loc_core.geometry.traversal_kernels import cast_to_first_occupied

    seen = np.zeros(grid.num_voxels, dtype=bool)
    occupied = np.ascontiguousarray(np.asarray(occupied, dtype=bool).reshape(-1))
    occupied_flat = np.flatnonzero(occupied)
    for camera in cameras:
        first, direction, length = _camera_rays(grid, camera, stride or ray_stride(grid, camera), near)
        cast_to_first_occupied(seen, occupied, first, direction, length, grid.shape)
        seen[occupied_flat[_faces_in_sight(grid, camera, occupied, occupied_flat, near)]] = True
    return seen.reshape(grid.shape)


def _faces_in_sight(grid: VoxelGrid, camera: CameraView, occupied: np.ndarray, voxels: np.ndarray,
                    near: float) -> np.ndarray:
    """(M,) flat indices of occupied voxels -> (M,) bool: a face of the voxel that turns towards the
    camera has its centre inside the image, at least `near` metres deep, and in sight: the segment
    from the camera to it (ending a hair outside the voxel) crosses no occupied voxel."""
    from loc_core.geometry.traversal_kernels import cast_to_first_occupied

    origin = (np.asarray(camera.cam_to_ego, np.float64)[:3, 3] - grid.lower) / grid.voxel_size  # voxel units
    centres = np.stack(np.unravel_index(voxels, grid.shape), 1) + 0.5
    towards = np.sign(origin - centres)  # per axis, the side of the voxel the camera is on (0: level with it)
    faces = np.concatenate([centres + np.eye(3)[axis] * towards[:, axis:axis + 1] * (0.5 + 1e-3) for axis in range(3)])
    owner = np.tile(np.arange(len(voxels)), 3)
    facing = towards.T.reshape(-1) != 0
    faces, owner = faces[facing], owner[facing]
    pixels, depth, visible = project_to_camera(faces * grid.voxel_size + grid.lower, invert(camera.cam_to_ego),
                                               camera.intrinsics, camera.image_size, near)
    faces, owner, depth = faces[visible], owner[visible], depth[visible]
    direction = faces - origin
    t_start = near / depth  # the sight line from `near` metres of depth on
    t_enter, t_exit = clip_rays_to_grid(grid, (origin + direction * t_start[:, None]) * grid.voxel_size + grid.lower,
                                        faces * grid.voxel_size + grid.lower)
    t_enter = t_start + (1 - t_start) * t_enter
    t_exit = t_start + (1 - t_start) * t_exit
    clear = cast_to_first_occupied(None, occupied, origin + direction * t_enter[:, None], direction,
                                   np.maximum(t_exit - t_enter, 0.0), grid.shape)
    result = np.zeros(len(voxels), dtype=bool)
    result[owner[clear]] = True
    return result


def _farthest_corner(grid: VoxelGrid, point) -> float:
    """Distance (metres) from `point` (3,) to the grid box's farthest corner."""
    corners = np.array(np.meshgrid(*zip(grid.lower, grid.upper), indexing='ij')).reshape(3, -1).T
    return float(np.linalg.norm(corners - np.asarray(point, np.float64), axis=1).max())


def ray_stride(grid: VoxelGrid, camera: CameraView) -> int:
    """The largest pixel stride whose neighbouring camera rays are at most half a voxel apart at
    the grid's farthest corner from the camera (at least 1)."""
    focal = float(min(camera.intrinsics[0, 0], camera.intrinsics[1, 1]))
    reach = _farthest_corner(grid, np.asarray(camera.cam_to_ego)[:3, 3])
    return max(1, int(focal * grid.voxel_size / 2 / reach))


def _camera_rays(grid: VoxelGrid, camera: CameraView, stride: int, near: float) -> tuple:
    """The rays of `camera_mask` that enter the grid: ((N,3) entry points, (N,3) directions, (N,)
    lengths inside the grid), voxel units (one unit of length = the segment from depth `near` to
    a depth beyond the grid)."""
    width, height = camera.image_size
    u, v = np.meshgrid(np.arange(stride / 2, width, stride), np.arange(stride / 2, height, stride))
    pixels = np.stack([u.ravel(), v.ravel(), np.ones(u.size)])  # (3,N) homogeneous pixel centres
    cam_to_ego = np.asarray(camera.cam_to_ego, np.float64)
    per_depth = (cam_to_ego[:3, :3] @ np.linalg.solve(np.asarray(camera.intrinsics, np.float64), pixels)).T
    origin = cam_to_ego[:3, 3]
    far = _farthest_corner(grid, origin) + near  # depth past which every ray has left the grid
    starts, ends = origin + per_depth * near, origin + per_depth * far
    t_enter, t_exit = clip_rays_to_grid(grid, starts, ends)
    keep = t_exit > t_enter
    starts = (starts[keep] - grid.lower) / grid.voxel_size
    direction = (ends[keep] - grid.lower) / grid.voxel_size - starts
    return starts + direction * t_enter[keep, None], direction, t_exit[keep] - t_enter[keep]
