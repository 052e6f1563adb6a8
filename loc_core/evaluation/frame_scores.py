"""What the evaluator measures for one prompt set: Occ3D metrics inside each visibility mask
(mask_camera, mask_lidar) against dense labels, and, when asked, point-level scores against the
frame's per-point labels; plus the one-line per-frame record of `loc-eval --per-frame`."""
from __future__ import annotations

from loc_core.data.vocabulary import FREE_ID
from loc_core.evaluation.metrics import OccupancyMetrics
from loc_core.evaluation.point_metrics import POINT_CLASS_IDS, PointMetrics

MASKS = ('mask_camera', 'mask_lidar')


class PromptSetScores:
    """Accumulates one prompt set's scores over frames. `points`: also score the frames' labelled
    LiDAR points (see point_metrics) over the Occ3D ids `point_classes`."""

    def __init__(self, points: bool = False, point_classes=POINT_CLASS_IDS):
        self.masks = {name: OccupancyMetrics() for name in MASKS}
        self.point_classes = tuple(point_classes)
        self.points = PointMetrics(self.point_classes) if points else None

    def empty(self) -> PromptSetScores:
        """A new accumulator scoring the same things (one frame's)."""
        return PromptSetScores(self.points is not None, self.point_classes)

    def add(self, frame, semantics, grid) -> None:
        """`semantics` (X,Y,Z) uint8 predicted Occ3D ids on `grid` (ego frame of `frame`). Dense
        metrics need `frame.occupancy`, point metrics `frame.point_labels`; what is missing is skipped."""
        labels = frame.occupancy
        if labels is not None:
            for name, metrics in self.masks.items():
                metrics.add(semantics, labels.semantics, getattr(labels, name))
        if self.points is not None and frame.point_labels is not None:
            self.points.add(semantics, frame.points_ego(), frame.point_labels, grid)

    def merge(self, other: PromptSetScores) -> None:
        for name, metrics in self.masks.items():
            metrics.merge(other.masks[name])
        if self.points is not None and other.points is not None:
            self.points.merge(other.points)

    def summary(self, names) -> dict:
        """mask_camera's {miou, geometry_iou, per_class_iou, frames, empty_mask_frames} at the top
        level (as before masks were split), 'mask_lidar' the same inside mask_lidar, and 'points'
        (PointMetrics.summary) when points are scored."""
        report = self.masks['mask_camera'].summary(names)
        report['mask_lidar'] = self.masks['mask_lidar'].summary(names)
        if self.points is not None:
            report['points'] = self.points.summary()
        return report

    def geometry_summary(self) -> dict:
        """`summary` without classes: mask_camera's OccupancyMetrics.geometry_summary at the top
        level, 'mask_lidar' the same, and 'points' {geometry_recall, points, points_in_free,
        points_outside_grid, frames} when points are scored (for a prediction that names no class)."""
        report = self.masks['mask_camera'].geometry_summary()
        report['mask_lidar'] = self.masks['mask_lidar'].geometry_summary()
        if self.points is not None:
            points = self.points.summary()
            report['points'] = {k: points[k] for k in ('geometry_recall', 'points', 'points_in_free',
                                                       'points_outside_grid', 'frames')}
        return report


def frame_record(frame, semantics, scores: PromptSetScores, prompt_set: str) -> dict:
    """One frame's JSON-ready line: token, scene, prompt set, per mask {geometry_iou, miou} (percent;
    the mask's entry None without dense labels or when the mask is empty), occupied voxel counts over
    the whole grid (predicted; ground truth, 255 included, or None), and 'points' {miou,
    geometry_recall, points} when points were scored. `scores` holds this frame only."""
    labels = frame.occupancy
    record = {'token': frame.token, 'scene': frame.scene, 'prompt_set': prompt_set,
              'occupied_predicted': int((semantics != FREE_ID).sum()),
              'occupied_ground_truth': None if labels is None else int((labels.semantics != FREE_ID).sum())}
    for name, metrics in scores.masks.items():
        summary = metrics.summary()
        record[name] = ({'geometry_iou': summary['geometry_iou'], 'miou': summary['miou']}
                        if metrics.frames else None)
    if scores.points is not None and scores.points.frames:
        summary = scores.points.summary()
        record['points'] = {k: summary[k] for k in ('miou', 'geometry_recall', 'points')}
    return record
