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
