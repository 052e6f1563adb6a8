"""Turning cached samples into network inputs and loss targets, deterministically: which voxels a
frame contributes depends only on (seed, step, position in the global batch), so one process and
several data-parallel processes see exactly the same voxels."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from loc_core.losses.geometry import occupied_class_weights
from loc_core.models.inputs import make_input
from loc_core.train.augment import AugmentSettings, augment_sample
from loc_core.train.samples import IGNORE, TrainingSample

STUFF_SET = -2  # class target of a voxel known only to be one of the stuff classes (partial label)
OUTLIER = -3  # class target of a voxel of an object no prompt names (outlier exposure)
AUGMENT_STREAM = 1  # augmentation draws from its own generator: turning it on leaves voxel sampling as it was


@dataclass
class FrameTargets:
    """`occupied`, `known` (X,Y,Z) bool tensors; `voxels` (S,3) int64 sampled voxel indices with
    `classes` (S,) int64 prompt targets (STUFF_SET for voxels known only to be stuff); `occupied_weight` (X,Y,Z) float32 geometry-loss weights of
    occupied voxels (None: all 1); `teacher_probs` (C,K,h,w) float32 the 2D teacher's class
    probabilities of the sample's cameras with `teacher_classes` (K,) int64 their Occ3D ids (-1:
    ignored), or None (not asked for, or a sample cached without them)."""

    occupied: torch.Tensor
    known: torch.Tensor
    voxels: torch.Tensor
    classes: torch.Tensor
    occupied_weight: torch.Tensor | None = None
    teacher_probs: torch.Tensor | None = None
    teacher_classes: torch.Tensor | None = None

    def to(self, device) -> 'FrameTargets':
        """These targets on `device` (self when they are there already)."""
        device = torch.device(device)
        if self.voxels.device == device:
            return self
        moved = [None if t is None else t.to(device)
                 for t in (self.occupied_weight, self.teacher_probs, self.teacher_classes)]
        return FrameTargets(self.occupied.to(device), self.known.to(device), self.voxels.to(device),
                            self.classes.to(device), *moved)


def sample_generator(seed: int, step: int, position: int, stream: int = 0) -> np.random.Generator:
    key = [int(seed), int(step), int(position)] + ([int(stream)] if stream else [])
    return np.random.default_rng(key)


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
                  use_classes: bool = True, geometry_class_balance: bool = False,
                  outliers: bool = False, pixel_teacher: bool = False) -> FrameTargets:
    """Without `use_classes` (self-supervised) voxels are drawn uniformly and `classes` are all 0;
    `geometry_class_balance` adds per-class occupied-voxel weights for the geometry loss; `outliers`
    adds the sample's occupied novel-object voxels (as many as one labelled class gets) as OUTLIER;
    `pixel_teacher` carries the sample's teacher probabilities over (when it has them)."""
    targets = sample.class_targets()
    weight = occupied_class_weights(torch.from_numpy(targets)) if geometry_class_balance else None
    if not use_classes:
        targets = np.where(targets == IGNORE, IGNORE, 0)
    voxels, classes = sample_voxels(targets, voxels_per_frame, rng)
    if use_classes and sample.unlabelled_is_stuff:
        stuff = np.argwhere(sample.stuff_only())
        if len(stuff):
            # as many as one labelled class gets; the partial-label loss treats them as one set
            count = min(len(stuff), max(1, voxels_per_frame // max(1, len(np.unique(classes)) + 1)))
            picked = stuff[np.sort(rng.choice(len(stuff), size=count, replace=False))]
            voxels = np.concatenate([voxels, picked.astype(np.int64)])
            classes = np.concatenate([classes, np.full(count, STUFF_SET, np.int64)])
    if use_classes and outliers:
        novel = np.argwhere(sample.novel & sample.occupied())
        if len(novel):
            count = min(len(novel), max(1, voxels_per_frame // max(1, len(np.unique(classes)) + 1)))
            picked = novel[np.sort(rng.choice(len(novel), size=count, replace=False))]
            voxels = np.concatenate([voxels, picked.astype(np.int64)])
            classes = np.concatenate([classes, np.full(count, OUTLIER, np.int64)])
    teacher = (None, None)
    if pixel_teacher and sample.teacher_probs is not None:
        teacher = (torch.from_numpy(sample.teacher_probs.astype(np.float32).transpose(0, 3, 1, 2)),
                   torch.from_numpy(sample.teacher_classes.astype(np.int64)))
    return FrameTargets(torch.from_numpy(sample.occupied()), torch.from_numpy(sample.known & ~sample.novel),
                        torch.from_numpy(voxels), torch.from_numpy(classes), weight, *teacher)


def build_batch(samples: list[TrainingSample], positions: list[int], seed: int, step: int,
                voxels_per_frame: int, use_classes: bool = True, geometry_class_balance: bool = False,
                augment: AugmentSettings | None = None, device='cpu', outliers: bool = False,
                pixel_teacher: bool = False):
    """-> (list[ModelInput], list[FrameTargets]) on `device` for the samples at these global batch
    positions, each augmented first when `augment` is active (sampling and augmentation run on the
    host, in numpy: the voxels drawn do not depend on the device); `pixel_teacher`: see build_targets."""
    if augment is not None and augment.active:
        samples = [augment_sample(s, augment, sample_generator(seed, step, p, AUGMENT_STREAM))
                   for s, p in zip(samples, positions)]
    inputs = [make_input(s.points, s.images, s.rig, device, s.origin) for s in samples]
    targets = [build_targets(s, voxels_per_frame, sample_generator(seed, step, p), use_classes,
                             geometry_class_balance, outliers, pixel_teacher).to(device)
               for s, p in zip(samples, positions)]
    return inputs, targets
