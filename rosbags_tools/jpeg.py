"""JPEG bytes for camera messages: passed through when the source has them, else encoded."""
from __future__ import annotations

import io

import numpy as np

JPEG_QUALITY = 90


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """(H,W,3) uint8 RGB -> JPEG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format='JPEG', quality=quality)
    return buffer.getvalue()


def looks_like_jpeg(payload: bytes | None) -> bool:
    """Cheap integrity check without decoding: start-of-image and end-of-image markers present
    (a truncated or foreign file fails it)."""
    return bool(payload) and payload[:2] == b'\xff\xd8' and payload.rstrip(b'\x00')[-2:] == b'\xff\xd9'
