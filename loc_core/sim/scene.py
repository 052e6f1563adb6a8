"""`World`: the town plus its motion, and `Snapshot`: the world at one instant as solids (for the
ground truth) and as one open3d `RaycastingScene` (for the sensors), with the map from a ray's
hit triangle back to (class, instance, novel id)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from loc_core.data.vocabulary import FREE_ID
from loc_core.sim.assets import BOX
from loc_core.sim.mesh import triangulate
from loc_core.sim.motion import Motion

SENSOR_REACH = 95.0  # objects farther than this from the ego (metres) are left out of a snapshot
GROUND_PART = -1


class World:
    """A built town with per-object attribute arrays (K objects): `class_ids` (K,) uint8 (novel
    objects 0), `novel_ids` (K,) uint8 (0 = not novel), `instance_ids` (K,) int32 (object index
    for things, -1 for stuff), `albedo` (K,3) float64 RGB 0-1."""

    def __init__(self, town):
        self.town = town
        self.motion = Motion(town)
        objects = town.objects
        self.class_ids = np.array([o.asset.class_id for o in objects], dtype=np.uint8)
        self.novel_ids = np.array([o.asset.novel_id for o in objects], dtype=np.uint8)
        self.is_thing = np.array([o.asset.is_thing for o in objects], dtype=bool)
        self.paint = np.array([o.paint for o in objects], dtype=bool)
        self.instance_ids = np.where(self.is_thing, np.arange(len(objects)), -1).astype(np.int32)
        self.albedo = np.array([o.asset.albedo for o in objects], dtype=np.float64).reshape(-1, 3)
        counts = [len(o.asset.parts) for o in objects]
        self.local_parts = np.concatenate([o.asset.parts for o in objects]) if objects else np.zeros((0, 8))
        self.part_object = np.repeat(np.arange(len(objects)), counts)
        self.local_materials = (np.concatenate([o.asset.materials for o in objects]) if objects
                                else np.zeros(0, np.uint8))
        layout = town.layout
        self.ground_slab = np.array([BOX, (layout.x_min + layout.x_max) / 2, 0.0, -0.75,
                                     layout.x_max - layout.x_min + 10.0, 2 * layout.y_extent + 10.0, 1.5, 0.0])

    def snapshot(self, t: float) -> 'Snapshot':
        """Everything within SENSOR_REACH of the ego at time t, in the town frame."""
        ego_xy = self.motion.ego_pose(t)[:2]
        keep_obj = self.motion.near(t, ego_xy, SENSOR_REACH)
        keep = keep_obj[self.part_object]
        parts = self.local_parts[keep].copy()
        owner = self.part_object[keep]
        poses = self.motion.object_poses(t)[owner]
        c, s = np.cos(poses[:, 2]), np.sin(poses[:, 2])
        x, y = parts[:, 1].copy(), parts[:, 2].copy()
        parts[:, 1] = poses[:, 0] + c * x - s * y
        parts[:, 2] = poses[:, 1] + s * x + c * y
        parts[:, 3] += self.motion.base_z[owner]
        parts[:, 7] += poses[:, 2]
        return Snapshot(self, t, parts, owner, self.motion.object_poses(t), self.local_materials[keep])


@dataclass
class HitLabels:
    """Per ray: `class_ids` (N,) uint8 Occ3D ids (novel objects 0, misses FREE_ID),
    `instance_ids` (N,) int32 (-1 for stuff and misses), `novel_ids` (N,) uint8,
    `object_ids` (N,) int64 town object index (-1 ground, -2 miss), `materials` (N,) uint8
    material of the hit part (see `assets`; 0 on the ground and for misses)."""

    class_ids: np.ndarray
    instance_ids: np.ndarray
    novel_ids: np.ndarray
    object_ids: np.ndarray
    materials: np.ndarray


class Snapshot:
    """The world at time `t`: `parts` (P,8) solids in the town frame, `part_object` (P,) their
    object indices, `materials` (P,) their materials, `object_poses` (K,3) every object's
    [x, y, yaw]; `scene` ray-casts the parts plus the ground slab (top at z = 0, under the whole
    town)."""

    def __init__(self, world: World, t: float, parts: np.ndarray, part_object: np.ndarray, object_poses,
                 materials: np.ndarray):
        self.world, self.t, self.parts, self.part_object = world, t, parts, part_object
        self.materials = materials
        self.object_poses = object_poses
        verts, tris, owner = triangulate(np.vstack([parts, world.ground_slab[None]]))
        owner = np.where(owner == len(parts), GROUND_PART, owner)
        self.triangle_part = owner
        self.scene = o3d.t.geometry.RaycastingScene()
        if len(tris):
            self.scene.add_triangles(o3d.core.Tensor(verts), o3d.core.Tensor(tris))

    def cast(self, origins, directions) -> dict:
        """(N,3) origins and (N,3) directions (town frame, float) -> dict of numpy arrays:
        `t_hit` (N,) float32 (in units of each direction's length; inf = miss), `normals` (N,3)
        float32 of the hit triangles, `part` (N,) int64 (-1 ground, -2 miss)."""
        rays = np.concatenate([origins, directions], axis=-1).astype(np.float32)
        result = self.scene.cast_rays(o3d.core.Tensor(rays))
        t_hit = result['t_hit'].numpy()
        prim = result['primitive_ids'].numpy().astype(np.int64)
        hit = np.isfinite(t_hit)
        part = np.full(t_hit.shape, -2, dtype=np.int64)
        part[hit] = self.triangle_part[prim[hit]]
        return {'t_hit': t_hit, 'normals': result['primitive_normals'].numpy(), 'part': part}

    def label(self, part: np.ndarray, points_town: np.ndarray) -> HitLabels:
        """Labels for ray hits: `part` (N,) from `cast`, `points_town` (N,3) hit points (the
        ground's class comes from the ground raster at the hit's x, y)."""
        world = self.world
        n = len(part)
        obj = np.full(n, -2, dtype=np.int64)
        on_part = part >= 0
        obj[on_part] = self.part_object[part[on_part]]
        materials = np.zeros(n, dtype=np.uint8)
        materials[on_part] = self.materials[part[on_part]]
        obj[part == GROUND_PART] = -1
        class_ids = np.full(n, FREE_ID, dtype=np.uint8)
        instance_ids = np.full(n, -1, dtype=np.int32)
        novel_ids = np.zeros(n, dtype=np.uint8)
        is_obj = obj >= 0
        class_ids[is_obj] = world.class_ids[obj[is_obj]]
        instance_ids[is_obj] = world.instance_ids[obj[is_obj]]
        novel_ids[is_obj] = world.novel_ids[obj[is_obj]]
        on_ground = obj == -1
        class_ids[on_ground] = world.town.ground.classify(points_town[on_ground, :2])
        return HitLabels(class_ids, instance_ids, novel_ids, obj, materials)
