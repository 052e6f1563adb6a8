"""Feature homogenisation: how similar the language features of voxels of DIFFERENT classes are.
Direct feature regression onto (mutually similar) text embeddings tends to collapse them; DCL
should keep them apart. Measured on voxels that are occupied in both ground truth and prediction."""
from __future__ import annotations

import numpy as np

from loc_core.data.vocabulary import FREE_ID, UNLABELLED_ID

PER_CLASS = 200  # voxels sampled per class and frame


class HomogenisationMeter:
    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.features: list[np.ndarray] = []
        self.classes: list[np.ndarray] = []

    def add(self, result, labels) -> None:
        """`result` an OccupancyResult with features; `labels` the frame's Occ3DLabels."""
        if result.features.shape[1] == 0:
            raise ValueError('homogenisation needs predictions with features')
        i, j, k = result.occupied_indices.T
        truth = labels.semantics[i, j, k]
        keep = labels.mask_camera[i, j, k].astype(bool) & (truth != FREE_ID) & (truth != UNLABELLED_ID)
        if labels.semantics_open is not None:
            keep &= labels.semantics_open[i, j, k] == truth  # novel objects are not a class here
        for cls in np.unique(truth[keep]):
            rows = np.flatnonzero(keep & (truth == cls))
            rows = self.rng.choice(rows, size=min(PER_CLASS, len(rows)), replace=False)
            self.features.append(result.features[rows])
            self.classes.append(np.full(len(rows), cls))

    def summary(self) -> dict:
        """{'inter_class_cosine': mean cosine of voxel pairs of different classes, 'intra_class_cosine':
        of pairs of the same class, 'classes': how many classes were seen}."""
        if not self.features:
            return {'inter_class_cosine': None, 'intra_class_cosine': None, 'classes': 0}
        feats, classes = np.concatenate(self.features), np.concatenate(self.classes)
        if len(feats) > 4000:
            pick = self.rng.choice(len(feats), 4000, replace=False)
            feats, classes = feats[pick], classes[pick]
        cosine = feats @ feats.T
        same = classes[:, None] == classes[None, :]
        off_diagonal = ~np.eye(len(feats), dtype=bool)
        inter = cosine[~same].mean() if (~same).any() else np.nan
        intra = cosine[same & off_diagonal].mean() if (same & off_diagonal).any() else np.nan
        return {'inter_class_cosine': None if np.isnan(inter) else float(inter),
                'intra_class_cosine': None if np.isnan(intra) else float(intra),
                'classes': int(len(np.unique(classes)))}
