"""Geometry loss: binary cross-entropy of the per-voxel occupancy logits against occupied/free
targets, only where the target is known, with the occupied class up-weighted."""
from __future__ import annotations

import torch
from torch.nn import functional as F


def geometry_loss(logits: torch.Tensor, occupied: torch.Tensor, known: torch.Tensor,
                  pos_weight: float = 2.0) -> torch.Tensor:
    """(B,X,Y,Z) logits, (B,X,Y,Z) bool occupied, (B,X,Y,Z) bool known -> scalar mean BCE."""
    if not known.any():
        return logits.sum() * 0.0
    target = occupied.to(logits.dtype)
    weight = torch.where(occupied, pos_weight, 1.0).to(logits.dtype)
    losses = F.binary_cross_entropy_with_logits(logits, target, weight=weight, reduction='none')
    return losses[known].mean()
