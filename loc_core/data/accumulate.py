"""Multi-keyframe LiDAR input: each frame with the points of up to K frames before it in the same
scene, moved into its own LiDAR frame by the ego poses (the multi-sweep input of nuScenes LiDAR
networks, here from whatever earlier frames a source holds: keyframes when the sweep blobs are
absent). A single sweep leaves most of the grid's columns without a return; earlier positions see
some of them (docs/benchmarks-history.md, "Real data").

Only for sources whose `ego_to_world` is a real pose (nuScenes, lidarseg, synthetic, bags of them);
a live ROS frame carries the identity there, and stacking its scans would smear the scene. Earlier
points keep their intensity; their point labels become 255 (not scored), their ring and instance
ids are dropped. Moving objects leave trails, as in every multi-sweep input."""
from __future__ import annotations

from collections import deque
from dataclasses import replace

import numpy as np

from loc_core.data.frame import Frame
from loc_core.data.vocabulary import UNLABELLED_ID
from loc_core.geometry.transforms import apply_transform, compose, invert


def with_earlier_points(frame: Frame, earlier) -> Frame:
    """`frame` with the points of the Frames `earlier` appended, each moved from its LiDAR frame at
    its capture into `frame`'s LiDAR frame (float32, metres)."""
    earlier = list(earlier)
    if not earlier:
        return frame
    to_current = invert(frame.lidar_to_world)
    points = [frame.points] + [apply_transform(compose(to_current, old.lidar_to_world), old.points).astype(np.float32)
                               for old in earlier]
    intensity = [frame.intensity] + [old.intensity for old in earlier]
    added = sum(len(old.points) for old in earlier)
    labels = None if frame.point_labels is None else np.concatenate(
        [frame.point_labels, np.full(added, UNLABELLED_ID, frame.point_labels.dtype)])
    return replace(frame, points=np.concatenate(points), intensity=np.concatenate(intensity), ring=None,
                   point_labels=labels, point_instance_ids=None)


def earlier_point_ages(own_points: int, earlier) -> np.ndarray:
    """(N,) uint8 age of every point of `with_earlier_points(frame, earlier)`, in frames: 0 for the
    frame's `own_points` points, then len(earlier) - j for the points of `earlier[j]` (the list is
    oldest first)."""
    earlier = list(earlier)
    parts = [np.zeros(own_points, np.uint8)] + [np.full(len(old.points), len(earlier) - j, np.uint8)
                                                for j, old in enumerate(earlier)]
    return np.concatenate(parts)


class PointAccumulator:
    """Called on the frames of a sequence in time order: each returned with the points of up to
    `keyframes` frames before it in the same scene (a new scene, or a stamp going backwards,
    starts over). `keyframes` 0 returns every frame unchanged. `last_ages` holds the
    `earlier_point_ages` of the frame returned last."""

    def __init__(self, keyframes: int):
        if keyframes < 0:
            raise ValueError(f'keyframes must be >= 0, got {keyframes}')
        self.keyframes = keyframes
        self._history: deque[Frame] = deque(maxlen=max(keyframes, 1))
        self.last_ages = np.zeros(0, np.uint8)

    def __call__(self, frame: Frame) -> Frame:
        if self.keyframes == 0:
            self.last_ages = np.zeros(len(frame.points), np.uint8)
            return frame
        if self._history and (self._history[-1].scene != frame.scene
                              or self._history[-1].timestamp_ns > frame.timestamp_ns):
            self._history.clear()
        out = with_earlier_points(frame, self._history)
        self.last_ages = earlier_point_ages(len(frame.points), self._history)
        self._history.append(frame)
        return out


def accumulate(frames, keyframes: int):
    """Generator: `PointAccumulator(keyframes)` over an iterable of Frames."""
    accumulator = PointAccumulator(keyframes)
    for frame in frames:
        yield accumulator(frame)
