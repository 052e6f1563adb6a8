"""Outlier exposure for the unknown score (Hendrycks et al., "Deep Anomaly Detection with Outlier
Exposure", ICLR 2019; the energy-bounded form of Liu et al., "Energy-based Out-of-distribution
Detection", NeurIPS 2020).

Voxels of objects that no prompt names (in the synthetic training towns: the novel kinds that stand
there, which no class label covers) should match no prompt well: their match score, the smooth
maximum T log sum_p exp(cos_p / T) of their cosines to the prompts (the score the unknown threshold
reads, `soft_best_similarity`), is pushed below `margin` with a squared hinge. Known voxels are kept
high by DCL and the alignment term already. Which kinds train as outliers must stay disjoint from the
kinds an open-set figure is measured on (BENCHMARKS.md says which)."""
from __future__ import annotations

import torch

from loc_core.models.heads import soft_best_similarity


def outlier_loss(features: torch.Tensor, text: torch.Tensor, temperature: float = 0.1,
                 margin: float = 0.5) -> torch.Tensor:
    """(M,D) unit outlier-voxel features, (P,D) unit prompt embeddings -> scalar mean of
    relu(score - margin)^2, score the smooth maximum of the cosines at `temperature`; 0 (with a
    graph) when M is 0."""
    if len(features) == 0:
        return features.sum() * 0.0
    score = soft_best_similarity(features @ text.T, temperature)
    return torch.relu(score - margin).pow(2).mean()
