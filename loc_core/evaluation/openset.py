"""Open-set detection metrics for an "unknown" score (higher = more likely novel)."""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def auroc(scores, is_novel) -> float:
    """Area under the ROC curve of `scores` separating novel (True) from known (False) samples:
    the Mann-Whitney U statistic with tied scores counted half. NaN without both kinds."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(is_novel, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float('nan')
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fpr_at_tpr(scores, is_novel, tpr: float = 0.95) -> float:
    """False-positive rate on known samples at the smallest threshold (score >= t flags novel) that
    flags at least `tpr` of the novel samples. NaN without both kinds."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(is_novel, dtype=bool)
    if positive.all() or not positive.any():
        return float('nan')
    novel_scores = np.sort(scores[positive])[::-1]
    threshold = novel_scores[int(np.ceil(tpr * len(novel_scores))) - 1]
    return float((scores[~positive] >= threshold).mean())


# Score histograms: the compact per-group form that bootstrap intervals resample (see bootstrap).
# Unknown scores (1 - match score) lie in [-1 - T log P, 2]; bins 1e-4 wide over [-2, 2], values
# outside go to the end bins. Scores closer than a bin count as tied, which moves AUROC and FPR@95 by
# less than the share of novel/known pairs that close (nothing, in practice).
SCORE_EDGES = np.linspace(-2.0, 2.0, 40001)


def score_histograms(scores, is_novel) -> np.ndarray:
    """(2, B) int64 counts of `scores` in the SCORE_EDGES bins: row 0 known, row 1 novel samples."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(is_novel, dtype=bool)
    bins = np.clip(np.searchsorted(SCORE_EDGES, scores, side='right') - 1, 0, len(SCORE_EDGES) - 2)
    size = len(SCORE_EDGES) - 1
    return np.stack([np.bincount(bins[~positive], minlength=size), np.bincount(bins[positive], minlength=size)])


def auroc_from_histograms(histograms) -> float:
    """`auroc` of samples given as (2, B) known / novel counts per ascending score bin (samples in
    one bin tied). NaN without both kinds."""
    known, novel = (np.asarray(h, dtype=np.float64) for h in histograms)
    n_neg, n_pos = known.sum(), novel.sum()
    if n_pos == 0 or n_neg == 0:
        return float('nan')
    below = np.cumsum(known) - known
    return float((novel * (below + 0.5 * known)).sum() / (n_pos * n_neg))


def fpr_at_tpr_from_histograms(histograms, tpr: float = 0.95) -> float:
    """`fpr_at_tpr` of samples given as (2, B) known / novel counts per ascending score bin: the
    threshold is the bin of the novel sample of rank ceil(tpr * novel) from the top, and known samples
    in that bin count as flagged. NaN without both kinds."""
    known, novel = (np.asarray(h, dtype=np.float64) for h in histograms)
    n_neg, n_pos = known.sum(), novel.sum()
    if n_pos == 0 or n_neg == 0:
        return float('nan')
    from_top = np.cumsum(novel[::-1])[::-1]  # novel samples in this bin or above
    need = np.ceil(tpr * n_pos)
    threshold_bin = int(np.flatnonzero(from_top >= need).max())
    return float(known[threshold_bin:].sum() / n_neg)
