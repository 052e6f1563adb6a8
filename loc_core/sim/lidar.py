"""The simulated spinning LiDAR: one ray per (azimuth step, beam), cast with open3d's
`RaycastingScene`, then range noise, random and grazing-angle dropouts, and an intensity from the
hit class's reflectivity (lane paint is brighter), the incidence angle and the range, scaled and
spread log-normally like nuScenes'. The low beams also hit the ego's roof (`LidarConfig.ego_roof`):
those returns have label 255 and `LidarScan.ego` True, and ground truth ignores them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loc_core.data.vocabulary import UNLABELLED_ID
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
    `novel_ids` (N,) uint8 (0 = not novel); `ego` (N,) bool returns from the ego's own roof (class
    255, instance -1)."""

    points: np.ndarray
    intensity: np.ndarray
    ring: np.ndarray
    class_ids: np.ndarray
    instance_ids: np.ndarray
    novel_ids: np.ndarray
    ego: np.ndarray | None = None


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
    roof = _roof_hits(dirs_lidar, mount, config)
    keep = np.isfinite(rng_t) & (rng_t >= config.min_range) & (rng_t <= config.max_range)
    keep[roof[0]] = False
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
    intensity *= config.intensity_scale * np.exp(rng.normal(0.0, config.intensity_log_sigma, len(idx)))
    intensity = np.clip(intensity + rng.normal(0.0, 2.0, len(idx)), 0.0, 255.0)
    class_ids, instance_ids, novel_ids = labels.class_ids, labels.instance_ids, labels.novel_ids
    ego = np.zeros(len(idx), dtype=bool)
    roof_rays, roof_t = roof
    roof_keep = rng.random(len(roof_rays)) >= config.dropout_probability
    roof_rays, roof_t = roof_rays[roof_keep], roof_t[roof_keep]
    if len(roof_rays):
        roof_t = np.maximum(roof_t + rng.normal(0.0, config.range_noise_std, len(roof_rays)), 0.05)
        roof_int = config.ego_roof_intensity * np.exp(rng.normal(0.0, config.intensity_log_sigma, len(roof_rays)))
        # merge in ray order (azimuth step, then beam), as the scene returns are
        order = np.argsort(np.concatenate([idx, roof_rays]), kind='stable')
        idx = np.concatenate([idx, roof_rays])[order]
        points = np.concatenate([points, dirs_lidar[roof_rays] * roof_t[:, None]])[order]
        intensity = np.concatenate([intensity, np.clip(roof_int, 0.0, 255.0)])[order]
        n_roof = len(roof_rays)
        class_ids = np.concatenate([class_ids, np.full(n_roof, UNLABELLED_ID, np.uint8)])[order]
        instance_ids = np.concatenate([instance_ids, np.full(n_roof, -1, np.int32)])[order]
        novel_ids = np.concatenate([novel_ids, np.zeros(n_roof, np.uint8)])[order]
        ego = np.concatenate([ego, np.ones(n_roof, bool)])[order]
    return LidarScan(points.astype(np.float32), intensity.astype(np.float32), ring[idx],
                     class_ids.astype(np.uint8), instance_ids.astype(np.int32), novel_ids.astype(np.uint8), ego)


def _roof_hits(dirs_lidar: np.ndarray, mount: np.ndarray, config: LidarConfig) -> tuple[np.ndarray, np.ndarray]:
    """Rays (indices, ranges) that hit the ego's roof disc `config.ego_roof` (ego frame; the mount
    is a yaw and a translation, so the LiDAR's z is the ego's)."""
    if config.ego_roof is None:
        return np.zeros(0, np.int64), np.zeros(0)
    z, cx, cy, radius = config.ego_roof
    dz = z - mount[2, 3]
    down = np.flatnonzero(dirs_lidar[:, 2] * dz > 0)
    t = dz / dirs_lidar[down, 2]
    hit = apply_rotation(mount, dirs_lidar[down]) * t[:, None] + mount[:3, 3]
    inside = np.hypot(hit[:, 0] - cx, hit[:, 1] - cy) < radius
    return down[inside], t[inside]


def lidar_origin_ego(config: LidarConfig) -> np.ndarray:
    """(3,) float64 LiDAR origin in the ego frame, metres."""
    return apply_transform(lidar_to_ego(config), np.zeros((1, 3)))[0]
