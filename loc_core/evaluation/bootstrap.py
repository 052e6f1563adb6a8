"""Bootstrap confidence intervals over groups (towns, scenes): resample whole groups with replacement,
recompute the statistic on each resample, report the median and the central `level` interval of the
resampled values (percentile bootstrap). Resampling groups rather than frames or voxels keeps the
correlation inside a group (one town's frames share streets) out of the interval's width.

mIoU is not a mean of per-group mIoUs: `miou_from_confusions` sums the chosen groups' confusion
matrices and takes the mIoU of the sum, as the full evaluation does (metrics.OccupancyMetrics).
Likewise AUROC and FPR@95 (`bootstrap_open_set`) pool the chosen groups' unknown-score histograms
(openset.score_histograms) and score the pool. With the same `seed` and groups every statistic sees
the same resamples (`resample_counts`)."""
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
    draws = _draws(len(groups), n, seed)
    values = np.array([statistic([groups[i] for i in row]) for row in draws], dtype=np.float64)
    return percentile_summary(values, level)


def _draws(num_groups: int, n: int, seed: int) -> np.ndarray:
    """(n, num_groups) int64 group indices: resample r draws groups draws[r] (with replacement)."""
    return np.random.default_rng(seed).integers(0, num_groups, size=(n, num_groups))


def resample_counts(num_groups: int, n: int = 1000, seed: int = 0) -> np.ndarray:
    """(n, num_groups) int64: how often resample r draws group g - the resamples of
    `bootstrap_interval` with the same `seed`, as multiplicities."""
    if num_groups < 1 or n < 1:
        raise ValueError(f'resample_counts: need groups >= 1 and n >= 1, got {num_groups}, {n}')
    draws = _draws(num_groups, n, seed)
    counts = np.zeros((n, num_groups), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(n), num_groups), draws.reshape(-1)), 1)
    return counts


def percentile_summary(values, level: float = 0.95) -> tuple[float, float, float]:
    """(median, low, high) of `values`, the central `level` percentile interval; NaNs ignored (all
    NaN: NaNs)."""
    values = np.asarray(values, dtype=np.float64)
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


def bootstrap_open_set(histograms: Sequence[np.ndarray], n: int = 1000, level: float = 0.95, seed: int = 0,
                       tpr: float = 0.95) -> dict:
    """{'auroc': (median, low, high), 'fpr95': (median, low, high)} over `n` resamples of the groups,
    each group a (2, B) known / novel unknown-score histogram (openset.score_histograms); every
    resample pools its groups' histograms (a group drawn twice counts twice). Resamples without both
    novel and known samples are ignored."""
    from loc_core.evaluation.openset import auroc_from_histograms, fpr_at_tpr_from_histograms

    if not 0.0 < level < 1.0:
        raise ValueError(f'bootstrap_open_set: need 0 < level < 1, got {level}')
    stack = np.stack([np.asarray(h) for h in histograms]).astype(np.float64)  # (G, 2, B)
    used = stack.sum(axis=(0, 1)) > 0  # only bins that hold a sample matter
    flat = stack[:, :, used].reshape(len(stack), -1)
    counts = resample_counts(len(stack), n, seed).astype(np.float64)
    aurocs, fprs = np.empty(n), np.empty(n)
    for r, row in enumerate(counts):
        pooled = (row @ flat).reshape(2, -1)
        aurocs[r] = auroc_from_histograms(pooled)
        fprs[r] = fpr_at_tpr_from_histograms(pooled, tpr)
    return {'auroc': percentile_summary(aurocs, level), 'fpr95': percentile_summary(fprs, level)}
