"""Multi-frame LiDAR fusion: ego-vehicle point removal, the static/dynamic split by (enlarged)
boxes, accumulation of static points in the world frame and of each object's points in its own box
frame, and placing both back into one keyframe's ego frame.

Every fused point keeps its label (Occ3D id, 255 = unlabelled), the position of the LiDAR that saw
it (for normal orientation and ray casting) and the index of its source frame."""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from loc_core.data.boxes import Boxes
from loc_core.data.frame import Frame
from loc_core.data.vocabulary import UNLABELLED_ID
from loc_core.geometry.transforms import apply_transform, invert
from loc_core.gt.config import DenseLabelConfig

LOG = logging.getLogger(__name__)


@dataclass
class PointSet:
    """Points with their provenance, all in one frame. `points` (N,3) float64 metres; `origins`
    (N,3) float64 position of the LiDAR that measured each point, same frame; `labels` (N,) uint8
    Occ3D ids (255 = unlabelled); `frame_index` (N,) int32 index of the source frame."""

    points: np.ndarray
    origins: np.ndarray
    labels: np.ndarray
    frame_index: np.ndarray

    @classmethod
    def empty(cls) -> 'PointSet':
        return cls(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, np.uint8), np.zeros(0, np.int32))

    @classmethod
    def concatenate(cls, parts: list['PointSet']) -> 'PointSet':
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, name) for p in parts])
                     for name in ('points', 'origins', 'labels', 'frame_index')))

    def __len__(self) -> int:
        return len(self.points)

    def subset(self, keep) -> 'PointSet':
        return PointSet(self.points[keep], self.origins[keep], self.labels[keep], self.frame_index[keep])

    def transformed(self, a_to_b) -> 'PointSet':
        return PointSet(apply_transform(a_to_b, self.points), apply_transform(a_to_b, self.origins),
                        self.labels, self.frame_index)


@dataclass
class FusedSequence:
    """A whole sequence, fused. `static` in the world frame; `objects[instance_id]` in that object's
    box frame with `object_classes[instance_id]` its Occ3D id; `ego_to_world` (F,4,4) per frame;
    `boxes[f]` frame f's boxes (ego frame) or None; `report` counts of dropped/kept items."""

    static: PointSet
    objects: dict
    object_classes: dict
    ego_to_world: np.ndarray
    boxes: list
    report: Counter = field(default_factory=Counter)

    @property
    def num_frames(self) -> int:
        return len(self.ego_to_world)

    def keyframe_points(self, keyframe: int, frames, grid, crop_margin: float,
                        margin: float) -> tuple[PointSet, PointSet]:
        """The fused points seen from frame `keyframe`'s ego frame, as (static, objects): static
        points of `frames` (indices) except those inside this keyframe's boxes (grown by `margin`),
        and every tracked object placed with this keyframe's box poses; both cropped to the grid
        range grown by `crop_margin` metres."""
        lower, upper = grid.lower - crop_margin, grid.upper + crop_margin

        def crop(points: PointSet) -> PointSet:
            return points.subset(np.all((points.points >= lower) & (points.points < upper), axis=1))

        world_to_ego = invert(self.ego_to_world[keyframe])
        frames = np.asarray(frames)
        static = self.static
        if len(np.setdiff1d(np.arange(self.num_frames), frames)):
            static = static.subset(np.isin(static.frame_index, frames))
        static = crop(static.transformed(world_to_ego))
        boxes = self.boxes[keyframe]
        if boxes is None or len(boxes) == 0:
            return static, PointSet.empty()
        static = static.subset(box_membership(boxes, static.points, margin) < 0)
        placed = [self._placed_object(boxes, k) for k in range(len(boxes))]
        return static, crop(PointSet.concatenate([p for p in placed if p is not None]))

    def _placed_object(self, boxes: Boxes, k: int) -> PointSet | None:
        track = self.objects.get(str(boxes.instance_ids[k]))
        return None if track is None else track.transformed(boxes.poses[k])


def ego_point_mask(points_ego, ego_box) -> np.ndarray:
    """(N,3) ego-frame points -> (N,) bool: inside the ego vehicle's box (to remove)."""
    if ego_box is None:
        return np.zeros(len(points_ego), dtype=bool)
    box = np.asarray(ego_box)
    return np.all((points_ego >= box[:3]) & (points_ego <= box[3:]), axis=1)


def box_membership(boxes: Boxes, points, margin: float) -> np.ndarray:
    """(N,3) points (the boxes' frame) -> (N,) int64 index of the first box containing each point,
    -1 if none. Boxes grow by `margin` metres on their sides and top but not below their bottom,
    so the ground under an object stays static."""
    pts = np.asarray(points, dtype=np.float64)
    out = np.full(len(pts), -1, dtype=np.int64)
    if boxes is None or len(boxes) == 0 or len(pts) == 0:
        return out
    reach = np.linalg.norm(boxes.sizes, axis=1) / 2 + margin
    candidates = _near_any_box(pts, boxes.centers, reach)
    candidate_points = pts[candidates]
    to_box = invert(boxes.poses)
    for k in range(len(boxes)):
        near = candidates[np.all(np.abs(candidate_points - boxes.centers[k]) <= reach[k], axis=1)]
        if len(near) == 0:
            continue
        local = apply_transform(to_box[k], pts[near])
        width, length, height = boxes.sizes[k]
        inside = ((np.abs(local[:, 0]) <= length / 2 + margin) & (np.abs(local[:, 1]) <= width / 2 + margin)
                  & (local[:, 2] >= -height / 2) & (local[:, 2] <= height / 2 + margin))
        hit = near[inside]
        out[hit[out[hit] < 0]] = k
    return out


def _near_any_box(points, centers, reach, cell: float = 1.0) -> np.ndarray:
    """Indices of the points whose (x, y) fall in a `cell`-metre map cell touched by any box's
    bounding square: one pass over the points, so that per-box tests see only a few of them."""
    lower = np.floor((centers[:, :2] - reach[:, None]) / cell).astype(np.int64)
    upper = np.floor((centers[:, :2] + reach[:, None]) / cell).astype(np.int64)
    origin, size = lower.min(axis=0), upper.max(axis=0) - lower.min(axis=0) + 1
    touched = np.zeros(tuple(size), dtype=bool)
    for lo, hi in zip(lower - origin, upper - origin):
        touched[lo[0]:hi[0] + 1, lo[1]:hi[1] + 1] = True
    cells = np.floor(points[:, :2] / cell).astype(np.int64) - origin
    inside = np.all((cells >= 0) & (cells < size), axis=1)
    index = np.flatnonzero(inside)
    return index[touched[cells[index, 0], cells[index, 1]]]


def clean_frame_points(frame: Frame, config: DenseLabelConfig, report: Counter):
    """One frame's usable points: (points_ego (N,3) float64, labels (N,) uint8), without non-finite
    points and the ego vehicle's own returns; counts what it drops in `report`."""
    points = frame.points_ego().astype(np.float64)
    labels = (np.full(len(points), UNLABELLED_ID, np.uint8) if frame.point_labels is None
              else np.asarray(frame.point_labels, dtype=np.uint8))
    finite = np.all(np.isfinite(points), axis=1)
    report['non_finite_points'] += int((~finite).sum())
    ego = ego_point_mask(points, config.ego_box) & finite
    report['ego_vehicle_points'] += int(ego.sum())
    keep = finite & ~ego
    return points[keep], labels[keep]


def fuse_sequence(frames: list[Frame], config: DenseLabelConfig) -> FusedSequence:
    """Fuse a time-ordered list of Frames (see the module docstring). Frames with fewer than
    `config.min_points` usable points contribute nothing (counted as `tiny_clouds`)."""
    report = Counter()
    static_parts, object_parts, object_classes = [], {}, {}
    for index, frame in enumerate(frames):
        points, labels = clean_frame_points(frame, config, report)
        if len(points) < config.min_points:
            report['tiny_clouds'] += 1
            LOG.warning('frame %d (%s): %d usable points, below min_points=%d; not fused',
                        index, frame.token or frame.timestamp_ns, len(points), config.min_points)
            continue
        origin = frame.lidar_to_ego[:3, 3][None].repeat(len(points), axis=0)
        ego_points = PointSet(points, origin, labels, np.full(len(points), index, np.int32))
        boxes = frame.boxes if config.dynamic_objects else None
        if boxes is None or len(boxes) == 0:
            report['frames_without_boxes'] += int(frame.boxes is None or len(frame.boxes) == 0)
            static_parts.append(ego_points.transformed(frame.ego_to_world))
            continue
        member = box_membership(boxes, points, config.box_margin)
        static_parts.append(ego_points.subset(member < 0).transformed(frame.ego_to_world))
        report['dynamic_points'] += int((member >= 0).sum())
        _accumulate_objects(ego_points, member, boxes, object_parts, object_classes)
    objects = {key: PointSet.concatenate(parts) for key, parts in object_parts.items()}
    poses = np.stack([f.ego_to_world for f in frames]) if frames else np.zeros((0, 4, 4))
    return FusedSequence(PointSet.concatenate(static_parts), objects, object_classes, poses,
                         [f.boxes if config.dynamic_objects else None for f in frames], report)


def _accumulate_objects(ego_points: PointSet, member, boxes: Boxes, object_parts, object_classes):
    """Move each box's points into its box frame and append them to that instance's track; object
    points take the box's class as their label."""
    to_box = invert(boxes.poses)
    for k in np.unique(member[member >= 0]):
        inside = ego_points.subset(member == k).transformed(to_box[k])
        instance = str(boxes.instance_ids[k])
        inside.labels = np.full(len(inside), boxes.class_ids[k], np.uint8)
        object_parts.setdefault(instance, []).append(inside)
        object_classes[instance] = int(boxes.class_ids[k])
