"""The 2D teacher in the label stage: painting a fused sequence's static points (`loc-gt --teacher`).

Only the static (world-frame) points are painted. Object points inside boxes keep their box's
class (boxes have priority where they exist); with no boxes every point is static, so the teacher
labels objects too. Points a source labelled (lidarseg, SemanticKITTI, the synthetic world) keep
their labels unless `TeacherConfig.overwrite`. Each frame's tracked objects, placed with that
frame's box poses, hide what lies behind them in its images."""
from __future__ import annotations

import numpy as np

from loc_core.data.vocabulary import UNLABELLED_ID
from loc_core.geometry.transforms import apply_transform
from loc_core.gt.fusion import FusedSequence
from loc_core.teacher.painting import PointPainter


def object_points_at(fused: FusedSequence, frame: int) -> np.ndarray:
    """(K,3) float64: every tracked object's accumulated points placed with frame `frame`'s box
    poses, in that frame's ego frame (metres); empty without boxes."""
    boxes = fused.boxes[frame]
    parts = [np.zeros((0, 3))]
    for k in range(0 if boxes is None else len(boxes)):
        track = fused.objects.get(str(boxes.instance_ids[k]))
        if track is not None:
            parts.append(apply_transform(boxes.poses[k], track.points))
    return np.concatenate(parts)


def paint_static_points(painter: PointPainter, fused: FusedSequence, frames) -> dict:
    """Paint `fused.static` in place (its `labels`) from the cameras of `frames` (the frames the
    sequence was fused from, same order). Returns the painting counts, plus `kept_source_labels`:
    points whose own label was kept over a painted one."""
    static = fused.static
    painted = painter.paint(static.points, static.frame_index, frames,
                            occluders=lambda frame: object_points_at(fused, frame))
    has_paint = painted.labels != UNLABELLED_ID
    writable = has_paint if painter.config.overwrite else has_paint & (static.labels == UNLABELLED_ID)
    static.labels = np.where(writable, painted.labels, static.labels).astype(np.uint8)
    return {**painted.stats, 'kept_source_labels': int((has_paint & ~writable).sum()),
            'images_segmented': painter.images_segmented}
