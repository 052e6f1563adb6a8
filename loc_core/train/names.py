"""Per-step class text for training with several names per class (`train.class_names: many`).

Every (name, template) pair of every class is embedded once (`ClassNameBank`, float32, unit rows,
on the training device). Each step draws one pair per class from a generator seeded with
(seed, step): the same draw on every DDP rank and on a resumed run. The standard prompt
(`OCC3D_PROMPTS`, through one of the templates) comes with probability `standard_share`, else one
of the class's other names, uniformly."""
from __future__ import annotations

import numpy as np
import torch

from loc_core.data.class_names import TRAINING_NAMES


class ClassNameBank:
    def __init__(self, embeddings: list[torch.Tensor], standard_counts: list[int], standard_share: float, seed: int):
        """`embeddings[c]` (N_c,D) float32 unit rows: class c's names x templates, the standard name's
        `standard_counts[c]` template variants first."""
        self.embeddings, self.standard_counts = embeddings, standard_counts
        self.standard_share, self.seed = float(standard_share), int(seed)

    @classmethod
    def create(cls, text_encoder, templates, standard_share: float, seed: int, device='cpu',
               names=TRAINING_NAMES) -> 'ClassNameBank':
        templates = tuple(templates) or ('{}',)
        embeddings = [torch.from_numpy(text_encoder.encode([t.format(n) for n in class_names for t in templates])
                                       ).to(device) for class_names in names]
        return cls(embeddings, [len(templates)] * len(names), standard_share, seed)

    def choice(self, step: int) -> list[int]:
        """Row of each class's embedding table used at `step` (deterministic)."""
        rng = np.random.default_rng([self.seed, int(step), 0x6E616D65])
        rows = []
        for table, standard in zip(self.embeddings, self.standard_counts):
            others = len(table) - standard
            if others == 0 or rng.random() < self.standard_share:
                rows.append(int(rng.integers(standard)))
            else:
                rows.append(standard + int(rng.integers(others)))
        return rows

    def text(self, step: int) -> torch.Tensor:
        """(P,D) float32: one unit embedding per class for `step`."""
        return torch.stack([table[row] for table, row in zip(self.embeddings, self.choice(step))])
