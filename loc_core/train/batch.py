"""Turning cached samples into network inputs and loss targets, deterministically: which voxels a
frame contributes depends only on (seed, step, position in the global batch), so one process and
several data-parallel processes see exactly the same voxels."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from loc_core.losses.geometry import occupied_class_weights
from loc_core.models.inputs import make_input
from loc_core.train.samples import IGNORE, TrainingSample


@dataclass
class FrameTargets:
    """`occupied`, `known` (X,Y,Z) bool tensors; `voxels` (S,3) int64 sampled voxel indices with
    `classes` (S,) int64 prompt targets; `occupied_weight` (X,Y,Z) float32 geometry-loss weights of
    occupied voxels (None: all 1)."""

    occupied: torch.Tensor
    known: torch.Tensor
    voxels: torch.Tensor
    classes: torch.Tensor
    occupied_weight: torch.Tensor | None = None


def sample_generator(seed: int, step: int, position: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(step), int(position)])


def sample_voxels(targets: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(X,Y,Z) int64 class targets (IGNORE = skip) -> up to `count` voxel indices (S,3) drawn with
    equal total probability per class, and their classes (S,)."""
    flat = np.flatnonzero(targets.reshape(-1) != IGNORE)
    if len(flat) == 0:
        return np.zeros((0, 3), np.int64), np.zeros(0, np.int64)
    classes = targets.reshape(-1)[flat]
    counts = np.bincount(classes)
    prob = 1.0 / counts[classes]
    prob /= prob.sum()
    chosen = rng.choice(len(flat), size=min(count, len(flat)), replace=False, p=prob)
    picked = flat[np.sort(chosen)]
    return np.stack(np.unravel_index(picked, targets.shape), axis=1).astype(np.int64), targets.reshape(-1)[picked]


def build_targets(sample: TrainingSample, voxels_per_frame: int, rng: np.random.Generator,
                  use_classes: bool = True, geometry_class_balance: bool = False) -> FrameTargets:
    """Without `use_classes` (self-supervised) voxels are drawn uniformly and `classes` are all 0;
    `geometry_class_balance` adds per-class occupied-voxel weights for the geometry loss."""
    targets = sample.class_targets()
    weight = occupied_class_weights(torch.from_numpy(targets)) if geometry_class_balance else None
    if not use_classes:
        targets = np.where(targets == IGNORE, IGNORE, 0)
    voxels, classes = sample_voxels(targets, voxels_per_frame, rng)
    return FrameTargets(torch.from_numpy(sample.occupied()), torch.from_numpy(sample.known & ~sample.novel),
                        torch.from_numpy(voxels), torch.from_numpy(classes), weight)


def build_batch(samples: list[TrainingSample], positions: list[int], seed: int, step: int,
                voxels_per_frame: int, use_classes: bool = True, geometry_class_balance: bool = False):
    """-> (list[ModelInput], list[FrameTargets]) for the samples at these global batch positions."""
    inputs = [make_input(s.points, s.images, s.rig) for s in samples]
    targets = [build_targets(s, voxels_per_frame, sample_generator(seed, step, p), use_classes,
                             geometry_class_balance) for s, p in zip(samples, positions)]
    return inputs, targets
