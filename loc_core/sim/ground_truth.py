"""Exact Occ3D ground truth of a snapshot on the ego's grid: semantic occupancy with solids
filled (a voxel is occupied when a solid, inflated by the sensor noise tolerance of 3 cm, overlaps
it with positive volume; the ground fills every voxel below the ground surface), and the LiDAR and
camera visibility masks.

Where solids of several classes share a voxel, the later-painted class wins: ground first, then
stuff (manmade, vegetation), then objects. Ground voxels take their column's majority ground class
(sidewalk wherever a kerb runs through the column); objects standing on a sidewalk leave the
voxels holding the ground surface to the sidewalk, of which they overlap only the top few cm."""
from __future__ import annotations

import numpy as np

from loc_core.data.occ3d_io import Occ3DLabels
from loc_core.data.vocabulary import FREE_ID
from loc_core.geometry.transforms import apply_transform, invert
from loc_core.geometry.voxel_grid import VoxelGrid
from loc_core.sim.assets import BOX, CYLINDER, SPHERE
from loc_core.sim.cameras import pixel_rays
from loc_core.sim.raymarch import march

GROUND_TOP = 0.0  # z of the road surface, metres (sidewalk tops at 0.15 stay in the same voxel)
SURFACE_TOLERANCE = 0.03  # solids fill voxels they come this close to (the LiDAR's range noise), metres
SURFACE_BAND = 0.1  # parts starting higher than this above the road leave the ground's voxels, metres
DEPTH_TOLERANCE = 0.05  # a voxel sample this far behind the rendered depth still counts as seen, metres
HIT_STRIDE = 2  # every 2nd pixel's rendered surface point marks its voxel visible


def semantic_occupancy(snapshot, ego_to_town: np.ndarray, grid: VoxelGrid) -> tuple[np.ndarray, np.ndarray]:
    """(semantics, semantics_open): (X,Y,Z) uint8 each; semantics 0-16 with FREE_ID 17, novel
    objects 0 there and their novel id in semantics_open."""
    semantics = np.full(grid.shape, FREE_ID, dtype=np.uint8)
    novel = np.zeros(grid.shape, dtype=np.uint8)
    _paint_ground(semantics, snapshot, ego_to_town, grid)
    parts_ego = _parts_in_ego(snapshot.parts, ego_to_town)
    world = snapshot.world
    owner = snapshot.part_object
    reach = np.hypot(*parts_ego[:, 4:6].T) / 2 + SURFACE_TOLERANCE  # horizontal half-diagonal
    near = np.all((parts_ego[:, 1:3] + reach[:, None] > grid.lower[:2])
                  & (parts_ego[:, 1:3] - reach[:, None] < grid.upper[:2]), axis=1)
    near &= world.paint[owner]
    stuff_first = np.flatnonzero(near)[np.argsort(world.is_thing[owner[near]], kind='stable')]
    z_edges = grid.lower[2] + np.arange(grid.shape[2] + 1) * grid.voxel_size
    for p in stuff_first:
        obj = owner[p]
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
    below = np.flatnonzero(grid.lower[2] + np.arange(grid.shape[2]) * grid.voxel_size < GROUND_TOP + SURFACE_TOLERANCE)
    semantics[:, :, below] = classes.reshape(nx, ny)[:, :, None]


def _part_voxels(part, grid: VoxelGrid, z_edges):
    """The voxels one part (in the ego frame) fills: (index region of the grid, bool mask over
    that region), or None when it misses the grid. A voxel is filled when the part, inflated by
    SURFACE_TOLERANCE, overlaps it with positive volume; a part starting more than SURFACE_BAND
    above the ground (objects on sidewalks) leaves the voxels holding the ground surface to it."""
    kind, cx, cy, cz, sx, sy, sz, yaw = part
    c, s = abs(np.cos(yaw)), abs(np.sin(yaw))
    tol = SURFACE_TOLERANCE
    if kind == BOX:
        hx, hy = sx / 2, sy / 2
        ext_x, ext_y, hz = hx * c + hy * s + tol, hx * s + hy * c + tol, sz / 2 + tol
    else:
        ext_x = ext_y = sx / 2 + tol
        hz = (sx / 2 if kind == SPHERE else sz / 2) + tol
    size = grid.voxel_size
    lo = np.floor((np.array([cx - ext_x, cy - ext_y]) - grid.lower[:2]) / size).astype(int)
    hi = np.floor((np.array([cx + ext_x, cy + ext_y]) - grid.lower[:2]) / size).astype(int)
    lo, hi = np.maximum(lo, 0), np.minimum(hi, np.array(grid.shape[:2]) - 1)
    k_idx = np.flatnonzero((z_edges[:-1] < cz + hz) & (z_edges[1:] > cz - hz))
    if np.any(hi < lo) or len(k_idx) == 0:
        return None
    dx = (grid.lower[0] + (np.arange(lo[0], hi[0] + 1) + 0.5) * size)[:, None] - cx
    dy = (grid.lower[1] + (np.arange(lo[1], hi[1] + 1) + 0.5) * size)[None, :] - cy
    half = size / 2
    zc = (z_edges[k_idx] + z_edges[k_idx + 1]) / 2
    if kind == BOX:
        cos, sin = np.cos(yaw), np.sin(yaw)
        along, across = np.abs(dx * cos + dy * sin), np.abs(-dx * sin + dy * cos)
        cols = ((np.abs(dx) < half + ext_x) & (np.abs(dy) < half + ext_y)
                & (along < hx + tol + half * (c + s)) & (across < hy + tol + half * (c + s)))
    elif kind == CYLINDER:
        gap = np.hypot(np.maximum(np.abs(dx) - half, 0), np.maximum(np.abs(dy) - half, 0))
        cols = gap < sx / 2 + tol
    if kind == SPHERE:
        gz = np.maximum(np.abs(zc - cz) - half, 0)
        gxy = np.maximum(np.abs(dx) - half, 0)[:, :, None] ** 2 + np.maximum(np.abs(dy) - half, 0)[:, :, None] ** 2
        inside = gxy + gz[None, None, :] ** 2 < (sx / 2 + tol) ** 2
    else:
        inside = np.repeat(cols[:, :, None], len(k_idx), axis=2)
    if cz - (hz - tol) > GROUND_TOP + SURFACE_BAND:  # raised (on a kerb): leaves the ground's voxels
        inside[:, :, (z_edges[k_idx] <= GROUND_TOP) & (z_edges[k_idx + 1] > GROUND_TOP)] = False
    region = (slice(lo[0], hi[0] + 1), slice(lo[1], hi[1] + 1), slice(k_idx[0], k_idx[-1] + 1))
    return region, inside


def lidar_mask(grid: VoxelGrid, origin_ego, points_ego) -> np.ndarray:
    """(X,Y,Z) uint8: voxels traversed by the rays from `origin_ego` (3,) to each return
    `points_ego` (N,3) (ego frame, metres), the returns' own voxels included."""
    vec = np.asarray(points_ego, dtype=np.float64) - origin_ego
    length = np.linalg.norm(vec, axis=1)
    unit = vec / np.maximum(length, 1e-9)[:, None]
    return march(grid, np.broadcast_to(origin_ego, vec.shape), unit, length)


class CameraVisibility:
    """`mask_camera` by depth test: a voxel is visible when its centre or the centre of one of
    its faces turned towards the camera lies in a camera's image no deeper than that pixel's
    rendered depth (+ DEPTH_TOLERANCE), or when it holds a rendered surface point (every
    HIT_STRIDE-th pixel): voxels in front of the first surface and the voxels holding it count,
    voxels behind it do not.
    The sample points' pixels and depths are fixed for a rig and a grid (both in the ego frame),
    so they are computed once."""

    def __init__(self, grid: VoxelGrid, rig):
        """`rig` [(name, K (3,3), cam_to_ego (4,4), (width, height))]."""
        self.grid = grid
        centres = grid.all_centers().astype(np.float64)
        half = grid.voxel_size / 2
        self.views, self.rays = [], []
        for _, k, cam_to_ego, (width, height) in rig:
            to_cam = invert(cam_to_ego)
            voxels, pixels, depths = [], [], []
            samples = [(np.arange(len(centres)), centres)]
            for axis in range(3):  # the faces turned towards the camera
                for sign in (1.0, -1.0):
                    facing = np.flatnonzero((cam_to_ego[axis, 3] - centres[:, axis]) * sign > half)
                    samples.append((facing, centres[facing] + sign * half * np.eye(3)[axis]))
            for index, points in samples:
                inside, pixel, z = _project_samples(apply_transform(to_cam, points), k, width, height)
                voxels.append(index[inside].astype(np.int32))
                pixels.append(pixel)
                depths.append(z)
            self.views.append((np.concatenate(voxels), np.concatenate(pixels), np.concatenate(depths)))
            rays = pixel_rays(k, width, height, HIT_STRIDE).reshape(-1, 3) @ cam_to_ego[:3, :3].T
            self.rays.append((cam_to_ego[:3, 3].astype(np.float32), rays.astype(np.float32)))

    def mask(self, depths) -> np.ndarray:
        """`depths` [(H,W) float32 z-depth per camera, inf = sky] in rig order -> (X,Y,Z) uint8."""
        out = np.zeros(self.grid.num_voxels, dtype=np.uint8)
        for (voxel, pixel, z), (origin, rays), depth in zip(self.views, self.rays, depths):
            visible = z <= depth.reshape(-1)[pixel] + DEPTH_TOLERANCE
            out[voxel[visible]] = 1
            hit_depth = depth[::HIT_STRIDE, ::HIT_STRIDE].reshape(-1)
            seen = np.isfinite(hit_depth)
            points = origin + rays[seen] * hit_depth[seen, None]
            inside = self.grid.in_range(points)
            out[self.grid.flat_index(self.grid.point_to_index(points[inside]))] = 1
        return out.reshape(self.grid.shape)


def _project_samples(cam, k, width, height):
    """(N,3) points in a camera frame -> (indices (M,) int32 of those inside the image, their
    pixels (M,) int32 flat row-major, their depths (M,) float32)."""
    z = cam[:, 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        u = k[0, 0] * cam[:, 0] / z + k[0, 2]
        v = k[1, 1] * cam[:, 1] / z + k[1, 2]
    seen = (z > 0.1) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    pixel = np.floor(v[seen]).astype(np.int64) * width + np.floor(u[seen]).astype(np.int64)
    return np.flatnonzero(seen).astype(np.int32), pixel.astype(np.int32), z[seen].astype(np.float32)


def make_labels(semantics, semantics_open, mask_lidar, mask_camera) -> Occ3DLabels:
    return Occ3DLabels(semantics, mask_lidar, mask_camera, semantics_open=semantics_open)
