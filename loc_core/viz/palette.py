"""Display colours for prompt sets: a prompt that stands for an Occ3D class keeps that class's colour;
other prompts (novel objects, free text) get distinct, stable colours from their text."""
from __future__ import annotations

import colorsys
import hashlib

import numpy as np

from loc_core.data.vocabulary import OCC3D_COLORS, UNKNOWN_COLOR
from loc_core.inference.result import FREE_LABEL, UNKNOWN_LABEL


def prompt_color(prompt: str, class_id: int = -1) -> np.ndarray:
    """(3,) uint8 RGB for one prompt."""
    if 0 <= class_id < len(OCC3D_COLORS) - 1:  # 17 (free) is no class a prompt can stand for
        return OCC3D_COLORS[class_id].copy()
    digest = hashlib.sha1(prompt.strip().lower().encode()).digest()
    hue = digest[0] / 255.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.55 + 0.4 * digest[1] / 255.0, 0.75 + 0.25 * digest[2] / 255.0)
    return np.array([r * 255, g * 255, b * 255], dtype=np.uint8)


def label_lut(prompts, class_ids) -> np.ndarray:
    """(256,3) uint8: colour of each result label value (prompt index, UNKNOWN_LABEL, FREE_LABEL)."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    for index, (prompt, cid) in enumerate(zip(prompts, class_ids)):
        lut[index] = prompt_color(prompt, int(cid))
    lut[UNKNOWN_LABEL] = UNKNOWN_COLOR
    lut[FREE_LABEL] = (255, 255, 255)
    return lut
