"""Colours for camera rays: albedo (per object, or per ground class with lane markings),
building windows, value-noise texture, Lambert + ambient shading, haze, and a sky gradient."""
from __future__ import annotations

import numpy as np

from loc_core.sim.assets import BODY, CLASS_ALBEDO, MATERIAL_ALBEDO
from loc_core.sim.ground import DRIVEABLE
from loc_core.sim.layout import LANE_WIDTH

# scene-0916: 4.0 % of pixels are near-white (all channels > 240: an overcast, blown-out sky)
# against 0.3 % with the former bluer horizon (0.80, 0.85, 0.92)
SKY_HORIZON = np.array([0.96, 0.97, 0.98])
SKY_ZENITH = np.array([0.38, 0.56, 0.85])
MANMADE = 15


NOISE_TABLE = np.random.default_rng(20251024).uniform(-1.0, 1.0, (64, 64, 64)).astype(np.float32)


def lattice_noise(points: np.ndarray, cells_per_metre: float) -> np.ndarray:
    """(N,3) points, metres -> (N,) float32 in [-1, 1): a fixed random value per lattice cell of
    1/cells_per_metre metres (the lattice repeats every 64 cells)."""
    cells = np.floor(points * cells_per_metre).astype(np.int32) & 63
    return NOISE_TABLE[cells[:, 0], cells[:, 1], cells[:, 2]]


def lane_markings(points, layout) -> np.ndarray:
    """(N,3) town-frame road points -> (N,) bool: on a painted line of the main road."""
    y, x = points[:, 1], points[:, 0]
    on_main = np.abs(y) < layout.lanes * LANE_WIDTH + 0.2
    dashed = np.zeros(len(y), dtype=bool)
    for k in range(1, layout.lanes):
        for sign in (1, -1):
            dashed |= np.abs(y - sign * k * LANE_WIDTH) < 0.08
    dashed &= np.mod(x, 9.0) < 3.0
    solid = (np.abs(np.abs(y) - 0.12) < 0.07) | (np.abs(np.abs(y) - layout.lanes * LANE_WIDTH) < 0.08)
    return on_main & (dashed | solid)


def _windows(points, normals) -> np.ndarray:
    """(N,) bool: a building wall point inside a window of a regular facade grid."""
    along = np.where(np.abs(normals[:, 0]) > np.abs(normals[:, 1]), points[:, 1], points[:, 0])
    vertical = np.abs(normals[:, 2]) < 0.3
    return vertical & (points[:, 2] > 1.0) & (np.mod(points[:, 2], 3.0) > 1.0) & (np.mod(points[:, 2], 3.0) < 2.2) \
        & (np.mod(along, 3.0) > 0.8) & (np.mod(along, 3.0) < 2.2)


def shade(snapshot, dirs, points, normals, labels, hit, distance, config) -> np.ndarray:
    """N rays: `dirs` (N,3), hit `points` (N,3) and `normals` (N,3) in the town frame, `labels`
    (HitLabels), `hit` (N,) bool, `distance` (N,) metres -> (N,3) uint8 RGB."""
    colour = np.empty((len(dirs), 3), dtype=np.float32)
    sky = np.flatnonzero(~hit)
    elevation = np.clip(dirs[sky, 2] / np.linalg.norm(dirs[sky], axis=1), 0.0, 1.0).astype(np.float32)
    colour[sky] = SKY_HORIZON + (SKY_ZENITH - SKY_HORIZON) * np.sqrt(elevation)[:, None]
    idx = np.flatnonzero(hit)
    colour[idx] = _surface_colour(snapshot.world, dirs[idx], points[idx], normals[idx], labels.object_ids[idx],
                                  labels.class_ids[idx], labels.materials[idx], distance[idx], config)
    if config.saturation != 1.0:
        grey = colour @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        colour = grey[:, None] + np.float32(config.saturation) * (colour - grey[:, None])
    return (np.clip(colour, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _surface_colour(world, dirs, points, normals, objects, classes, materials, distance, config) -> np.ndarray:
    """Colours (M,3) float32 0-1 of M ray hits."""
    albedo = np.empty((len(objects), 3), dtype=np.float32)
    is_obj = objects >= 0
    albedo[is_obj] = world.albedo[objects[is_obj]]
    painted = is_obj & (materials != BODY)
    albedo[painted] = MATERIAL_ALBEDO[materials[painted]]
    ground = ~is_obj
    albedo[ground] = CLASS_ALBEDO[classes[ground]]
    road = np.flatnonzero(ground & (classes == DRIVEABLE))
    albedo[road[lane_markings(points[road], world.town.layout)]] = 0.92
    walls = np.flatnonzero(is_obj & (classes == MANMADE))
    albedo[walls[_windows(points[walls], normals[walls])]] *= np.array([0.35, 0.45, 0.6], dtype=np.float32)
    if config.texture_noise > 0:
        noise = 0.6 * lattice_noise(points, 6.0) + 0.4 * lattice_noise(points + 17.0, 1.1)
        albedo *= (1.0 + config.texture_noise * noise)[:, None]
    n = normals.astype(np.float32)
    n[np.einsum('ij,ij->i', n, dirs.astype(np.float32)) > 0] *= -1
    sun = world.town.sun_direction.astype(np.float32)
    light = 0.45 + 0.6 * np.clip(n @ sun, 0.0, None) + 0.1 * n[:, 2]
    haze = (1.0 - np.exp(-distance / 350.0)).astype(np.float32)[:, None]
    return albedo * light[:, None] * (1 - haze) + SKY_HORIZON.astype(np.float32) * haze
