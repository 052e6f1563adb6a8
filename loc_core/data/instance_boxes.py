"""Boxes from per-point instance ids, for sources without box annotations (SemanticKITTI), so the
dense-label stage can treat their objects as it treats nuScenes boxes.

* A standing object (no point of it marked moving anywhere in the sequence) gets ONE box, fitted in
  the world to its points from every frame, and that box is placed in every frame's ego frame:
  its points accumulate where they belong, like the static world, and the box makes it solid.
* A moving object gets a box per frame, fitted to that frame's points only, under an instance id
  unique to the frame (`<key>@<token>`): its points stay in their own scan instead of being smeared
  along its path across the world.
* Moving points without an instance id, or of an object with fewer than `MIN_POINTS` points in
  that scan, would get no box: they cannot be kept in their own scan and are dropped
  (`drop_unboxed_moving`), counted.

Box fit: the principal axis of the points' (x, y) gives the heading, the extents along it and
across it the length and width, the lowest and highest point the height (at least `MIN_SIZE`)."""
from __future__ import annotations

from collections import Counter

import numpy as np

from loc_core.data.boxes import Boxes
from loc_core.data.frame import Frame
from loc_core.geometry.transforms import invert, yaw_transform

MIN_POINTS = 5  # an instance seen with fewer points gets no box (its points stay static)
MIN_SIZE = 0.2  # metres, the smallest box side


def fit_box(points) -> tuple[np.ndarray, np.ndarray]:
    """(M,3) points in a z-up frame -> (pose (4,4) box -> frame, size (3,) w l h metres)."""
    pts = np.asarray(points, dtype=np.float64)
    xy = pts[:, :2] - pts[:, :2].mean(axis=0)
    if len(pts) >= 2 and np.ptp(xy, axis=0).max() > 1e-6:
        _, vectors = np.linalg.eigh(xy.T @ xy)
        axis = vectors[:, -1]
    else:
        axis = np.array([1.0, 0.0])
    yaw = float(np.arctan2(axis[1], axis[0]))
    along = pts[:, :2] @ np.array([np.cos(yaw), np.sin(yaw)])
    across = pts[:, :2] @ np.array([-np.sin(yaw), np.cos(yaw)])
    lo = np.array([along.min(), across.min(), pts[:, 2].min()])
    hi = np.array([along.max(), across.max(), pts[:, 2].max()])
    mid = (lo + hi) / 2
    centre_xy = mid[0] * np.array([np.cos(yaw), np.sin(yaw)]) + mid[1] * np.array([-np.sin(yaw), np.cos(yaw)])
    length, width, height = np.maximum(hi - lo, MIN_SIZE)
    return yaw_transform(centre_xy[0], centre_xy[1], mid[2], yaw), np.array([width, length, height])


def _majority(labels) -> int:
    values, counts = np.unique(labels, return_counts=True)
    return int(values[np.argmax(counts)])


def drop_unboxed_moving(frame: Frame) -> tuple[Frame, int]:
    """The frame without its moving points that would get no box (no instance id, or fewer than
    `MIN_POINTS` points of their object in this frame) -> (frame, points dropped)."""
    if frame.point_moving is None or frame.point_instance_ids is None:
        return frame, 0
    ids = frame.point_instance_ids
    keys, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    drop = frame.point_moving & ((ids < 0) | (counts[inverse] < MIN_POINTS))
    if not drop.any():
        return frame, 0
    keep = ~drop
    subset = {name: getattr(frame, name)[keep] for name in ('points', 'intensity', 'point_labels',
                                                              'point_instance_ids', 'point_moving')}
    ring = None if frame.ring is None else frame.ring[keep]
    kept = Frame(timestamp_ns=frame.timestamp_ns, lidar_to_ego=frame.lidar_to_ego, ego_to_world=frame.ego_to_world,
                 cameras=frame.cameras, ring=ring, boxes=frame.boxes, occupancy=frame.occupancy, scene=frame.scene,
                 token=frame.token, is_keyframe=frame.is_keyframe, **subset)
    return kept, int(drop.sum())


def attach_instance_boxes(frames: list[Frame]) -> Counter:
    """Give every frame `boxes` (ego frame) from its points' instance ids, in place (see the module
    docstring). Frames without instance ids keep their boxes. -> counts of the boxes made."""
    report = Counter()
    world_points, labels, moving = {}, {}, set()
    for frame in frames:
        if frame.point_instance_ids is None:
            continue
        world = frame.points_world()
        for key in np.unique(frame.point_instance_ids[frame.point_instance_ids >= 0]):
            mine = frame.point_instance_ids == key
            world_points.setdefault(int(key), []).append(world[mine])
            labels.setdefault(int(key), []).append(frame.point_labels[mine])
            if frame.point_moving is not None and frame.point_moving[mine].any():
                moving.add(int(key))
    standing = {}
    for key, parts in world_points.items():
        points = np.concatenate(parts)
        if key in moving or len(points) < MIN_POINTS:
            continue
        pose, size = fit_box(points)
        standing[key] = (pose, size, _majority(np.concatenate(labels[key])))
    report['standing_objects'] = len(standing)
    for frame in frames:
        if frame.point_instance_ids is None:
            continue
        poses, sizes, classes, names = [], [], [], []
        world_to_ego = invert(frame.ego_to_world)
        for key, (pose, size, class_id) in standing.items():
            poses.append(world_to_ego @ pose)
            sizes.append(size)
            classes.append(class_id)
            names.append(str(key))
        ego = frame.points_ego()
        for key in sorted(moving):
            mine = frame.point_instance_ids == key
            if mine.sum() < MIN_POINTS:
                continue
            pose, size = fit_box(ego[mine])
            poses.append(pose)
            sizes.append(size)
            classes.append(_majority(frame.point_labels[mine]))
            names.append(f'{key}@{frame.token}')
            report['moving_boxes'] += 1
        frame.boxes = Boxes(np.stack(poses), sizes, classes, names) if poses else Boxes.empty()
    return report

