"""Mixing real and synthetic training samples at a fixed ratio, deterministically.

Global batch position p takes a real sample when floor((p+1) r) > floor(p r) for the ratio r, so
any run of positions holds real samples in proportion r (r = 0.5 with batches of 2: one real, one
synthetic per batch). Within each source, samples follow a fresh seeded permutation every epoch of
that source, so the small real set is cycled many times while the synthetic set is cycled once."""
from __future__ import annotations

import math

import numpy as np

from loc_core.train.samples import dataset_sources


def nth_in_epochs(key: list, n: int, size: int) -> int:
    """The n-th draw of a sequence that runs through range(size) in a fresh permutation every epoch,
    seeded with key + [epoch]: each item once per epoch, the same on every process."""
    epoch, offset = divmod(n, size)
    return int(np.random.default_rng(list(key) + [epoch]).permutation(size)[offset])


class SourceMix:
    """Maps global batch positions to dataset indices. `real` and `synthetic` are the dataset indices
    of each source; `fraction` the share of positions given to real samples (0 < r < 1)."""

    def __init__(self, real: list[int], synthetic: list[int], fraction: float, seed: int = 0):
        if not (real and synthetic and 0.0 < fraction < 1.0):
            raise ValueError('SourceMix needs real and synthetic samples and a fraction in (0, 1)')
        self.real, self.synthetic, self.fraction, self.seed = list(real), list(synthetic), float(fraction), int(seed)

    @classmethod
    def for_dataset(cls, dataset, fraction: float, seed: int = 0) -> 'SourceMix | None':
        """None (plain sampling) when `fraction` is 0 or the dataset holds one source only."""
        if fraction <= 0.0:
            return None
        sources = dataset_sources(dataset)
        real = [i for i, s in enumerate(sources) if s == 'real']
        synthetic = [i for i, s in enumerate(sources) if s != 'real']
        if not real or not synthetic:
            return None
        if fraction >= 1.0:
            raise ValueError('train.real_fraction 1 leaves no room for synthetic samples; drop them instead')
        return cls(real, synthetic, fraction, seed)

    def is_real(self, position: int) -> bool:
        return math.floor((position + 1) * self.fraction) > math.floor(position * self.fraction)

    def index(self, position: int) -> int:
        """Global position -> dataset index."""
        real_before = math.floor(position * self.fraction)  # real positions among 0 .. position-1
        if self.is_real(position):
            return self._pick(self.real, real_before, 1)
        return self._pick(self.synthetic, position - real_before, 2)

    def _pick(self, members: list[int], count: int, stream: int) -> int:
        return members[nth_in_epochs([self.seed, stream], count, len(members))]
