"""`SyntheticSource`: the synthetic world as a source of `Frame`s, exactly like `NuScenesSource`
(six cameras, LiDAR in its own frame, boxes in the ego frame), plus exact labels: per-point and
per-pixel classes, instance ids, and Occ3D occupancy with masks and open-set ids.

Deterministic: the town comes from `numpy.random.default_rng(seed)`, and each frame's sensor
noise from a generator seeded with (seed, frame index), so frame(i) is the same bytes in any order.
A town is built for max(num_frames, 40) frames, so sources of one seed with up to 40 frames give
identical common frames; longer sequences get a longer (different) town.

Ids: a point's `point_instance_ids` value i (>= 0) is the town object whose box has the instance
id `instance_token(i)` = 'synth-s{seed}-obj{i}'; -1 marks stuff (road, buildings, vegetation...).
Novel objects are class 0 in points, pixels, boxes and `semantics`; `semantics_open` keeps their
novel id (`NOVEL_CLASSES`). Timestamps start at BASE_TIME_NS and step by `frame_interval_s`."""
from __future__ import annotations

import numpy as np

from loc_core.data.boxes import Boxes
from loc_core.data.frame import CameraView, Frame
from loc_core.geometry.transforms import apply_rotation, apply_transform, compose, invert, yaw_transform
from loc_core.sim.assets import parts_extent
from loc_core.sim.cameras import render_cameras
from loc_core.sim.config import SimConfig
from loc_core.sim.ground_truth import CameraVisibility, lidar_mask, make_labels, semantic_occupancy
from loc_core.sim.lidar import lidar_origin_ego, lidar_to_ego, simulate_lidar
from loc_core.sim.novel import NOVEL_CLASSES
from loc_core.sim.scene import World
from loc_core.sim.town import build_town

BASE_TIME_NS = 1_600_000_000 * 10**9  # the first frame of every sequence, like a nuScenes epoch time
BOX_RANGE = 70.0  # boxes are given for objects whose centre is this close to the ego, metres
_VISIBILITY_CACHE: dict = {}  # (grid, camera config) -> CameraVisibility, one entry


class SyntheticSource:
    """`num_frames` frames of the town of `seed`, `config.frame_interval_s` apart."""

    def __init__(self, seed: int, num_frames: int = 20, config: SimConfig | None = None):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f'seed must be a non-negative integer, got {seed!r}')
        if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
            raise ValueError(f'num_frames must be a positive integer, got {num_frames!r}')
        self.seed, self.num_frames = int(seed), int(num_frames)
        self.config = config if config is not None else SimConfig()
        if not isinstance(self.config, SimConfig):
            raise TypeError(f'config must be a SimConfig, got {type(self.config).__name__}')
        self.world = World(build_town(self.seed, self.num_frames, self.config))
        self._box_local = [_box_in_object(o.asset.parts) for o in self.world.town.objects]

    @staticmethod
    def novel_classes() -> dict[int, str]:
        """Novel object ids (>= 20) -> text names (see `loc_core.sim.novel`)."""
        return dict(NOVEL_CLASSES)

    @property
    def scene_name(self) -> str:
        return f'synth-s{self.seed}'

    @property
    def has_novel_objects(self) -> bool:
        return self.world.town.has_novel

    def __len__(self) -> int:
        return self.num_frames

    def __iter__(self):
        for index in range(self.num_frames):
            yield self.frame(index)

    def frame(self, index: int) -> Frame:
        """Frame `index` (0-based; negative counts from the end)."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f'frame index must be an integer, got {index!r}')
        if not -self.num_frames <= index < self.num_frames:
            raise IndexError(f'frame {index} out of range for {self.num_frames} frames')
        index %= self.num_frames
        cfg = self.config
        t = index * cfg.frame_interval_s
        rng = np.random.default_rng([self.seed, index])
        motion = self.world.motion
        ego_to_town = motion.ego_to_town(t)
        snapshot = self.world.snapshot(t)
        scan = simulate_lidar(snapshot, ego_to_town, cfg.lidar, rng)
        images = render_cameras(snapshot, ego_to_town, cfg.camera)
        timestamp = BASE_TIME_NS + int(round(t * 1e9))
        cameras = [CameraView(name=im.name, image=im.image, intrinsics=im.intrinsics, cam_to_ego=im.cam_to_ego,
                              jpeg=None, timestamp_ns=timestamp, pixel_labels=im.pixel_labels) for im in images]
        mount = lidar_to_ego(cfg.lidar)
        semantics, semantics_open = semantic_occupancy(snapshot, ego_to_town, cfg.grid)
        # the ego's own roof returns are not part of the scene: ground truth ignores them
        mask_lidar = lidar_mask(cfg.grid, lidar_origin_ego(cfg.lidar), apply_transform(mount, scan.points[~scan.ego]))
        mask_camera = self._camera_mask(images)
        return Frame(
            timestamp_ns=timestamp, points=scan.points, intensity=scan.intensity,
            lidar_to_ego=mount, ego_to_world=motion.ego_to_world(t), cameras=cameras, ring=scan.ring,
            point_labels=scan.class_ids, point_instance_ids=scan.instance_ids,
            boxes=self._boxes(t, ego_to_town),
            occupancy=make_labels(semantics, semantics_open, mask_lidar, mask_camera),
            scene=self.scene_name, token=f'{self.scene_name}-f{index:04d}', is_keyframe=True)

    def instance_token(self, object_index: int) -> str:
        """The stable box instance id of town object `object_index` (= a point's instance id)."""
        return f'synth-s{self.seed}-obj{int(object_index)}'

    def _boxes(self, t: float, ego_to_town: np.ndarray) -> Boxes:
        world = self.world
        poses = world.motion.object_poses(t)
        ego_xy = ego_to_town[:2, 3]
        near = np.hypot(poses[:, 0] - ego_xy[0], poses[:, 1] - ego_xy[1]) <= BOX_RANGE
        idx = np.flatnonzero(world.is_thing & near)
        if len(idx) == 0:
            return Boxes.empty()
        town_to_ego = invert(ego_to_town)
        box_poses, sizes = [], []
        for i in idx:
            offset, size = self._box_local[i]
            obj_to_town = yaw_transform(poses[i, 0], poses[i, 1], world.motion.base_z[i], poses[i, 2])
            box_poses.append(compose(town_to_ego, obj_to_town, yaw_transform(*offset, 0.0)))
            sizes.append(size)
        velocities = apply_rotation(town_to_ego, world.motion.object_velocities()[idx])
        return Boxes(np.stack(box_poses), np.array(sizes), world.class_ids[idx],
                     np.array([self.instance_token(i) for i in idx]), velocities)

    def _camera_mask(self, images) -> np.ndarray:
        key = (self.config.grid, self.config.camera)
        if key not in _VISIBILITY_CACHE:  # the rig and the grid fix it: shared by all sources
            rig = [(im.name, im.intrinsics, im.cam_to_ego, (im.image.shape[1], im.image.shape[0])) for im in images]
            _VISIBILITY_CACHE.clear()
            _VISIBILITY_CACHE[key] = CameraVisibility(self.config.grid, rig)
        return _VISIBILITY_CACHE[key].mask([im.depth for im in images])


def _box_in_object(parts: np.ndarray) -> tuple[tuple, np.ndarray]:
    """((x, y, z) box centre in the object frame, (w, l, h) nuScenes size) of an asset's parts."""
    lower, upper = parts_extent(parts)
    centre = (lower + upper) / 2
    extent = upper - lower
    return tuple(centre), np.array([extent[1], extent[0], extent[2]])
