"""Occ3D metrics, computed exactly as the official Occ3D-nuScenes evaluation does.

Official protocol: only voxels with mask_camera == 1 count; an 18x18 confusion matrix over ids
0-17 accumulates over the whole split; per-class IoU = TP / (TP + FP + FN); mIoU is the mean over
ids 0-16 (free, 17, excluded; 'others', 0, included); classes never present in ground truth or
prediction give NaN and are skipped by the mean. Geometry IoU treats every non-free id as occupied."""
from __future__ import annotations

import numpy as np

from loc_core.data.vocabulary import FREE_ID, NUM_CLASSES, NUM_SEMANTIC_CLASSES, UNLABELLED_ID


class OccupancyMetrics:
    """Accumulates over frames. `add(pred, gt, mask)` with (X,Y,Z) uint8 Occ3D ids and mask."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        self.num_classes = num_classes
        self.confusion = np.zeros((num_classes, num_classes), dtype=np.int64)  # rows: gt, cols: pred
        self.geometry = np.zeros((2, 2), dtype=np.int64)
        self.frames = 0

    def add(self, prediction: np.ndarray, ground_truth: np.ndarray, mask_camera: np.ndarray) -> None:
        if prediction.shape != ground_truth.shape or mask_camera.shape != ground_truth.shape:
            raise ValueError(f'shapes differ: pred {prediction.shape}, gt {ground_truth.shape}, '
                             f'mask {mask_camera.shape}')
        keep = mask_camera.astype(bool) & (ground_truth != UNLABELLED_ID)
        gt = ground_truth[keep].astype(np.int64)
        pred = prediction[keep].astype(np.int64)
        if np.any(pred >= self.num_classes):
            raise ValueError(f'prediction holds ids >= {self.num_classes}')
        self.confusion += np.bincount(gt * self.num_classes + pred,
                                      minlength=self.num_classes ** 2).reshape(self.num_classes, self.num_classes)
        occ_gt, occ_pred = (gt != FREE_ID).astype(np.int64), (pred != FREE_ID).astype(np.int64)
        self.geometry += np.bincount(occ_gt * 2 + occ_pred, minlength=4).reshape(2, 2)
        self.frames += 1

    def per_class_iou(self) -> np.ndarray:
        """(num_classes,) float64 IoU per id, NaN where the class is absent from gt and prediction."""
        tp = np.diag(self.confusion).astype(np.float64)
        union = self.confusion.sum(0) + self.confusion.sum(1) - tp
        with np.errstate(divide='ignore', invalid='ignore'):
            return np.where(union > 0, tp / union, np.nan)

    def miou(self) -> float:
        """Mean IoU over ids 0-16, percent."""
        return float(np.nanmean(self.per_class_iou()[:NUM_SEMANTIC_CLASSES]) * 100.0)

    def geometry_iou(self) -> float:
        """IoU of the occupied (non-free) class, percent."""
        tp = self.geometry[1, 1]
        union = tp + self.geometry[0, 1] + self.geometry[1, 0]
        return float(tp / union * 100.0) if union else float('nan')

    def summary(self, names=None) -> dict:
        ious = self.per_class_iou()[:NUM_SEMANTIC_CLASSES] * 100.0
        names = names or [str(i) for i in range(NUM_SEMANTIC_CLASSES)]
        return {'miou': self.miou(), 'geometry_iou': self.geometry_iou(), 'frames': self.frames,
                'per_class_iou': {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, ious)}}
