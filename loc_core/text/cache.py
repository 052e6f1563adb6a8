"""Embedding cache keyed by (encoder identity, template, prompt): in memory, optionally persisted
as one .npy file per key in a folder (written atomically, read with allow_pickle=False)."""
from __future__ import annotations

import hashlib
import io
import logging
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class EmbeddingCache:
    """`get`/`put` (D,) float32 vectors. `folder` None = memory only. Corrupt files are logged,
    counted in `corrupt` and re-computed, never trusted."""

    def __init__(self, folder=None):
        self.folder = Path(folder) if folder else None
        self._memory: dict[tuple, np.ndarray] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.corrupt = 0

    def __len__(self) -> int:
        return len(self._memory)

    @staticmethod
    def key_name(encoder: str, template: str, prompt: str) -> str:
        digest = hashlib.sha256('\x1f'.join((encoder, template, prompt)).encode()).hexdigest()
        return digest[:32]

    def get(self, encoder: str, template: str, prompt: str) -> np.ndarray | None:
        key = (encoder, template, prompt)
        with self._lock:
            vec = self._memory.get(key)
        if vec is None and self.folder is not None:
            vec = self._read(self.folder / f'{self.key_name(*key)}.npy')
            if vec is not None:
                with self._lock:
                    self._memory[key] = vec
        if vec is None:
            self.misses += 1
        else:
            self.hits += 1
        return vec

    def put(self, encoder: str, template: str, prompt: str, vector) -> None:
        vec = np.asarray(vector, dtype=np.float32).reshape(-1).copy()
        with self._lock:
            self._memory[(encoder, template, prompt)] = vec
        if self.folder is not None:
            from loc_core.data.occ3d_io import atomic_write_bytes

            buffer = io.BytesIO()
            np.save(buffer, vec, allow_pickle=False)
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.folder / f'{self.key_name(encoder, template, prompt)}.npy', buffer.getvalue())

    def _read(self, path: Path) -> np.ndarray | None:
        if not path.exists():
            return None
        try:
            vec = np.load(path, allow_pickle=False)
            if vec.ndim != 1 or vec.dtype != np.float32 or not np.all(np.isfinite(vec)):
                raise ValueError(f'bad array {vec.dtype} {vec.shape}')
            return vec
        except (OSError, ValueError) as exc:
            self.corrupt += 1
            log.warning('embedding cache: ignoring corrupt %s (%s)', path, exc)
            return None
