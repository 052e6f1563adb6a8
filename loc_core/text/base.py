"""The text-encoder interface and prompt ensembling over templates."""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from loc_core.text.cache import EmbeddingCache


class TextEncoder(ABC):
    """Maps texts to L2-normalised embeddings. `identity` names encoder + weights (cache key part);
    `dim` the embedding size D."""

    identity: str
    dim: int

    def __init__(self, cache: EmbeddingCache | None = None):
        self.cache = cache if cache is not None else EmbeddingCache()

    @abstractmethod
    def _encode_raw(self, texts: list[str]) -> np.ndarray:
        """texts -> (N,D) float32 embeddings (not necessarily normalised)."""

    def encode(self, texts) -> np.ndarray:
        """texts -> (N,D) float32 L2-normalised embeddings."""
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalize(np.asarray(self._encode_raw(texts), dtype=np.float32))

    def encode_prompts(self, prompts, templates=('{}',)) -> np.ndarray:
        """(P,) prompts -> (P,D) float32: each prompt embedded through every template, averaged,
        re-normalised. Embeddings come from the cache keyed by (encoder, template, prompt)."""
        return encode_prompts(self, prompts, templates)


def encode_prompts(encoder: TextEncoder, prompts, templates=('{}',)) -> np.ndarray:
    prompts = [str(p) for p in prompts]
    templates = tuple(templates) or ('{}',)
    missing = [(t, p) for t in templates for p in prompts if encoder.cache.get(encoder.identity, t, p) is None]
    if missing:
        unique = list(dict.fromkeys(missing))
        vectors = encoder.encode([t.format(p) for t, p in unique])
        for (t, p), vec in zip(unique, vectors):
            encoder.cache.put(encoder.identity, t, p, vec)
    stacked = np.stack([np.stack([encoder.cache.get(encoder.identity, t, p) for t in templates]).mean(0)
                        for p in prompts]) if prompts else np.zeros((0, encoder.dim), np.float32)
    return l2_normalize(stacked.astype(np.float32))


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of (N,D) scaled to unit length (zero rows stay zero)."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, eps)
