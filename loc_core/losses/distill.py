"""Cosine feature regression: voxel features pulled onto target features (1 - cosine).

Two uses: pixel-feature distillation, where the targets are a dense open_clip image feature map
sampled where each voxel projects into the images; and the DCL ablation, where the targets are
the text embedding of each voxel's class (direct feature regression, no negatives)."""
from __future__ import annotations

import torch
from torch.nn import functional as F


def cosine_regression_loss(features: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor | None = None):
    """(M,D) features, (M,D) targets, (M,) bool valid -> mean (1 - cos) over valid rows (0 if none)."""
    if valid is not None:
        features, targets = features[valid], targets[valid]
    if len(features) == 0:
        return features.sum() * 0.0
    return (1.0 - F.cosine_similarity(features, targets, dim=-1)).mean()


def sample_teacher(teacher_maps: torch.Tensor, camera_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(C,D,h,w) teacher feature maps and (M,) flat indices into them (-1 = unseen) ->
    ((M,D) targets, (M,) bool seen)."""
    from loc_core.models.projection import gather_features

    return gather_features(teacher_maps, camera_index), camera_index >= 0
