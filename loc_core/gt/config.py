"""`DenseLabelConfig`: every setting of the dense-label stage in one typed, validated dataclass.

Lengths are metres; the grid defaults to Occ3D-nuScenes' (200x200x16 voxels of 0.4 m, ego frame)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from loc_core.geometry.voxel_grid import OCC3D_RANGE, OCC3D_VOXEL_SIZE, VoxelGrid

# The ego vehicle's own body in its ego frame (nuScenes: origin at the rear axle, x forward):
# (xmin, ymin, zmin, xmax, ymax, zmax) metres. LiDAR returns inside it are removed.
NUSCENES_EGO_BOX = (-1.2, -1.1, -0.5, 4.2, 1.1, 2.2)
# SemanticKITTI (ego origin on the ground below the Velodyne): the car's own returns seen in the
# scans lie at x = 2.45-2.55 m, z = 0.8-0.9 m (the bonnet) and x = -1.1 to -0.5 m, |y| = 1.1-1.2 m,
# z = 1.2-1.3 m (the roof's rear edge and mirrors); the box encloses them with 0.1-0.2 m to spare.
KITTI_EGO_BOX = (-1.4, -1.3, 0.3, 2.7, 1.3, 1.5)


@dataclass(frozen=True)
class DenseLabelConfig:
    """Settings of `DenseLabelPipeline`. Defaults: the best stages of the ablation in docs/benchmarks-history.md
    ("Dense labels"); Poisson and surface thickening are off there because they stopped helping.

    Fusion: `window` keyframes on each side of a keyframe are fused (None = the whole sequence);
    `box_margin` enlarges boxes (sides and top; the bottom stays, so ground is not dragged along)
    for the static/dynamic split; `ego_box` is removed from every cloud; `dynamic_objects` turns the
    per-object accumulation on (off: every point is treated as static world geometry).
    Densification: `poisson` on/off; `poisson_cell` the finest Poisson octree cell in metres (the
    depth follows from the cloud's extent, capped at `max_poisson_depth`); `density_quantile` trims
    mesh vertices whose Poisson density is below that quantile; `mesh_spacing` the sampling step on
    the mesh; `fill_radius` (voxels up/down) and `fill_radius_xy` (voxels across) keep only mesh
    voxels that close to a voxel holding a real point (no invented surfaces far from data);
    `downsample` the cube size that thins the fused cloud before normals/Poisson; `scene_mesh`
    reconstructs the static world once per sequence and crops it per keyframe instead of once per
    keyframe (faster). With `object_meshes` objects get their own surface once per sequence, in
    their box frame, when they gathered `object_mesh_min_points` points (closed Poisson surfaces of
    sparse objects overfill them). Solids: `fill_objects` makes each box's object solid between
    its lowest and highest voxel per column (`fill_whole_boxes`: every column of the box up to its
    top); `thicken` gives every surface that many voxels of depth behind it, seen from the LiDAR;
    `ground_fill_radius` (metres) lets empty columns take the nearest ground voxel that close.
    Semantics: `knn_k` nearest labelled points vote within `knn_max_distance`.
    Masks: `lidar_mask_window` keyframes on each side whose rays are cast for `mask_lidar`;
    `ray_step` the marching step; `camera_mask_stride` the pixel stride of the rays cast from each
    camera for `mask_camera` (0: the largest stride whose neighbouring rays lie within half a voxel
    of each other at the grid's farthest corner; loc_core/gt/masks.py)."""

    point_range: tuple = OCC3D_RANGE
    voxel_size: float = OCC3D_VOXEL_SIZE
    window: int | None = None
    box_margin: float = 0.2
    ego_box: tuple | None = NUSCENES_EGO_BOX
    dynamic_objects: bool = True
    min_points: int = 10
    poisson: bool = False
    poisson_cell: float = 0.2
    max_poisson_depth: int = 10
    object_meshes: bool = False
    object_mesh_min_points: int = 500
    density_quantile: float = 0.02
    mesh_spacing: float = 0.15
    fill_radius: int = 1
    fill_radius_xy: int = 1
    downsample: float = 0.2
    normal_radius: float = 1.0
    normal_max_nn: int = 20
    scene_mesh: bool = True
    fill_objects: bool = True
    fill_whole_boxes: bool = True
    thicken: int = 0
    ground_fill_radius: float = 5.0
    knn_k: int = 5
    knn_max_distance: float = 1.0
    lidar_mask_window: int = 3
    ray_step: float = 0.2
    camera_mask_stride: int = 0

    def __post_init__(self):
        object.__setattr__(self, 'point_range', tuple(float(v) for v in self.point_range))
        if self.ego_box is not None:
            object.__setattr__(self, 'ego_box', tuple(float(v) for v in self.ego_box))
            if len(self.ego_box) != 6:
                raise ValueError(f'ego_box needs 6 numbers, got {len(self.ego_box)}')
        self.grid  # validates range and voxel size
        checks = {
            'window': self.window is None or self.window >= 0,
            'box_margin': self.box_margin >= 0,
            'min_points': self.min_points >= 0,
            'poisson_cell': self.poisson_cell > 0,
            'max_poisson_depth': 6 <= self.max_poisson_depth <= 14,
            'object_mesh_min_points': self.object_mesh_min_points >= 50,
            'density_quantile': 0 <= self.density_quantile < 1,
            'mesh_spacing': self.mesh_spacing > 0,
            'fill_radius': self.fill_radius >= 0,
            'fill_radius_xy': self.fill_radius_xy >= 0,
            'downsample': self.downsample >= 0,
            'normal_radius': self.normal_radius > 0,
            'normal_max_nn': self.normal_max_nn >= 3,
            'thicken': self.thicken >= 0,
            'ground_fill_radius': self.ground_fill_radius >= 0,
            'knn_k': self.knn_k >= 1,
            'knn_max_distance': self.knn_max_distance > 0,
            'lidar_mask_window': self.lidar_mask_window >= 0,
            'ray_step': 0 < self.ray_step <= self.voxel_size,
            'camera_mask_stride': self.camera_mask_stride >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError('invalid DenseLabelConfig: ' + ', '.join(f'{n}={getattr(self, n)!r}' for n in bad))

    @property
    def grid(self) -> VoxelGrid:
        return VoxelGrid(self.point_range, self.voxel_size)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> 'DenseLabelConfig':
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f'unknown DenseLabelConfig settings {unknown}; known: {sorted(known)}')
        return cls(**values)
