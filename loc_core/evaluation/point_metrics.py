"""Point-level semantic scores of a voxel prediction, as the nuScenes-lidarseg benchmark scores
points (nuscenes-devkit, python-sdk/nuscenes/eval/lidarseg/README.md, "Evaluation metrics"):
per-class IoU = TP / (TP + FP + FN) counted over points, for the 16 classes 1-16, points labelled
0 (noise) ignored; the mIoU is the mean over the classes present in the ground truth or the
prediction of the scored points.

A voxel occupancy prediction is scored by giving every labelled point the predicted Occ3D id of the
voxel it falls in (points in the ego frame, voxelised with the prediction's VoxelGrid, as `loc-gt`
voxelises them). Only points inside the grid with a label 1-16 count. A point whose voxel is
predicted free (17) or 'others' (0, also where the predictor answers unknown) is a wrong prediction:
a false negative of its class and a false positive of no class. Also reported: the geometry recall,
the fraction of scored points that fall in a voxel predicted occupied (not free), and the labelled
points outside the grid (counted, never scored).

Other datasets whose labels map into Occ3D ids (SemanticKITTI) are scored the same way over the
classes their table maps to (`class_ids`, a subset of 1-16; points of other ids ignored)."""
from __future__ import annotations

import numpy as np

from loc_core.data.vocabulary import FREE_ID, NUM_CLASSES, OCC3D_CLASS_NAMES
from loc_core.evaluation.metrics import none_if_nan

POINT_CLASS_IDS = tuple(range(1, 17))  # the lidarseg benchmark's 16 classes, as Occ3D ids
POINT_PROTOCOL = ('nuScenes-lidarseg, point-wise: ego-frame points inside the grid labelled 1-16 (0 = noise '
                  'ignored) take the predicted id of their voxel (free or others = wrong); per-class IoU = '
                  'TP/(TP+FP+FN) over points for ids 1-16, mIoU = mean over classes present in labels or '
                  'predictions; geometry recall = share of those points in predicted-occupied voxels')
SEMANTICKITTI_POINT_PROTOCOL = (
    'SemanticKITTI, point-wise as its benchmark scores points: each scan\'s labels mapped to Occ3D ids by '
    'loc_core.data.semantickitti_classes (unlabeled and outlier -> ignored; on-rails, other-vehicle and '
    'other-object -> others, ignored), points inside the grid take the predicted id of their voxel (free or '
    'others = wrong); per-class IoU = TP/(TP+FP+FN) over points for the mapped Occ3D classes, mIoU = mean over '
    'those present in labels or predictions; labelled points outside the grid counted, not scored')


def mapped_point_classes(occ3d_ids) -> tuple:
    """The Occ3D ids among `occ3d_ids` (a class table's targets) that points are scored on: those in
    1-16, sorted (others, free and unlabelled are no scored class)."""
    return tuple(sorted({int(c) for c in occ3d_ids} & set(POINT_CLASS_IDS)))


def semantickitti_point_classes() -> tuple:
    """The Occ3D ids SemanticKITTI's table maps to, as scored (mapped_point_classes)."""
    from loc_core.data.semantickitti_classes import SEMANTICKITTI_TO_OCC3D

    return mapped_point_classes(occ3d for _, occ3d, _ in SEMANTICKITTI_TO_OCC3D.values())


def points_in_grid(points_ego, point_labels, grid, class_ids=POINT_CLASS_IDS) -> tuple[np.ndarray, np.ndarray, int]:
    """(N,3) ego-frame points (metres), (N,) uint8 Occ3D point labels (255 = noise / unlabelled)
    -> ((M,3) int64 voxel indices, (M,) int64 labels) of the points inside `grid` labelled with one
    of `class_ids`, and the number of points labelled with one of them outside the grid."""
    points = np.asarray(points_ego, dtype=np.float64).reshape(-1, 3)
    labels = np.asarray(point_labels).reshape(-1)
    if len(points) != len(labels):
        raise ValueError(f'{len(points)} points but {len(labels)} labels')
    scored = np.isin(labels, np.asarray(class_ids))
    inside = grid.in_range(points)
    keep = inside & scored
    return grid.point_to_index(points[keep]), labels[keep].astype(np.int64), int((scored & ~inside).sum())


class PointMetrics:
    """Accumulates over frames a point confusion matrix: rows the point's label (`class_ids` used,
    default 1-16), columns the Occ3D id (0-17) predicted for its voxel; and the labelled points
    outside the grid."""

    def __init__(self, class_ids=POINT_CLASS_IDS):
        self.class_ids = tuple(int(c) for c in class_ids)
        if not self.class_ids or not all(POINT_CLASS_IDS[0] <= c <= POINT_CLASS_IDS[-1] for c in self.class_ids):
            raise ValueError(f'point classes must be Occ3D ids 1-16, got {self.class_ids}')
        self.confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
        self.outside_grid = 0
        self.frames = 0

    def add(self, prediction: np.ndarray, points_ego, point_labels, grid) -> None:
        """`prediction` (X,Y,Z) uint8 Occ3D ids on `grid` (a VoxelGrid in the points' ego frame);
        `points_ego` (N,3) metres; `point_labels` (N,) uint8 Occ3D ids, 255 = noise."""
        if tuple(prediction.shape) != tuple(grid.shape):
            raise ValueError(f'prediction shape {prediction.shape} is not the grid\'s {grid.shape}')
        index, truth, outside = points_in_grid(points_ego, point_labels, grid, self.class_ids)
        self.outside_grid += outside
        predicted = prediction[index[:, 0], index[:, 1], index[:, 2]].astype(np.int64)
        if np.any(predicted >= NUM_CLASSES):
            raise ValueError(f'prediction holds ids >= {NUM_CLASSES}')
        self.confusion += np.bincount(truth * NUM_CLASSES + predicted,
                                      minlength=NUM_CLASSES ** 2).reshape(NUM_CLASSES, NUM_CLASSES)
        self.frames += 1

    def merge(self, other: PointMetrics) -> None:
        """Add another accumulator's counts (e.g. one frame's) to these."""
        self.confusion += other.confusion
        self.outside_grid += other.outside_grid
        self.frames += other.frames

    @property
    def points(self) -> int:
        """Scored points so far."""
        return int(self.confusion.sum())

    def per_class_iou(self) -> np.ndarray:
        """(C,) float64 IoU of `class_ids`, NaN where the class is absent from labels and predictions."""
        ids = np.asarray(self.class_ids)
        tp = self.confusion[ids, ids].astype(np.float64)
        union = self.confusion[ids, :].sum(1) + self.confusion[:, ids].sum(0) - tp
        with np.errstate(divide='ignore', invalid='ignore'):
            return np.where(union > 0, tp / union, np.nan)

    def miou(self) -> float:
        """Mean IoU over the present classes of `class_ids`, percent; NaN when none is present."""
        ious = self.per_class_iou()
        return float(np.nanmean(ious) * 100.0) if not np.isnan(ious).all() else float('nan')

    def geometry_recall(self) -> float:
        """Fraction of scored points in a voxel predicted occupied, percent; NaN without points."""
        total = self.points
        return float((total - self.confusion[:, FREE_ID].sum()) / total * 100.0) if total else float('nan')

    def summary(self) -> dict:
        """{'miou', 'geometry_recall' (percent or None), 'per_class_iou' {name: percent or None} over
        `class_ids`, 'points', 'points_in_free', 'points_outside_grid', 'frames'}."""
        ious = self.per_class_iou() * 100.0
        return {'miou': none_if_nan(self.miou()), 'geometry_recall': none_if_nan(self.geometry_recall()),
                'per_class_iou': {OCC3D_CLASS_NAMES[c]: none_if_nan(v) for c, v in zip(self.class_ids, ious)},
                'points': self.points, 'points_in_free': int(self.confusion[:, FREE_ID].sum()),
                'points_outside_grid': self.outside_grid, 'frames': self.frames}
