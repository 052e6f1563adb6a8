"""Oriented 3D boxes, nuScenes convention: size (w, l, h) metres, the length along the box's own
x axis, width along y, height along z; the pose maps box coordinates (origin at the centre) into
the frame the boxes are expressed in."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from loc_core.geometry.transforms import invert, yaw_transform


@dataclass
class Boxes:
    """K boxes. `poses` (K,4,4) float64 box -> frame; `sizes` (K,3) float64 (w, l, h) metres;
    `class_ids` (K,) uint8 Occ3D ids; `instance_ids` (K,) str, stable across frames."""

    poses: np.ndarray
    sizes: np.ndarray
    class_ids: np.ndarray
    instance_ids: np.ndarray
    velocities: np.ndarray | None = field(default=None)  # (K,3) m/s in the same frame, optional

    def __post_init__(self):
        self.poses = np.asarray(self.poses, dtype=np.float64).reshape(-1, 4, 4)
        self.sizes = np.asarray(self.sizes, dtype=np.float64).reshape(-1, 3)
        self.class_ids = np.asarray(self.class_ids, dtype=np.uint8).reshape(-1)
        self.instance_ids = np.asarray(self.instance_ids, dtype=str).reshape(-1)
        k = len(self.poses)
        if not (len(self.sizes) == len(self.class_ids) == len(self.instance_ids) == k):
            raise ValueError('boxes: poses, sizes, class_ids and instance_ids must have the same length')
        if np.any(self.sizes < 0) or not np.all(np.isfinite(self.sizes)):
            raise ValueError('boxes: sizes must be finite and non-negative')

    def __len__(self) -> int:
        return len(self.poses)

    @classmethod
    def empty(cls) -> 'Boxes':
        return cls(np.zeros((0, 4, 4)), np.zeros((0, 3)), np.zeros(0, np.uint8), np.zeros(0, str))

    @classmethod
    def from_xyzwlhyaw(cls, boxes, class_ids, instance_ids) -> 'Boxes':
        """(K,7) [x, y, z, w, l, h, yaw] (yaw about +z, radians) -> Boxes."""
        arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
        poses = np.stack([yaw_transform(x, y, z, yaw) for x, y, z, _, _, _, yaw in arr]) if len(arr) \
            else np.zeros((0, 4, 4))
        return cls(poses, arr[:, 3:6], class_ids, instance_ids)

    @property
    def centers(self) -> np.ndarray:
        """(K,3) box centres, metres."""
        return self.poses[:, :3, 3]

    @property
    def yaws(self) -> np.ndarray:
        """(K,) heading of each box's x axis about +z, radians."""
        return np.arctan2(self.poses[:, 1, 0], self.poses[:, 0, 0])

    def to_xyzwlhyaw(self) -> np.ndarray:
        """(K,7) [x, y, z, w, l, h, yaw]; exact only for boxes rotated about z alone."""
        return np.concatenate([self.centers, self.sizes, self.yaws[:, None]], axis=1)

    def transformed(self, a_to_b) -> 'Boxes':
        """The same boxes expressed in frame b, given the (4,4) transform frame -> b."""
        poses = np.einsum('ij,kjl->kil', np.asarray(a_to_b, dtype=np.float64), self.poses)
        vel = None if self.velocities is None else self.velocities @ np.asarray(a_to_b)[:3, :3].T
        return Boxes(poses, self.sizes.copy(), self.class_ids.copy(), self.instance_ids.copy(), vel)

    def subset(self, keep) -> 'Boxes':
        vel = None if self.velocities is None else self.velocities[keep]
        return Boxes(self.poses[keep], self.sizes[keep], self.class_ids[keep], self.instance_ids[keep], vel)

    def points_in_box_frames(self, points) -> np.ndarray:
        """(N,3) points in the boxes' frame -> (K,N,3) float64 in each box's own frame."""
        inv = invert(self.poses)
        pts = np.asarray(points, dtype=np.float64)
        return np.einsum('kij,nj->kni', inv[:, :3, :3], pts) + inv[:, None, :3, 3]

    def contains(self, points, margin: float = 0.0) -> np.ndarray:
        """(N,3) points -> (K,N) bool: inside box k enlarged by `margin` metres on every side
        (boundaries inclusive, as nuScenes' `points_in_box`)."""
        local = self.points_in_box_frames(points)
        half = np.stack([self.sizes[:, 1], self.sizes[:, 0], self.sizes[:, 2]], axis=1) / 2 + margin
        return np.all(np.abs(local) <= half[:, None, :], axis=2)

    def point_box_index(self, points, margin: float = 0.0) -> np.ndarray:
        """(N,3) points -> (N,) int64: index of the (first) box containing each point, -1 if none.
        Memory-light: tests boxes one at a time against the points near them."""
        pts = np.asarray(points, dtype=np.float64)
        out = np.full(len(pts), -1, dtype=np.int64)
        half_extent = np.linalg.norm(self.sizes, axis=1) / 2 + margin
        for k in range(len(self)):
            near = np.flatnonzero(np.all(np.abs(pts - self.centers[k]) <= half_extent[k], axis=1))
            if len(near) == 0:
                continue
            inside = self.subset([k]).contains(pts[near], margin)[0]
            hit = near[inside]
            out[hit[out[hit] < 0]] = k
        return out

    def corners(self) -> np.ndarray:
        """(K,8,3) corner coordinates in the boxes' frame."""
        signs = np.array([[sx, sy, sz] for sx in (1, -1) for sy in (1, -1) for sz in (1, -1)], float)
        half = np.stack([self.sizes[:, 1], self.sizes[:, 0], self.sizes[:, 2]], axis=1) / 2
        local = signs[None] * half[:, None, :]
        return np.einsum('kij,knj->kni', self.poses[:, :3, :3], local) + self.centers[:, None, :]

