"""Voxel semantics by a k-nearest-neighbour vote over labelled points.

Each occupied voxel takes the majority Occ3D id among its `k` nearest labelled points lying within
`max_distance` metres of its centre (ties go to the nearer points); with no labelled point that
close it stays 255 (unlabelled). Points labelled 255 never vote."""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from loc_core.data.vocabulary import UNLABELLED_ID
from loc_core.gt.densify import thin_points

class LabelVoter:
    """One KD-tree over a keyframe's labelled points, reused for every query.

    `points` (N,3) float64 metres and `labels` (N,) uint8 in the frame of the later queries;
    `thin` (metres) keeps one point per cube and label first (0 keeps all)."""

    def __init__(self, points, labels, k: int = 5, max_distance: float = 1.0, thin: float = 0.0):
        labels = np.asarray(labels, dtype=np.uint8)
        labelled = np.flatnonzero(labels != UNLABELLED_ID)
        keep = labelled[thin_points(np.asarray(points)[labelled], thin, labels[labelled])]
        self.labels = labels[keep]
        self.ids, self.slots = np.unique(self.labels, return_inverse=True)  # compact vote table
        self.tree = cKDTree(np.asarray(points, dtype=np.float64)[keep]) if len(keep) else None
        self.k = int(k)
        self.max_distance = float(max_distance)

    def __len__(self) -> int:
        return len(self.labels)

    def vote(self, queries) -> np.ndarray:
        """(M,3) query positions (voxel centres) -> (M,) uint8 majority ids, 255 where no
        labelled point lies within `max_distance`."""
        queries = np.asarray(queries, dtype=np.float64).reshape(-1, 3)
        out = np.full(len(queries), UNLABELLED_ID, dtype=np.uint8)
        if self.tree is None or len(queries) == 0:
            return out
        k = min(self.k, len(self.labels))
        _, neighbours = self.tree.query(queries, k=k, distance_upper_bound=self.max_distance)
        neighbours = neighbours.reshape(len(queries), k)
        found = neighbours < len(self.labels)
        rows = np.broadcast_to(np.arange(len(queries))[:, None], neighbours.shape)[found]
        slots = self.slots[neighbours[found]].astype(np.int64)
        width = len(self.ids)
        # one vote each, plus a rank bonus far below one vote, so that ties go to the nearer points
        rank_bonus = (k - np.broadcast_to(np.arange(k), neighbours.shape)[found]) / (k * k + 1.0)
        table = np.bincount(rows * width + slots, weights=1.0 + rank_bonus,
                            minlength=len(queries) * width).reshape(len(queries), width)
        has_vote = found.any(axis=1)
        out[has_vote] = self.ids[np.argmax(table[has_vote], axis=1)]
        return out
