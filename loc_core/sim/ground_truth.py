"""Exact Occ3D ground truth of a snapshot on the ego's grid: semantic occupancy with solids
filled (a voxel is occupied when a solid overlaps it with positive volume; the ground fills every
voxel below the ground surface), and the LiDAR and camera visibility masks.

Where solids of several classes share a voxel, the later-painted class wins: ground first, then
stuff (manmade, vegetation), then objects. Ground voxels take their column's majority ground class."""
from __future__ import annotations

import numpy as np

from loc_core.data.occ3d_io import Occ3DLabels
from loc_core.data.vocabulary import FREE_ID
from loc_core.geometry.transforms import invert
from loc_core.geometry.voxel_grid import VoxelGrid
from loc_core.sim.assets import BOX, CYLINDER, SPHERE
from loc_core.sim.raymarch import march

GROUND_TOP = 0.0  # z of the road surface, metres (sidewalk tops at 0.15 stay in the same voxel)


def semantic_occupancy(snapshot, ego_to_town: np.ndarray, grid: VoxelGrid) -> tuple[np.ndarray, np.ndarray]:
    """(semantics, semantics_open): (X,Y,Z) uint8 each; semantics 0-16 with FREE_ID 17, novel
    objects 0 there and their novel id in semantics_open."""
    semantics = np.full(grid.shape, FREE_ID, dtype=np.uint8)
    novel = np.zeros(grid.shape, dtype=np.uint8)
    _paint_ground(semantics, snapshot, ego_to_town, grid)
    parts_ego = _parts_in_ego(snapshot.parts, ego_to_town)
    world = snapshot.world
    owner = snapshot.part_object
    stuff_first = np.argsort(world.is_thing[owner], kind='stable')
    z_edges = grid.lower[2] + np.arange(grid.shape[2] + 1) * grid.voxel_size
    for p in stuff_first:
        obj = owner[p]
        if not world.paint[obj]:
            continue
        hit = _part_voxels(parts_ego[p], grid, z_edges)
        if hit is None:
            continue
        region, inside = hit
        semantics[region][inside] = world.class_ids[obj]
        novel[region][inside] = world.novel_ids[obj]
    semantics_open = np.where(novel > 0, novel, semantics).astype(np.uint8)
    return semantics, semantics_open


def _parts_in_ego(parts: np.ndarray, ego_to_town: np.ndarray) -> np.ndarray:
    town_to_ego = invert(ego_to_town)
    out = parts.copy()
    out[:, 1:4] = parts[:, 1:4] @ town_to_ego[:3, :3].T + town_to_ego[:3, 3]
    out[:, 7] += np.arctan2(town_to_ego[1, 0], town_to_ego[0, 0])
    return out


def _paint_ground(semantics, snapshot, ego_to_town, grid: VoxelGrid) -> None:
    nx, ny, _ = grid.shape
    ii, jj = np.meshgrid(np.arange(nx), np.arange(ny), indexing='ij')
    centres = grid.lower[:2] + (np.stack([ii, jj], axis=-1).reshape(-1, 2) + 0.5) * grid.voxel_size
    rot = ego_to_town[:2, :2]
    town_xy = centres @ rot.T + ego_to_town[:2, 3]
    half = grid.voxel_size / 2
    classes = snapshot.world.town.ground.column_majority(town_xy, half, rotation=rot)
    below = np.flatnonzero(grid.lower[2] + np.arange(grid.shape[2]) * grid.voxel_size < GROUND_TOP)
    semantics[:, :, below] = classes.reshape(nx, ny)[:, :, None]


def _part_voxels(part, grid: VoxelGrid, z_edges):
    """The voxels one part (in the ego frame) overlaps: (index region of the grid, bool mask over
    that region), or None when it misses the grid."""
    kind, cx, cy, cz, sx, sy, sz, yaw = part
    c, s = abs(np.cos(yaw)), abs(np.sin(yaw))
    if kind == BOX:
        hx, hy = sx / 2, sy / 2
        ext_x, ext_y, hz = hx * c + hy * s, hx * s + hy * c, sz / 2
    else:
        ext_x = ext_y = sx / 2
        hz = sx / 2 if kind == SPHERE else sz / 2
    size = grid.voxel_size
    lo = np.floor((np.array([cx - ext_x, cy - ext_y]) - grid.lower[:2]) / size).astype(int)
    hi = np.floor((np.array([cx + ext_x, cy + ext_y]) - grid.lower[:2]) / size).astype(int)
    lo, hi = np.maximum(lo, 0), np.minimum(hi, np.array(grid.shape[:2]) - 1)
    k_idx = np.flatnonzero((z_edges[:-1] < cz + hz) & (z_edges[1:] > cz - hz))
    if np.any(hi < lo) or len(k_idx) == 0:
        return None
    xs = grid.lower[0] + (np.arange(lo[0], hi[0] + 1) + 0.5) * size
    ys = grid.lower[1] + (np.arange(lo[1], hi[1] + 1) + 0.5) * size
    dx = xs[:, None] - cx
    dy = ys[None, :] - cy
    half = size / 2
    if kind == BOX:
        cos, sin = np.cos(yaw), np.sin(yaw)
        along = dx * cos + dy * sin
        across = -dx * sin + dy * cos
        cols = ((np.abs(dx) < half + ext_x) & (np.abs(dy) < half + ext_y)
                & (np.abs(along) < hx + half * (c + s)) & (np.abs(across) < hy + half * (c + s)))
        inside = np.broadcast_to(cols[:, :, None], cols.shape + (len(k_idx),))
    elif kind == CYLINDER:
        gap = np.hypot(np.maximum(np.abs(dx) - half, 0), np.maximum(np.abs(dy) - half, 0))
        cols = gap < sx / 2
        inside = np.broadcast_to(cols[:, :, None], cols.shape + (len(k_idx),))
    else:
        zc = (z_edges[k_idx] + z_edges[k_idx + 1]) / 2
        gz = np.maximum(np.abs(zc - cz) - half, 0)
        gxy = np.maximum(np.abs(dx) - half, 0)[:, :, None] ** 2 + np.maximum(np.abs(dy) - half, 0)[:, :, None] ** 2
        inside = gxy + gz[None, None, :] ** 2 < (sx / 2) ** 2
    region = (slice(lo[0], hi[0] + 1), slice(lo[1], hi[1] + 1), slice(k_idx[0], k_idx[-1] + 1))
    return region, inside


def lidar_mask(grid: VoxelGrid, origin_ego, points_ego) -> np.ndarray:
    """(X,Y,Z) uint8: voxels traversed by the rays from `origin_ego` (3,) to each return
    `points_ego` (N,3) (ego frame, metres), the returns' own voxels included."""
    vec = np.asarray(points_ego, dtype=np.float64) - origin_ego
    length = np.linalg.norm(vec, axis=1)
    unit = vec / np.maximum(length, 1e-9)[:, None]
    return march(grid, np.broadcast_to(origin_ego, vec.shape), unit, length)


def camera_mask(grid: VoxelGrid, semantics, origins_ego, unit_dirs_ego, lengths) -> np.ndarray:
    """(X,Y,Z) uint8: voxels seen by camera rays, each marching until the first occupied voxel
    of `semantics` (or its `lengths` metres: the rendered hit or the grid's boundary)."""
    return march(grid, origins_ego, unit_dirs_ego, lengths, stop_at=semantics != FREE_ID)


def make_labels(semantics, semantics_open, mask_lidar, mask_camera) -> Occ3DLabels:
    return Occ3DLabels(semantics, mask_lidar, mask_camera, semantics_open=semantics_open)
