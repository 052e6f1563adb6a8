"""Quality of generated labels against exact ones (the synthetic world's), inside a visibility
mask: geometry IoU (occupied vs free) and semantic mIoU over Occ3D ids 0-16.

Occupied means any id but 17 (free); a generated 255 (occupied, unlabelled) counts as occupied
for the geometry and as a wrong class for the semantics."""
from __future__ import annotations

import numpy as np

from loc_core.data.vocabulary import FREE_ID, NUM_SEMANTIC_CLASSES


def confusion(predicted, truth, mask) -> np.ndarray:
    """(X,Y,Z) uint8 predicted and true ids, (X,Y,Z) mask -> (19,19) int64 counts (rows truth,
    columns prediction) over ids 0-17 plus a last slot for anything else (255)."""
    keep = np.asarray(mask, dtype=bool)
    slots = NUM_SEMANTIC_CLASSES + 2

    def slot(values):
        values = np.asarray(values)[keep].astype(np.int64)
        return np.where(values <= FREE_ID, values, slots - 1)

    return np.bincount(slot(truth) * slots + slot(predicted), minlength=slots * slots).reshape(slots, slots)


def geometry_iou(table: np.ndarray) -> float:
    """IoU of occupied voxels (every id but 17) from a `confusion` table."""
    free = FREE_ID
    occupied_both = table.sum() - table[free, :].sum() - table[:, free].sum() + table[free, free]
    union = table.sum() - table[free, free]
    return float(occupied_both / union) if union else float('nan')


def class_ious(table: np.ndarray) -> np.ndarray:
    """(17,) float64 IoU per semantic id 0-16; NaN for ids absent from truth and prediction."""
    ids = np.arange(NUM_SEMANTIC_CLASSES)
    hits = table[ids, ids].astype(np.float64)
    union = table[ids, :].sum(axis=1) + table[:, ids].sum(axis=0) - hits
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(union > 0, hits / union, np.nan)


def mean_iou(table: np.ndarray) -> float:
    """Mean of `class_ious` over the ids present in truth or prediction."""
    ious = class_ious(table)
    return float(np.nanmean(ious)) if np.isfinite(ious).any() else float('nan')


def compare(predicted_labels, true_labels, mask=None) -> dict:
    """Geometry IoU, mIoU and per-class IoUs of Occ3DLabels against the exact Occ3DLabels, inside
    `mask` (default: the truth's mask_camera)."""
    mask = true_labels.mask_camera if mask is None else mask
    table = confusion(predicted_labels.semantics, true_labels.semantics, mask)
    return {'iou': geometry_iou(table), 'miou': mean_iou(table), 'class_iou': class_ious(table).tolist(),
            'table': table}
