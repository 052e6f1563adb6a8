"""Densification: normals oriented towards the sensor, open3d screened Poisson reconstruction with
low-density trimming, dense sampling of the mesh, and the union of its voxels with the raw points'.

All arrays are float64 metres in one frame (a keyframe's ego frame, or the world for the
scene-level mesh); grids are (X,Y,Z) bool on the `VoxelGrid`."""
from __future__ import annotations

import numpy as np
import open3d as o3d
from scipy import ndimage

from loc_core.data.vocabulary import FREE_ID
from loc_core.geometry.voxel_grid import VoxelGrid


def thin_points(points, cell: float, groups=None) -> np.ndarray:
    """(N,3) points -> (M,) int64 sorted indices of one point per `cell`-metre cube (per cube and
    per value of `groups` (N,) ints when given); all points when cell <= 0."""
    if cell <= 0 or len(points) == 0:
        return np.arange(len(points))
    keys = np.floor(np.asarray(points) / cell).astype(np.int64)
    keys -= keys.min(axis=0)
    span = keys.max(axis=0) + 1
    flat = (keys[:, 0] * span[1] + keys[:, 1]) * span[2] + keys[:, 2]
    if groups is not None:
        flat = flat * (int(np.max(groups)) + 1) + np.asarray(groups, dtype=np.int64)
    _, first = np.unique(flat, return_index=True)
    return np.sort(first)


def oriented_normals(points, origins, radius: float, max_nn: int) -> np.ndarray:
    """(N,3) points and (N,3) sensor positions -> (N,3) float64 unit normals from local PCA
    (open3d), each flipped to face the sensor that saw its point."""
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, np.float64)))
    cloud.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=max_nn))
    normals = np.asarray(cloud.normals)
    flip = np.einsum('ij,ij->i', normals, np.asarray(origins) - points) < 0
    normals[flip] *= -1
    return normals


def poisson_depth(points, cell: float, max_depth: int, min_depth: int = 6) -> int:
    """Octree depth whose finest cell is at most `cell` metres over the points' bounding cube
    (grown by open3d's default scale 1.1), clipped to [min_depth, max_depth]."""
    extent = float(np.max(np.ptp(np.asarray(points), axis=0))) * 1.1
    depth = int(np.ceil(np.log2(max(extent / cell, 1.0))))
    return int(np.clip(depth, min_depth, max_depth))


def poisson_mesh(points, normals, depth: int, density_quantile: float) -> o3d.geometry.TriangleMesh:
    """Screened Poisson surface of oriented points; vertices whose density (how many samples
    support them) falls below the `density_quantile` quantile are removed with their triangles.
    Small clouds run single-threaded (thread start-up would dominate)."""
    threads = 1 if len(points) < 20_000 else -1
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, np.float64)))
    cloud.normals = o3d.utility.Vector3dVector(np.asarray(normals, np.float64))
    with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
        mesh, densities = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(cloud, depth=depth, n_threads=threads)
    densities = np.asarray(densities)
    if density_quantile > 0 and len(densities):
        mesh.remove_vertices_by_mask(densities < np.quantile(densities, density_quantile))
    return mesh


def sample_mesh(mesh: o3d.geometry.TriangleMesh, spacing: float) -> np.ndarray:
    """(M,3) float64 points spread uniformly over the mesh, about one per `spacing`^2 of area."""
    if len(mesh.triangles) == 0:
        return np.zeros((0, 3))
    count = int(np.ceil(mesh.get_surface_area() / spacing ** 2))
    return np.asarray(mesh.sample_points_uniformly(number_of_points=max(count, 1)).points)


def surface_points(points, origins, *, cell: float, max_depth: int, density_quantile: float,
                   spacing: float, thin: float, normal_radius: float, normal_max_nn: int) -> np.ndarray:
    """Thin the cloud, orient normals, run Poisson, trim, sample: (M,3) float64 surface points in
    the input's frame. Fewer than 50 points: no surface (an empty array)."""
    keep = thin_points(points, thin)
    if len(keep) < 50:
        return np.zeros((0, 3))
    pts = np.asarray(points)[keep]
    normals = oriented_normals(pts, np.asarray(origins)[keep], normal_radius, normal_max_nn)
    depth = poisson_depth(pts, cell, max_depth)
    return sample_mesh(poisson_mesh(pts, normals, depth, density_quantile), spacing)


def occupied_voxels(grid: VoxelGrid, raw_points, surface=None, fill_radius: int = 1,
                    fill_radius_xy: int | None = None) -> np.ndarray:
    """(X,Y,Z) bool: voxels holding a raw point, united with the voxels of `surface` points that lie
    within an ellipsoid of `fill_radius_xy` voxels across (default `fill_radius`) and `fill_radius`
    voxels up and down of a raw voxel (a wider reach across bridges the gaps between LiDAR rings
    on the ground without inventing tall structures)."""
    raw = grid.voxelize(raw_points).astype(bool)
    if surface is None or len(surface) == 0:
        return raw
    mesh = grid.voxelize(surface).astype(bool)
    across = fill_radius if fill_radius_xy is None else fill_radius_xy
    return raw | (mesh & ndimage.binary_dilation(raw, structure=_ellipsoid(across, fill_radius)))


def _ellipsoid(across: int, vertical: int) -> np.ndarray:
    """(2a+1, 2a+1, 2v+1) bool structuring element: offsets within the ellipsoid of radii a, a, v."""
    dx, dy, dz = np.ogrid[-across:across + 1, -across:across + 1, -vertical:vertical + 1]
    return (dx / max(across, 1e-9)) ** 2 + (dy / max(across, 1e-9)) ** 2 + (dz / max(vertical, 1e-9)) ** 2 <= 1 + 1e-9


def batched_surface_points(clouds: list, gap: float = 3.0, **surface_kwargs) -> list:
    """Poisson surfaces of many small clouds in one reconstruction (its fixed cost dominates
    per-object runs): each cloud, given as (points (N,3), origins (N,3)) around its own origin,
    is shifted to its own cell of a square layout `gap` metres apart, reconstructed together
    with `surface_points(**surface_kwargs)`, and the samples are shifted back per cell.
    Returns one (M,3) float64 array per cloud, in that cloud's frame."""
    if not clouds:
        return []
    reach = max(float(np.max(np.abs(points))) for points, _ in clouds if len(points)) if any(
        len(points) for points, _ in clouds) else 0.0
    pitch = 2 * reach + gap
    columns = int(np.ceil(np.sqrt(len(clouds))))
    offsets = np.array([[(i % columns) * pitch, (i // columns) * pitch, 0.0] for i in range(len(clouds))])
    shifted = np.concatenate([points + offsets[i] for i, (points, _) in enumerate(clouds)])
    origins = np.concatenate([origin + offsets[i] for i, (_, origin) in enumerate(clouds)])
    samples = surface_points(shifted, origins, **surface_kwargs)
    cell = np.floor(samples[:, :2] / pitch + 0.5).astype(np.int64)
    owner = np.where((cell >= 0).all(axis=1) & (cell[:, 0] < columns), cell[:, 1] * columns + cell[:, 0], -1)
    return [samples[owner == i] - offsets[i] for i in range(len(clouds))]


def fill_object_columns(grid: VoxelGrid, semantics, boxes, whole_box: bool = False) -> int:
    """Make objects solid, in place. Inside each box (ego frame), every voxel column holding
    voxels of the box's class is filled with that class from the object's lowest such voxel up to
    the column's highest (LiDAR sees an object's shell, mostly from above and the sides). With
    `whole_box`, every column whose centre lies within half a voxel of the box is filled from the
    object's lowest voxel to the box's top instead (box-shaped objects: vehicles). Boxes without
    any voxel of their class are left alone. `semantics` (X,Y,Z) uint8. Returns voxels changed."""
    changed = 0
    corners = boxes.corners()
    margin = grid.voxel_size / 2 if whole_box else 0.0
    for k in range(len(boxes)):
        index = _voxels_in_box(grid, boxes, k, corners[k], margin)
        if len(index) == 0:
            continue
        is_object = semantics[tuple(index.T)] == boxes.class_ids[k]
        if not is_object.any():
            continue
        if whole_box:
            top = grid.point_to_index(corners[k].max(axis=0)[None])[0, 2]
        else:
            column = index[:, 0] * grid.shape[1] + index[:, 1]
            keys, slot = np.unique(column, return_inverse=True)
            highest = np.full(len(keys), -1)
            np.maximum.at(highest, slot[is_object], index[is_object, 2])
            top = highest[slot]
        fill = (index[:, 2] >= index[is_object, 2].min()) & (index[:, 2] <= top) & ~is_object
        semantics[tuple(index[fill].T)] = boxes.class_ids[k]
        changed += int(fill.sum())
    return changed


def _voxels_in_box(grid: VoxelGrid, boxes, k: int, corners, margin: float = 0.0) -> np.ndarray:
    """(n,3) int64 indices of the grid voxels whose centre lies inside box k grown by `margin`."""
    lower = np.clip(grid.point_to_index(corners.min(axis=0)[None] - margin)[0], 0, np.array(grid.shape) - 1)
    upper = np.clip(grid.point_to_index(corners.max(axis=0)[None] + margin)[0], 0, np.array(grid.shape) - 1)
    axes = [np.arange(lo, hi + 1) for lo, hi in zip(lower, upper)]
    index = np.stack(np.meshgrid(*axes, indexing='ij'), axis=-1).reshape(-1, 3)
    inside = boxes.subset([k]).contains(grid.index_to_center(index), margin)[0]
    return index[inside]


def thicken_surfaces(grid: VoxelGrid, semantics, origin, steps: int = 1) -> int:
    """Give surfaces depth, in place: each occupied voxel (id not 17) also fills the free voxels
    up to `steps` voxel lengths further along the ray from `origin` (3,) (ego frame, metres, the
    LiDAR) through its centre, with its own id. LiDAR sees the front of solids; the matter behind
    a seen surface is occupied too. `semantics` (X,Y,Z) uint8. Returns the voxels filled."""
    index = np.argwhere(semantics != FREE_ID)
    if len(index) == 0 or steps <= 0:
        return 0
    centres = grid.index_to_center(index)
    away = centres - np.asarray(origin, dtype=np.float64)
    away /= np.maximum(np.linalg.norm(away, axis=1, keepdims=True), 1e-9)
    labels = semantics[tuple(index.T)]
    filled = 0
    for step in range(1, steps + 1):
        target = grid.point_to_index(centres + away * grid.voxel_size * step)
        valid = grid.valid_index(target)
        target, values = target[valid], labels[valid]
        free = semantics[tuple(target.T)] == FREE_ID
        semantics[tuple(target[free].T)] = values[free]
        filled += int(free.sum())
    return filled


GROUND_IDS = (11, 12, 13, 14)  # driveable_surface, other_flat, sidewalk, terrain


def fill_ground_gaps(grid: VoxelGrid, semantics, radius: float) -> int:
    """Close the gaps between LiDAR rings on the ground, in place: every column with no occupied
    voxel at all takes, at the same height, the ground voxel (ids 11-14) of the nearest column that
    has one, when that column is within `radius` metres. `semantics` (X,Y,Z) uint8. Returns the
    voxels filled."""
    if radius <= 0:
        return 0
    ground = np.isin(semantics, GROUND_IDS)
    has_ground = ground.any(axis=2)
    if not has_ground.any():
        return 0
    empty = ~(semantics != FREE_ID).any(axis=2)
    distance, (near_x, near_y) = ndimage.distance_transform_edt(~has_ground, return_indices=True)
    chosen = empty & (distance * grid.voxel_size <= radius)
    xs, ys = np.nonzero(chosen)
    sx, sy = near_x[xs, ys], near_y[xs, ys]
    level = np.argmax(ground[sx, sy], axis=1)  # the lowest ground voxel of the source column
    semantics[xs, ys, level] = semantics[sx, sy, level]
    return len(xs)
