"""Camera image payloads: JPEG bytes passed through when the source has them, else encoded;
raw sensor_msgs/Image buffers (a user's recordings) converted to RGB."""
from __future__ import annotations

import io

import numpy as np

JPEG_QUALITY = 90
# sensor_msgs/Image encodings we read -> (channels, channel order to take for R G B)
RAW_ENCODINGS = {'rgb8': (3, (0, 1, 2)), 'bgr8': (3, (2, 1, 0)), 'rgba8': (4, (0, 1, 2)),
                 'bgra8': (4, (2, 1, 0)), 'mono8': (1, (0, 0, 0))}


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


def raw_image_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/Image (8-bit rgb/bgr/rgba/bgra/mono, rows may be padded) -> (H,W,3) uint8 RGB;
    ValueError for other encodings or a buffer that does not match height x step."""
    if msg.encoding not in RAW_ENCODINGS:
        raise ValueError(f'image encoding {msg.encoding!r} not supported (use one of {sorted(RAW_ENCODINGS)})')
    channels, order = RAW_ENCODINGS[msg.encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.asarray(msg.data, dtype=np.uint8)
    if step < width * channels or len(data) < height * step:
        raise ValueError(f'{msg.encoding} image {width}x{height}: {len(data)} bytes do not fit step {step}')
    pixels = data[:height * step].reshape(height, step)[:, :width * channels].reshape(height, width, channels)
    return np.ascontiguousarray(pixels[..., list(order)])
