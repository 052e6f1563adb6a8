"""Densely Contrastive Learning (DCL) and the supervised cross-entropy on similarity logits.

Both take voxel features f (M,D) and prompt embeddings T (P,D), all L2-normalised, and per-voxel
prompt targets y (M,) int64 (-1 = ignore), with logits = f T^T / temperature.

DCL is contrastive in both directions over the prompt set: each voxel must pick its class's text
among all prompts (voxel -> text), and each text present in the batch must pick out its voxels
among all sampled voxels (text -> voxel, multi-positive InfoNCE). Class balancing weights every
voxel by the inverse frequency of its class, so rare classes are not drowned by road and
vegetation. The text anchors are fixed, so the voxel features of different classes are pushed
apart instead of collapsing onto the (mutually similar) text embeddings."""
from __future__ import annotations

import torch
from torch.nn import functional as F


def class_weights(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(M,) int64 targets (>= 0) -> (M,) float weights proportional to 1/count(class), mean 1."""
    counts = torch.bincount(targets, minlength=num_classes).float()
    weights = (1.0 / counts.clamp(min=1.0))[targets]
    return weights * (len(targets) / weights.sum().clamp(min=1e-12))


def _valid(features, targets):
    keep = targets >= 0
    return features[keep], targets[keep]


def similarity_cross_entropy(features, text, targets, temperature: float = 0.07,
                             balance: bool = False) -> torch.Tensor:
    """Cross-entropy of the voxel -> prompt similarity logits against the labels; 0 if none valid."""
    features, targets = _valid(features, targets)
    if len(targets) == 0:
        return features.sum() * 0.0
    logits = features @ text.T / temperature
    losses = F.cross_entropy(logits, targets, reduction='none')
    if balance:
        losses = losses * class_weights(targets, len(text))
    return losses.mean()


def dense_contrastive_loss(features, text, targets, temperature: float = 0.07,
                           balance: bool = True) -> torch.Tensor:
    """DCL: mean of the voxel -> text and text -> voxel contrastive terms (see module docstring)."""
    features, targets = _valid(features, targets)
    if len(targets) == 0:
        return features.sum() * 0.0
    logits = features @ text.T / temperature  # (M,P)
    weights = class_weights(targets, len(text)) if balance else torch.ones_like(targets, dtype=logits.dtype)
    voxel_to_text = (F.cross_entropy(logits, targets, reduction='none') * weights).mean()
    present = torch.unique(targets)
    column = logits[:, present].T  # (K,M): each present text against every voxel
    positives = targets[None, :] == present[:, None]
    log_prob = column + torch.log(weights)[None, :] - torch.logsumexp(column + torch.log(weights)[None, :],
                                                                        dim=1, keepdim=True)
    text_to_voxel = -(log_prob * positives).sum(1) / positives.sum(1)
    return 0.5 * (voxel_to_text + text_to_voxel.mean())
