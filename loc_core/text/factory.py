"""Build the configured text encoder."""
from __future__ import annotations

from loc_core.config import TextConfig
from loc_core.text.base import TextEncoder
from loc_core.text.cache import EmbeddingCache


def create_text_encoder(config: TextConfig, device: str = 'cpu', cache: EmbeddingCache | None = None) -> TextEncoder:
    config.validate()
    cache = cache if cache is not None else EmbeddingCache(config.cache_dir or None)
    if config.encoder == 'sentence':
        from loc_core.text.sentence import SentenceEncoder

        return SentenceEncoder(device=device, cache=cache)
    from loc_core.text.clip import ClipTextEncoder

    return ClipTextEncoder(config.model_name, config.pretrained, device=device, cache=cache)
