"""Partial-label contrastive loss for voxels whose class is known only to lie in a set.

Real scans labelled from boxes alone (nuScenes without lidarseg) leave every non-object voxel
occupied but unlabelled (255). Every object class has boxes, so such a voxel is one of the stuff
classes (road, sidewalk, terrain, vegetation, ...) without saying which. Leaving it out of the
semantic loss lets the features of real ground and buildings drift to whatever the labelled real
voxels are (cars): the loss below instead asks that the prompt probabilities (softmax of the
similarity logits f T^T / temperature, as in DCL) put their mass on the allowed set:
-log sum_{c in allowed} p(c | voxel), averaged over voxels."""
from __future__ import annotations

import torch


def partial_label_loss(features: torch.Tensor, text: torch.Tensor, allowed: torch.Tensor,
                       temperature: float = 0.07) -> torch.Tensor:
    """(M,D) unit voxel features, (P,D) unit prompt embeddings, (P,) bool allowed prompts -> scalar
    mean of -log(probability mass on the allowed prompts); 0 (with a graph) when M is 0."""
    if len(features) == 0 or not bool(allowed.any()):
        return features.sum() * 0.0
    logits = features @ text.T / temperature
    inside = torch.logsumexp(logits[:, allowed], dim=1)
    return (torch.logsumexp(logits, dim=1) - inside).mean()
