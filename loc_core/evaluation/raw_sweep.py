"""The trivial baseline every real-data report prints beside the network: `raw_sweep`, the frame's
own LiDAR points voxelised in the ego grid, no network. A voxel holding at least one point is
occupied, every other voxel free; it names no class, so only its class-free figures are reported
(geometry IoU, precision and recall inside each mask, occupied voxels per frame against the labels',
and for labelled points the share in occupied voxels). It is scored by the same code as the network
(frame_scores.PromptSetScores), on the same frames and grid. With `loc-eval --accumulate K` the
frame's input holds the earlier frames' points too, and so does this baseline (it voxelises exactly
what the network is given). A network that cannot beat it inside a mask adds nothing to its input
there."""
from __future__ import annotations

import numpy as np

from loc_core.data.vocabulary import FREE_ID
from loc_core.evaluation.frame_scores import PromptSetScores

OCCUPIED_ID = 0  # the Occ3D id written into occupied voxels ('others': occupied, no class claimed)


def raw_sweep_semantics(frame, grid) -> np.ndarray:
    """(X,Y,Z) uint8 Occ3D ids on `grid` (a VoxelGrid in the frame's ego frame): OCCUPIED_ID in every
    voxel holding a point of `frame.points_ego()`, FREE_ID elsewhere; points outside the grid are
    ignored."""
    return grid.voxelize(frame.points_ego(), values=np.full(len(frame.points), OCCUPIED_ID, np.uint8),
                         fill=FREE_ID, dtype=np.uint8)


class RawSweepBaseline:
    """Accumulates the baseline over frames. Call it with `(frame, semantics, grid)` like
    evaluator.evaluate's `on_prediction` (the network's `semantics` are not used); `scores` is a
    PromptSetScores that decides what is scored (masks; points and their classes)."""

    def __init__(self, scores: PromptSetScores):
        self.scores = scores
        self.last: PromptSetScores | None = None  # the latest frame's scores alone
        self.last_occupied = 0  # the latest frame's occupied voxels, whole grid

    def __call__(self, frame, semantics, grid) -> None:
        here = self.scores.empty()
        occupancy = raw_sweep_semantics(frame, grid)
        here.add(frame, occupancy, grid)
        self.scores.merge(here)
        self.last, self.last_occupied = here, int((occupancy != FREE_ID).sum())

    def last_record(self) -> dict | None:
        """The latest frame's figures for a per-frame line: {'mask_camera', 'mask_lidar': geometry IoU
        (percent) or None (no dense labels, or an empty mask), 'occupied_predicted': occupied voxels
        in the whole grid}; None before the first frame."""
        if self.last is None:
            return None
        record = {name: metrics.geometry_summary()['geometry_iou'] if metrics.frames else None
                  for name, metrics in self.last.masks.items()}
        record['occupied_predicted'] = self.last_occupied
        return record

    def summary(self) -> dict:
        """PromptSetScores.geometry_summary: mask_camera's figures at the top level, 'mask_lidar',
        and 'points' when points are scored."""
        return self.scores.geometry_summary()
