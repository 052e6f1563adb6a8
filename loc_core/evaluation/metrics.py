"""Occ3D metrics: the official Occ3D-nuScenes evaluation, extended to labels with unlabelled voxels.

Official protocol: only voxels inside the mask (mask_camera, or mask_lidar) count; an 18x18
confusion matrix over ids 0-17 accumulates over the whole split; per-class IoU = TP / (TP + FP + FN);
mIoU is the mean over ids 0-16 (free, 17, excluded; 'others', 0, included); classes never present in
ground truth or prediction give NaN and are skipped by the mean. Geometry IoU treats every non-free
id as occupied.

Unlabelled ground truth (255, "occupied but unlabelled", from `loc-gt` where no point label is near,
e.g. all stuff on nuScenes without lidarseg): geometry IoU counts such a voxel as occupied, so a
voxel predicted occupied there is a geometry TP and one predicted free a geometry FN; the semantic
confusion matrix uses only voxels whose ground truth is 0-17, so whatever class is predicted inside
a 255 voxel is absent from it, while a class predicted in ground-truth free stays a false positive
of that class. Occ3D and synthetic labels hold no 255, so their figures are the official ones.

A frame whose mask is empty (e.g. mask_camera of LiDAR-only frames, which have no cameras) is
skipped and counted in `empty_mask_frames`; with no counted frame every figure is None."""
from __future__ import annotations

import math

import numpy as np

from loc_core.data.vocabulary import FREE_ID, NUM_CLASSES, NUM_SEMANTIC_CLASSES

PROTOCOL = ('Occ3D: voxels inside the mask only; per-class IoU = TP/(TP+FP+FN) from a confusion matrix over '
            'voxels whose ground truth is 0-17 (ground truth 255, occupied but unlabelled, excluded); mIoU = '
            'mean over ids 0-16 present in ground truth or prediction; geometry IoU of non-free voxels over '
            'every voxel in the mask, ground truth 255 counting as occupied; frames with an empty mask skipped')


class OccupancyMetrics:
    """Accumulates over frames. `add(pred, gt, mask)` with (X,Y,Z) uint8 Occ3D ids (gt also 255)
    and a (X,Y,Z) 0/1 mask (mask_camera or mask_lidar)."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        self.num_classes = num_classes
        self.confusion = np.zeros((num_classes, num_classes), dtype=np.int64)  # rows: gt, cols: pred
        self.geometry = np.zeros((2, 2), dtype=np.int64)  # rows: gt occupied, cols: pred occupied
        self.frames = 0
        self.empty_mask_frames = 0

    def add(self, prediction: np.ndarray, ground_truth: np.ndarray, mask: np.ndarray) -> bool:
        """Accumulate one frame; False (and counted in `empty_mask_frames`) when `mask` is empty."""
        if prediction.shape != ground_truth.shape or mask.shape != ground_truth.shape:
            raise ValueError(f'shapes differ: pred {prediction.shape}, gt {ground_truth.shape}, '
                             f'mask {mask.shape}')
        inside = mask.astype(bool)
        if not inside.any():
            self.empty_mask_frames += 1
            return False
        gt = ground_truth[inside].astype(np.int64)
        pred = prediction[inside].astype(np.int64)
        if np.any(pred >= self.num_classes):
            raise ValueError(f'prediction holds ids >= {self.num_classes}')
        labelled = gt < self.num_classes  # 0-17; 255 (unlabelled) only counts for geometry
        self.confusion += np.bincount(gt[labelled] * self.num_classes + pred[labelled],
                                      minlength=self.num_classes ** 2).reshape(self.num_classes, self.num_classes)
        occ_gt, occ_pred = (gt != FREE_ID).astype(np.int64), (pred != FREE_ID).astype(np.int64)
        self.geometry += np.bincount(occ_gt * 2 + occ_pred, minlength=4).reshape(2, 2)
        self.frames += 1
        return True

    def merge(self, other: OccupancyMetrics) -> None:
        """Add another accumulator's counts (e.g. one frame's) to these."""
        self.confusion += other.confusion
        self.geometry += other.geometry
        self.frames += other.frames
        self.empty_mask_frames += other.empty_mask_frames

    def per_class_iou(self) -> np.ndarray:
        """(num_classes,) float64 IoU per id, NaN where the class is absent from gt and prediction."""
        tp = np.diag(self.confusion).astype(np.float64)
        union = self.confusion.sum(0) + self.confusion.sum(1) - tp
        with np.errstate(divide='ignore', invalid='ignore'):
            return np.where(union > 0, tp / union, np.nan)

    def miou(self) -> float:
        """Mean IoU over ids 0-16, percent; NaN when none of them is present."""
        ious = self.per_class_iou()[:NUM_SEMANTIC_CLASSES]
        return float(np.nanmean(ious) * 100.0) if not np.isnan(ious).all() else float('nan')

    def geometry_iou(self) -> float:
        """IoU of the occupied (non-free, 255 included) class, percent; NaN when nothing is occupied."""
        tp = self.geometry[1, 1]
        union = tp + self.geometry[0, 1] + self.geometry[1, 0]
        return float(tp / union * 100.0) if union else float('nan')

    def geometry_precision_recall(self) -> tuple[float, float]:
        """(precision, recall) of the occupied class, percent: the share of voxels predicted
        occupied that the labels call occupied, and of labelled-occupied voxels predicted occupied
        (NaN where the denominator is 0)."""
        tp = self.geometry[1, 1]
        predicted, labelled = self.geometry[:, 1].sum(), self.geometry[1, :].sum()
        return (float(tp / predicted * 100.0) if predicted else float('nan'),
                float(tp / labelled * 100.0) if labelled else float('nan'))

    def geometry_summary(self) -> dict:
        """The class-free figures: {'geometry_iou', 'geometry_precision', 'geometry_recall' (percent
        or None), 'occupied_predicted_per_frame', 'occupied_labels_per_frame' (voxels inside the
        mask, mean over counted frames, or None), 'frames', 'empty_mask_frames'}."""
        precision, recall = self.geometry_precision_recall()
        per_frame = (lambda count: float(count) / self.frames) if self.frames else (lambda count: None)
        return {'geometry_iou': none_if_nan(self.geometry_iou()), 'geometry_precision': none_if_nan(precision),
                'geometry_recall': none_if_nan(recall),
                'occupied_predicted_per_frame': per_frame(self.geometry[:, 1].sum()),
                'occupied_labels_per_frame': per_frame(self.geometry[1, :].sum()),
                'frames': self.frames, 'empty_mask_frames': self.empty_mask_frames}

    def summary(self, names=None) -> dict:
        """`geometry_summary` plus {'miou' (percent or None), 'per_class_iou' {name: percent or None}}."""
        ious = self.per_class_iou()[:NUM_SEMANTIC_CLASSES] * 100.0
        names = names or [str(i) for i in range(NUM_SEMANTIC_CLASSES)]
        return {'miou': none_if_nan(self.miou()), **self.geometry_summary(),
                'per_class_iou': {n: none_if_nan(v) for n, v in zip(names, ious)}}


def none_if_nan(value) -> float | None:
    """A float, or None for NaN (JSON has no NaN)."""
    return None if value is None or math.isnan(value) else float(value)
