"""The simulated spinning LiDAR: one ray per (azimuth step, beam), cast with open3d's
`RaycastingScene`, then range noise, random and grazing-angle dropouts, and an intensity from the
hit class's reflectivity (lane paint is brighter), the incidence angle and the range."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loc_core.geometry.transforms import apply_rotation, apply_transform, compose, yaw_transform
from loc_core.sim.assets import CLASS_REFLECTIVITY
from loc_core.sim.config import LidarConfig
from loc_core.sim.ground import DRIVEABLE
from loc_core.sim.shading import lane_markings

PAINT_REFLECTIVITY = 0.8  # retro-reflective lane paint


@dataclass
class LidarScan:
    """One sweep's returns. `points` (N,3) float32 LiDAR frame, metres (with range noise);
    `intensity` (N,) float32 0-255; `ring` (N,) uint8 beam index (0 = lowest beam);
    `class_ids` (N,) uint8 Occ3D ids (novel objects 0); `instance_ids` (N,) int32 (-1 stuff);
    `novel_ids` (N,) uint8 (0 = not novel)."""

    points: np.ndarray
    intensity: np.ndarray
    ring: np.ndarray
    class_ids: np.ndarray
    instance_ids: np.ndarray
    novel_ids: np.ndarray


def lidar_to_ego(config: LidarConfig) -> np.ndarray:
    """(4,4) float64 LiDAR -> ego transform of the mount."""
    x, y, z = config.mount_xyz
    return yaw_transform(x, y, z, np.radians(config.mount_yaw_deg))


def beam_directions(config: LidarConfig) -> tuple[np.ndarray, np.ndarray]:
    """(A*B,3) float64 unit ray directions in the LiDAR frame, ordered by azimuth step then beam,
    and (A*B,) uint8 beam index of each."""
    elevation = np.radians(np.linspace(config.elevation_min_deg, config.elevation_max_deg, config.beams))
    azimuth = np.arange(config.azimuth_steps) * (2 * np.pi / config.azimuth_steps)
    el, az = np.meshgrid(elevation, azimuth)
    dirs = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)
    ring = np.broadcast_to(np.arange(config.beams, dtype=np.uint8), el.shape)
    return dirs.reshape(-1, 3), ring.reshape(-1).copy()


def simulate_lidar(snapshot, ego_to_town: np.ndarray, config: LidarConfig, rng: np.random.Generator) -> LidarScan:
    """Cast one sweep from the LiDAR's pose at the snapshot's time (an instantaneous sweep)."""
    mount = lidar_to_ego(config)
    lidar_to_town = compose(ego_to_town, mount)
    dirs_lidar, ring = beam_directions(config)
    dirs_town = apply_rotation(lidar_to_town, dirs_lidar)
    origin = np.broadcast_to(lidar_to_town[:3, 3], dirs_town.shape)
    cast = snapshot.cast(origin, dirs_town)
    rng_t = cast['t_hit'].astype(np.float64)
    cos_incidence = np.abs(np.einsum('ij,ij->i', cast['normals'].astype(np.float64), dirs_town))
    keep = np.isfinite(rng_t) & (rng_t >= config.min_range) & (rng_t <= config.max_range)
    dropout = rng.random(len(rng_t)) < config.dropout_probability
    grazing = rng.random(len(rng_t)) < np.clip((0.08 - cos_incidence) / 0.08, 0.0, 1.0)
    keep &= ~dropout & ~grazing
    idx = np.flatnonzero(keep)
    hits_town = origin[idx] + dirs_town[idx] * rng_t[idx, None]
    labels = snapshot.label(cast['part'][idx], hits_town)
    noisy = np.maximum(rng_t[idx] + rng.normal(0.0, config.range_noise_std, len(idx)), config.min_range)
    points = dirs_lidar[idx] * noisy[:, None]
    reflect = CLASS_REFLECTIVITY[labels.class_ids]
    road = np.flatnonzero((labels.object_ids == -1) & (labels.class_ids == DRIVEABLE))
    reflect[road[lane_markings(hits_town[road], snapshot.world.town.layout)]] = PAINT_REFLECTIVITY
    intensity = 255.0 * reflect * (0.3 + 0.7 * cos_incidence[idx]) * np.exp(-noisy / 150.0)
    intensity = np.clip(intensity + rng.normal(0.0, 2.0, len(idx)), 0.0, 255.0)
    return LidarScan(points.astype(np.float32), intensity.astype(np.float32), ring[idx],
                     labels.class_ids, labels.instance_ids, labels.novel_ids)


def lidar_origin_ego(config: LidarConfig) -> np.ndarray:
    """(3,) float64 LiDAR origin in the ego frame, metres."""
    return apply_transform(lidar_to_ego(config), np.zeros((1, 3)))[0]
