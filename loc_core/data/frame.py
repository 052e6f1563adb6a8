"""`Frame`: the one currency between sources (nuScenes, synthetic world, bags, live ROS) and
everything downstream (dense labels, training, inference, the node).

Frames and conventions:
* LiDAR points are in the LiDAR frame; `lidar_to_ego` maps them into the ego (base_link) frame
  at the LiDAR's capture time; `ego_to_world` places that ego frame in the world.
* Each camera's `cam_to_ego` maps its optical frame (x right, y down, z forward) into that same
  ego frame (for nuScenes this folds in the ego motion between camera and LiDAR capture).
* Boxes are expressed in the ego frame. All lengths are metres, transforms (4,4) float64.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from loc_core.data.boxes import Boxes
from loc_core.data.occ3d_io import Occ3DLabels
from loc_core.geometry.transforms import apply_transform, compose


@dataclass
class CameraView:
    """One camera image with its calibration.

    `image` (H,W,3) uint8 RGB; `intrinsics` (3,3) float64 K in pixels of this image;
    `cam_to_ego` (4,4) float64; `jpeg` the original compressed bytes when the source had them;
    `timestamp_ns` the image's capture time (0 = the frame's)."""

    name: str
    image: np.ndarray
    intrinsics: np.ndarray
    cam_to_ego: np.ndarray
    jpeg: bytes | None = None
    timestamp_ns: int = 0
    pixel_labels: np.ndarray | None = None  # (H,W) uint8 Occ3D ids, where a source knows them

    def __post_init__(self):
        self.intrinsics = np.asarray(self.intrinsics, dtype=np.float64)
        self.cam_to_ego = np.asarray(self.cam_to_ego, dtype=np.float64)
        if self.intrinsics.shape != (3, 3) or self.cam_to_ego.shape != (4, 4):
            raise ValueError(f'camera {self.name}: intrinsics must be (3,3) and cam_to_ego (4,4)')
        img = self.image
        if not (isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8):
            raise ValueError(f'camera {self.name}: image must be (H,W,3) uint8 RGB, got '
                             f'{getattr(img, "shape", None)} {getattr(img, "dtype", type(img))}')

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass
class Frame:
    """One synchronised capture.

    `points` (N,3) float32 LiDAR frame, metres; `intensity` (N,) float32; `ring` (N,) uint8 beam
    index or None; `point_labels` (N,) uint8 Occ3D ids (255 = unlabelled) or None;
    `point_instance_ids` (N,) int32 (-1 = none) or None; `boxes` in the ego frame or None;
    `point_moving` (N,) bool, True on points of objects the source knows were moving
    (SemanticKITTI's moving-* classes), or None; `occupancy` dense labels on the frame's grid (ego frame) or None."""

    timestamp_ns: int
    points: np.ndarray
    intensity: np.ndarray
    lidar_to_ego: np.ndarray
    ego_to_world: np.ndarray
    cameras: list[CameraView] = field(default_factory=list)
    ring: np.ndarray | None = None
    point_labels: np.ndarray | None = None
    point_instance_ids: np.ndarray | None = None
    boxes: Boxes | None = None
    occupancy: Occ3DLabels | None = None
    scene: str = ''
    token: str = ''
    is_keyframe: bool = True
    point_moving: np.ndarray | None = None

    def __post_init__(self):
        self.points = np.asarray(self.points, dtype=np.float32).reshape(-1, 3)
        n = len(self.points)
        self.intensity = np.asarray(self.intensity, dtype=np.float32).reshape(-1)
        self.lidar_to_ego = np.asarray(self.lidar_to_ego, dtype=np.float64)
        self.ego_to_world = np.asarray(self.ego_to_world, dtype=np.float64)
        if self.lidar_to_ego.shape != (4, 4) or self.ego_to_world.shape != (4, 4):
            raise ValueError('frame: lidar_to_ego and ego_to_world must be (4,4)')
        for name in ('intensity', 'ring', 'point_labels', 'point_instance_ids', 'point_moving'):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(f'frame: {name} has {len(value)} entries for {n} points')

    @property
    def lidar_to_world(self) -> np.ndarray:
        return compose(self.ego_to_world, self.lidar_to_ego)

    def points_ego(self) -> np.ndarray:
        """(N,3) float32 LiDAR points in the ego frame, metres."""
        return apply_transform(self.lidar_to_ego, self.points)

    def points_world(self) -> np.ndarray:
        """(N,3) float64 LiDAR points in the world frame, metres."""
        return apply_transform(self.lidar_to_world, self.points.astype(np.float64))

    def camera(self, name: str) -> CameraView:
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise KeyError(f'frame {self.token or self.timestamp_ns} has no camera {name!r} '
                       f'(has {[c.name for c in self.cameras]})')

    @property
    def camera_names(self) -> list[str]:
        return [cam.name for cam in self.cameras]
