"""`OccupancyResult`: what one prediction returns, for the node, the demo, the bag tools and the
evaluator alike. Grids are (X,Y,Z) on `grid` (ego frame of the input Frame), x slowest."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from loc_core.geometry.voxel_grid import VoxelGrid

FREE_LABEL = 255     # label of voxels predicted free
UNKNOWN_LABEL = 254  # label of occupied voxels whose best prompt similarity is below the threshold


@dataclass
class OccupancyResult:
    """One frame's prediction.

    * `labels` (X,Y,Z) uint8: for occupied voxels the index into `prompts` of the best-matching
      prompt, `UNKNOWN_LABEL` when no prompt matches well, `FREE_LABEL` for free voxels.
    * `occupancy` (X,Y,Z) float32 in [0,1]: occupancy probability.
    * `scores` (X,Y,Z) float32: match score of occupied voxels (0 elsewhere): the best cosine
      similarity to the prompts, or its smooth maximum when `inference.unknown_temperature` > 0;
      the voxel is unknown when it is below `inference.unknown_threshold`.
    * `occupied_indices` (M,3) int64 voxel indices of the occupied voxels, C order.
    * The occupied voxels' L2-normalised language features (D = text-embedding size) come factored:
      `features = feature_coefficients @ feature_basis.T`, with `feature_coefficients` (M,L) float32
      and `feature_basis` (D,L) float32 the network's projection into the text space (L = 32 for
      the shipped networks). Exact, and 12x smaller than (M,384); `features` materialises them,
      `similarities(text)` scores them without doing so. `feature_basis` None: the coefficients are
      the features themselves. (M,0) coefficients: predicted without features.
    * `prompts` the prompt texts the labels index; `class_ids` (P,) int the Occ3D id each prompt stands for
      (-1 for prompts outside the Occ3D vocabulary, e.g. novel objects).
    """

    labels: np.ndarray
    occupancy: np.ndarray
    scores: np.ndarray
    occupied_indices: np.ndarray
    feature_coefficients: np.ndarray
    prompts: tuple[str, ...]
    class_ids: np.ndarray
    feature_basis: np.ndarray | None = None
    grid: VoxelGrid = field(default_factory=VoxelGrid)
    timestamp_ns: int = 0
    timings_ms: dict = field(default_factory=dict)

    @property
    def features(self) -> np.ndarray:
        """(M,D) float32 unit language features of the occupied voxels ((M,0) when predicted
        without features); built from the factors on every access."""
        if self.feature_basis is None or self.feature_coefficients.shape[1] == 0:
            return self.feature_coefficients
        return self.feature_coefficients @ self.feature_basis.T

    def similarities(self, text_embeddings: np.ndarray) -> np.ndarray:
        """(P,D) unit text embeddings -> (M,P) float32 cosine similarity of every occupied voxel to
        every text, without materialising `features`."""
        text = np.asarray(text_embeddings, np.float32)
        if self.feature_coefficients.shape[1] == 0:
            raise ValueError('this result was predicted without features')
        if self.feature_basis is None:
            return self.feature_coefficients @ text.T
        return self.feature_coefficients @ (self.feature_basis.T @ text.T)

    def select_voxels(self, keep: np.ndarray) -> OccupancyResult:
        """A copy restricted to the occupied voxels where (M,) bool `keep` is True (labels, scores
        and occupancy unchanged)."""
        return replace(self, occupied_indices=self.occupied_indices[keep],
                       feature_coefficients=self.feature_coefficients[keep])

    @property
    def unknown(self) -> np.ndarray:
        """(X,Y,Z) bool: occupied voxels that match no prompt."""
        return self.labels == UNKNOWN_LABEL

    @property
    def occupied(self) -> np.ndarray:
        """(X,Y,Z) bool."""
        return self.labels != FREE_LABEL

    def to_occ3d_semantics(self) -> np.ndarray:
        """(X,Y,Z) uint8 Occ3D ids: prompts mapped through `class_ids`, free -> 17, unknown and
        prompts without an Occ3D id -> 0 (others)."""
        from loc_core.data.vocabulary import FREE_ID

        lut = np.zeros(256, dtype=np.uint8)
        ids = np.asarray(self.class_ids)
        lut[:len(ids)] = np.where(ids >= 0, ids, 0)
        lut[FREE_LABEL] = FREE_ID
        return lut[self.labels]
