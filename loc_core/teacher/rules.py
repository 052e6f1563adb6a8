"""A geometric rule that corrects a class the 2D teacher confuses: terrain against vegetation by
height. Grass and soil lie on the ground, so a point painted terrain more than `max_height` metres
above the local ground (the lowest point of its `cell`-metre map cell and the 8 around it) becomes
vegetation: a bush or hedge the teacher took for grass. Points (N,3) in a frame with z up, metres.

Measured in bench/teacher_quality.py (BENCHMARKS.md, "Real labels: the 2D teacher"), where a
sidewalk rule (a flat surface raised beside the road) was tried too and not kept: it took more road
than it found sidewalk."""
from __future__ import annotations

import numpy as np

from loc_core.data.vocabulary import class_id

TERRAIN, VEGETATION = class_id('terrain'), class_id('vegetation')


def local_ground(points, cell: float = 1.0) -> np.ndarray:
    """(N,) float64 ground height under each point: the lowest z in its map cell and the 8 around."""
    keys = np.floor(points[:, :2] / cell).astype(np.int64)
    keys -= keys.min(axis=0)
    shape = tuple(keys.max(axis=0) + 1)
    padded = np.full((shape[0] + 2, shape[1] + 2), np.inf)
    np.minimum.at(padded, (keys[:, 0] + 1, keys[:, 1] + 1), points[:, 2])
    around = np.min([padded[1 + dx:1 + dx + shape[0], 1 + dy:1 + dy + shape[1]]
                     for dx in (-1, 0, 1) for dy in (-1, 0, 1)], axis=0)
    return around[keys[:, 0], keys[:, 1]]


def raised_terrain_to_vegetation(points, labels, max_height: float, cell: float = 1.0) -> np.ndarray:
    """(N,3) points and (N,) uint8 Occ3D ids -> a copy with terrain points higher than `max_height`
    metres above the local ground turned vegetation."""
    out = np.array(labels, dtype=np.uint8, copy=True)
    terrain = out == TERRAIN
    if terrain.any():
        points = np.asarray(points, dtype=np.float64)
        height = points[:, 2] - local_ground(points, cell)
        out[terrain & (height > max_height)] = VEGETATION
    return out
