"""Geometry loss: binary cross-entropy of the per-voxel occupancy logits against occupied/free
targets, only where the target is known, with the occupied class up-weighted. Optionally the
occupied voxels of rare classes weigh more (`occupied_class_weights`): a traffic cone fills a few
voxels of a 640k-voxel grid, so an unweighted loss barely notices when it is predicted free."""
from __future__ import annotations

import torch
from torch.nn import functional as F


def occupied_class_weights(class_targets: torch.Tensor, max_weight: float = 10.0) -> torch.Tensor:
    """(X,Y,Z) int64 class of every occupied voxel (< 0 elsewhere) -> (X,Y,Z) float32 weights:
    sqrt(median class count / count of the voxel's class), clipped to [1, max_weight], for occupied
    voxels of the frame; 1 elsewhere. Classes at or above the median count keep weight 1."""
    weights = torch.ones(class_targets.shape, dtype=torch.float32, device=class_targets.device)
    labelled = class_targets >= 0
    if not labelled.any():
        return weights
    counts = torch.bincount(class_targets[labelled]).float()
    median = counts[counts > 0].median()
    per_class = (median / counts.clamp(min=1.0)).sqrt().clamp(1.0, max_weight)
    weights[labelled] = per_class[class_targets[labelled]]
    return weights


def geometry_loss(logits: torch.Tensor, occupied: torch.Tensor, known: torch.Tensor,
                  pos_weight: float = 2.0, occupied_weight: torch.Tensor | None = None) -> torch.Tensor:
    """(B,X,Y,Z) or (X,Y,Z) logits, bool occupied and known of the same shape, optional float
    `occupied_weight` (same shape; multiplies pos_weight on occupied voxels) -> scalar mean BCE."""
    if not known.any():
        return logits.sum() * 0.0
    target = occupied.to(logits.dtype)
    positive = pos_weight if occupied_weight is None else pos_weight * occupied_weight.to(logits.dtype)
    weight = torch.where(occupied, positive, torch.ones_like(target))
    losses = F.binary_cross_entropy_with_logits(logits, target, weight=weight, reduction='none')
    return losses[known].mean()
