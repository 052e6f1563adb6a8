"""Geometric rules that correct painted point classes the 2D teacher confuses (measured in
bench/teacher_quality.py --rules; see BENCHMARKS.md, "Real labels: the 2D teacher").

* Terrain vs vegetation by height: grass and soil lie on the ground, so a point painted terrain
  more than `terrain_max_height` metres above the local ground becomes vegetation (a bush the
  teacher saw as grass).
* Sidewalk: a flat surface raised beside the road. A point painted driveable_surface or manmade
  that lies `kerb_min`-`kerb_max` metres above the road level around it (the median height of the
  points painted driveable_surface within `road_radius` metres) and on locally flat ground
  (neighbours within `flat_radius` spread less than `flat_spread` metres in height) becomes
  sidewalk.

The local ground is the lowest point per `cell`-metre map cell, its 3x3 neighbourhood's minimum
(all lengths metres, points (N,3) in a world or ego frame with z up)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loc_core.data.vocabulary import class_id

ROAD, SIDEWALK, TERRAIN = class_id('driveable_surface'), class_id('sidewalk'), class_id('terrain')
VEGETATION, MANMADE = class_id('vegetation'), class_id('manmade')


@dataclass(frozen=True)
class RuleSettings:
    cell: float = 1.0
    terrain_max_height: float = 0.4
    kerb_min: float = 0.06
    kerb_max: float = 0.35
    road_radius: float = 4.0
    flat_radius: float = 0.5
    flat_spread: float = 0.08
    sidewalk: bool = True
    terrain: bool = True


def local_ground(points, cell: float) -> np.ndarray:
    """(N,) float64 ground height under each point: the lowest z in its map cell and the 8 around."""
    keys = np.floor(points[:, :2] / cell).astype(np.int64)
    origin = keys.min(axis=0) - 1
    keys -= origin
    shape = tuple(keys.max(axis=0) + 2)
    lowest = np.full(shape, np.inf)
    np.minimum.at(lowest, (keys[:, 0], keys[:, 1]), points[:, 2])
    padded = np.full((shape[0] + 2, shape[1] + 2), np.inf)
    padded[1:-1, 1:-1] = lowest
    around = np.min([padded[1 + dx:1 + dx + shape[0], 1 + dy:1 + dy + shape[1]]
                     for dx in (-1, 0, 1) for dy in (-1, 0, 1)], axis=0)
    return around[keys[:, 0], keys[:, 1]]


def apply_rules(points, labels, settings: RuleSettings | None = None) -> np.ndarray:
    """(N,3) points and (N,) uint8 painted Occ3D ids -> corrected (N,) uint8 ids (a copy)."""
    settings = settings or RuleSettings()
    points = np.asarray(points, dtype=np.float64)
    out = np.array(labels, dtype=np.uint8, copy=True)
    if len(points) == 0:
        return out
    if settings.terrain:
        height = points[:, 2] - local_ground(points, settings.cell)
        out[(labels == TERRAIN) & (height > settings.terrain_max_height)] = VEGETATION
    if settings.sidewalk:
        _raised_flat_to_sidewalk(points, labels, out, settings)
    return out


def _cells(points, cell: float):
    """Map cell of each point: (keys (N,2) int64 from 0, grid shape)."""
    keys = np.floor(points[:, :2] / cell).astype(np.int64)
    keys -= keys.min(axis=0)
    return keys, tuple(keys.max(axis=0) + 1)


def _raised_flat_to_sidewalk(points, labels, out, settings: RuleSettings) -> None:
    from scipy.ndimage import uniform_filter

    road = labels == ROAD
    if road.sum() < 10:
        return
    keys, shape = _cells(points, settings.cell)
    # road level: mean road height per cell, averaged over the cells within road_radius
    total, count = np.zeros(shape), np.zeros(shape)
    np.add.at(total, (keys[road, 0], keys[road, 1]), points[road, 2])
    np.add.at(count, (keys[road, 0], keys[road, 1]), 1.0)
    size = 2 * int(round(settings.road_radius / settings.cell)) + 1
    mean_total = uniform_filter(total, size, mode='constant')
    mean_count = uniform_filter(count, size, mode='constant')
    with np.errstate(invalid='ignore', divide='ignore'):
        level = np.where(mean_count * size * size >= 5, mean_total / mean_count, np.nan)
    # flatness: height spread of every point in a flat_radius-sized cell
    fine, fine_shape = _cells(points, settings.flat_radius)
    low, high = np.full(fine_shape, np.inf), np.full(fine_shape, -np.inf)
    np.minimum.at(low, (fine[:, 0], fine[:, 1]), points[:, 2])
    np.maximum.at(high, (fine[:, 0], fine[:, 1]), points[:, 2])
    spread = (high - low)[fine[:, 0], fine[:, 1]]
    rise = points[:, 2] - level[keys[:, 0], keys[:, 1]]
    with np.errstate(invalid='ignore'):
        raised = (rise >= settings.kerb_min) & (rise <= settings.kerb_max) & (spread < settings.flat_spread)
    out[raised & np.isin(labels, (ROAD, MANMADE))] = SIDEWALK
