"""Bootstrap confidence intervals over groups (towns, scenes): resample whole groups with replacement,
recompute the statistic on each resample, report the median and the central `level` interval of the
resampled values (percentile bootstrap). Resampling groups rather than frames or voxels keeps the
correlation inside a group (one town's frames share streets) out of the interval's width.

mIoU is not a mean of per-group mIoUs: `miou_from_confusions` sums the chosen groups' confusion
matrices and takes the mIoU of the sum, as the full evaluation does (metrics.OccupancyMetrics)."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from loc_core.data.vocabulary import NUM_CLASSES

NUM_SEMANTIC_CLASSES = NUM_CLASSES - 1  # ids 0-16 enter the mean


def bootstrap_interval(groups: Sequence, statistic: Callable[[list], float], n: int = 1000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float, float]:
    """-> (median, low, high) of `statistic(resampled groups)` over `n` resamples, each drawing
    len(groups) groups with replacement (numpy Generator seeded with `seed`: deterministic).
    `statistic` takes a list of groups; resamples where it returns NaN are ignored."""
    groups = list(groups)
    if not groups:
        raise ValueError('bootstrap_interval: no groups')
    if n < 1 or not 0.0 < level < 1.0:
        raise ValueError(f'bootstrap_interval: need n >= 1 and 0 < level < 1, got n={n}, level={level}')
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(groups), size=(n, len(groups)))
    values = np.array([statistic([groups[i] for i in row]) for row in draws], dtype=np.float64)
    values = values[~np.isnan(values)]
    if not len(values):
        return float('nan'), float('nan'), float('nan')
    tail = (1.0 - level) / 2.0 * 100.0
    low, median, high = np.percentile(values, [tail, 50.0, 100.0 - tail])
    return float(median), float(low), float(high)


def miou_from_confusion(confusion: np.ndarray, num_semantic: int = NUM_SEMANTIC_CLASSES) -> float:
    """mIoU in percent over ids 0..num_semantic-1 of a (C,C) confusion matrix (rows ground truth,
    columns prediction), classes absent from both left out; NaN when none is present."""
    confusion = np.asarray(confusion, dtype=np.float64)
    tp = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - tp
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = np.where(union > 0, tp / union, np.nan)[:num_semantic]
    return float('nan') if np.isnan(iou).all() else float(np.nanmean(iou) * 100.0)


def miou_from_confusions(confusions: Sequence[np.ndarray], num_semantic: int = NUM_SEMANTIC_CLASSES) -> float:
    """mIoU (percent) of the sum of the groups' confusion matrices - the statistic to bootstrap."""
    return miou_from_confusion(np.sum(np.stack([np.asarray(c) for c in confusions]), axis=0), num_semantic)


def bootstrap_miou(confusions: Sequence[np.ndarray], n: int = 1000, level: float = 0.95,
                   seed: int = 0) -> tuple[float, float, float]:
    """(median, low, high) mIoU, percent, resampling per-group confusion matrices."""
    return bootstrap_interval(list(confusions), miou_from_confusions, n=n, level=level, seed=seed)
