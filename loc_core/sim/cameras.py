"""Six nuScenes-like cameras rendered by ray casting (open3d `RaycastingScene`): per-class (and
per-object) albedo, Lambert shading from the sun, value-noise texture, lane markings, windows,
distance haze and a sky gradient. Also the exact per-pixel Occ3D labels and depths."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loc_core.data.nuscenes_source import CAMERA_NAMES
from loc_core.data.vocabulary import FREE_ID
from loc_core.geometry.transforms import compose, yaw_transform
from loc_core.sim.config import CameraConfig
from loc_core.sim.shading import shade

# name -> (x, y, z metres in the ego frame, yaw degrees, horizontal field of view degrees), after
# nuScenes' rig (CAM_BACK has the wider lens)
CAMERA_RIG = {
    'CAM_FRONT': (1.70, 0.02, 1.51, 0.0, 64.6),
    'CAM_FRONT_RIGHT': (1.55, -0.49, 1.50, -55.0, 64.6),
    'CAM_BACK_RIGHT': (1.02, -0.48, 1.56, -110.0, 64.6),
    'CAM_BACK': (0.03, 0.00, 1.58, 180.0, 89.3),
    'CAM_BACK_LEFT': (1.04, 0.49, 1.59, 110.0, 64.6),
    'CAM_FRONT_LEFT': (1.52, 0.50, 1.51, 55.0, 64.6),
}
assert tuple(CAMERA_RIG) == CAMERA_NAMES

# optical frame (x right, y down, z forward) -> a body frame (x forward, y left, z up)
OPTICAL_TO_BODY = np.array([[0.0, 0.0, 1.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


@dataclass
class CameraImage:
    """One rendered camera: `image` (H,W,3) uint8 RGB, `pixel_labels` (H,W) uint8 Occ3D ids (sky
    and misses 17, novel objects 0), `novel_ids` (H,W) uint8, `depth` (H,W) float32 metres along
    the optical axis (inf = sky), `intrinsics` (3,3), `cam_to_ego` (4,4)."""

    name: str
    image: np.ndarray
    pixel_labels: np.ndarray
    novel_ids: np.ndarray
    depth: np.ndarray
    intrinsics: np.ndarray
    cam_to_ego: np.ndarray


def camera_rig(config: CameraConfig) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """[(name, K (3,3) float64, cam_to_ego (4,4) float64)] for the configured resolution."""
    rig = []
    for name, (x, y, z, yaw, hfov) in CAMERA_RIG.items():
        focal = (config.width / 2) / np.tan(np.radians(hfov) / 2)
        k = np.array([[focal, 0.0, config.width / 2], [0.0, focal, config.height * config.principal_y_fraction],
                      [0.0, 0.0, 1.0]])
        rig.append((name, k, compose(yaw_transform(x, y, z, np.radians(yaw)), OPTICAL_TO_BODY)))
    return rig


def pixel_rays(k: np.ndarray, width: int, height: int, stride: int = 1) -> np.ndarray:
    """(h,w,3) float64 ray directions in the optical frame through pixel centres (every `stride`
    pixels), scaled so that z = 1 (a hit's ray parameter is its depth)."""
    u = np.arange(0, width, stride) + 0.5
    v = np.arange(0, height, stride) + 0.5
    uu, vv = np.meshgrid(u, v)
    return np.stack([(uu - k[0, 2]) / k[0, 0], (vv - k[1, 2]) / k[1, 1], np.ones_like(uu)], axis=-1)


def render_cameras(snapshot, ego_to_town: np.ndarray, config: CameraConfig) -> list[CameraImage]:
    """Render all six cameras in one ray cast."""
    rig = camera_rig(config)
    h, w = config.height, config.width
    origins, dirs = [], []
    for _, k, cam_to_ego in rig:
        cam_to_town = compose(ego_to_town, cam_to_ego)
        d = pixel_rays(k, w, h).reshape(-1, 3).astype(np.float32) @ cam_to_town[:3, :3].T.astype(np.float32)
        dirs.append(d)
        origins.append(np.broadcast_to(cam_to_town[:3, 3].astype(np.float32), d.shape))
    origins, dirs = np.concatenate(origins), np.concatenate(dirs)
    cast = snapshot.cast(origins, dirs)
    depth = cast['t_hit']
    hit = np.isfinite(depth)
    points = origins + dirs * np.where(hit, depth, np.float32(0.0))[:, None]
    labels = snapshot.label(cast['part'], points)
    distance = np.where(hit, depth, np.float32(0.0)) * np.linalg.norm(dirs, axis=1)
    rgb = shade(snapshot, dirs, points, cast['normals'], labels, hit, distance, config)
    out = []
    n = h * w
    for c, (name, k, cam_to_ego) in enumerate(rig):
        sl = slice(c * n, (c + 1) * n)
        pixel_labels = labels.class_ids[sl].reshape(h, w)
        pixel_labels[~hit[sl].reshape(h, w)] = FREE_ID
        out.append(CameraImage(name, rgb[sl].reshape(h, w, 3), pixel_labels, labels.novel_ids[sl].reshape(h, w),
                               depth[sl].reshape(h, w).astype(np.float32), k, cam_to_ego))
    return out
