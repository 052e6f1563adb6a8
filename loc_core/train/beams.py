"""Beam dropout: a 64-beam scan (SemanticKITTI's HDL-64E) made to look like a 32-beam one (nuScenes'
HDL-32E) by dropping every other ring, so that one network serves both kinds of unit.

Scans may carry no ring channel (SemanticKITTI has none). The rings come from the scan itself:
a spinning unit stores its returns ring after ring, each in azimuth order, so a new ring starts
wherever the azimuth jumps by more than half a turn (SemanticKITTI sequences 04 and 07: exactly 64
rings of about 1,950 returns, whose median elevations fall by 0.3-0.5 degrees per ring). The
elevation angle alone does not separate them (within a ring it spreads over the neighbours'
bands: the lasers sit at different heights and the scans are corrected per laser), so it serves
only when the order is lost (fewer than MIN_RINGS_TO_DROP jumps): then the returns are split into
64 bands of equal count by elevation, as whole rings would be.
"""
from __future__ import annotations

import numpy as np

MIN_RINGS_TO_DROP = 48  # scans with fewer rings are left as they are (32-beam units)
MAX_RINGS = 80  # more azimuth jumps than this: the points are not in firing order
BANDS = 64  # elevation bands when the order is lost


def elevation_deg(points: np.ndarray, origin) -> np.ndarray:
    """(N,3) ego points, (3,) LiDAR origin, metres -> (N,) float64 elevation angles, degrees."""
    rel = np.asarray(points, np.float64) - np.asarray(origin, np.float64).reshape(1, 3)
    return np.degrees(np.arctan2(rel[:, 2], np.hypot(rel[:, 0], rel[:, 1])))


def firing_order_rings(points: np.ndarray, origin) -> tuple[np.ndarray, int]:
    """(N,3) ego points in the order the unit stored them, (3,) LiDAR origin -> ((N,) int64 ring of
    every return, counted from the first stored; ring count): a ring starts at every azimuth jump
    of more than half a turn."""
    rel = np.asarray(points, np.float64) - np.asarray(origin, np.float64).reshape(1, 3)
    azimuth = np.degrees(np.arctan2(rel[:, 1], rel[:, 0]))
    starts = np.zeros(len(rel), np.int64)
    starts[1:] = np.abs(np.diff(azimuth)) > 180.0
    rings = np.cumsum(starts)
    return rings, int(rings[-1]) + 1 if len(rings) else 0


def elevation_bands(points: np.ndarray, origin, bands: int = BANDS) -> np.ndarray:
    """(N,3) ego points -> (N,) int64 band of equal return count by elevation, 0 = lowest."""
    order = np.argsort(elevation_deg(points, origin), kind='stable')
    rings = np.empty(len(order), np.int64)
    rings[order] = np.arange(len(order)) * bands // max(1, len(order))
    return rings


def ring_index(points: np.ndarray, origin) -> tuple[np.ndarray, int]:
    """(N,3) ego points of one sweep, (3,) LiDAR origin -> ((N,) int64 ring of every return, ring
    count): from the firing order when it shows MIN_RINGS_TO_DROP to MAX_RINGS rings (module
    docstring), else `BANDS` elevation bands for a dense scan (`looks_dense`), else (zeros, 0):
    not a 64-beam scan."""
    if len(points) == 0:
        return np.zeros(0, np.int64), 0
    rings, count = firing_order_rings(points, origin)
    if MIN_RINGS_TO_DROP <= count <= MAX_RINGS:
        return rings, count
    if looks_dense(points):
        return elevation_bands(points, origin), BANDS
    return np.zeros(len(points), np.int64), 0


def drop_alternate_rings(points: np.ndarray, origin, phase: int) -> np.ndarray | None:
    """(N,3) ego points -> (N,) bool keep mask: the rings whose index has parity `phase` (0 or 1),
    whole rings only; None when it is not a 64-beam scan (fewer than MIN_RINGS_TO_DROP rings)."""
    rings, count = ring_index(points, origin)
    if count < MIN_RINGS_TO_DROP:
        return None
    return rings % 2 == int(phase) % 2


def looks_dense(points: np.ndarray) -> bool:
    """True for a scan of 48 or more rings by its return count: a 64-beam sweep holds 100k-130k
    returns, a 32-beam one (nuScenes, the simulator) 30k-35k."""
    return len(points) > 80_000
