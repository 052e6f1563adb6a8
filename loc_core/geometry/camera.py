"""Pinhole cameras: projecting points into images and testing camera frusta.

Camera frame convention (OpenCV/nuScenes/ROS optical): x right, y down, z forward, metres.
Pixel coordinates (u right, v down) are `(K @ p)[:2] / z`, exactly as nuScenes computes them.
"""
from __future__ import annotations

import numpy as np

from loc_core.geometry.transforms import apply_transform, invert


def project_points(points_cam, intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """(N,3) points in the camera frame, (3,3) K -> ((N,2) float64 pixels (u, v), (N,) depth z m).

    Points at or behind the camera (z <= 0) get non-finite pixels; filter with `depth > 0`."""
    pts = np.asarray(points_cam, dtype=np.float64)
    k = np.asarray(intrinsics, dtype=np.float64)
    depth = pts[:, 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        uvw = pts @ k.T
        pixels = uvw[:, :2] / uvw[:, 2:3]
    return pixels, depth


def in_image(pixels, depth, image_size, min_depth: float = 1e-3, margin: float = 0.0) -> np.ndarray:
    """(N,2) pixels, (N,) depth, image_size (width, height) -> (N,) bool: in front of the camera
    (depth > min_depth) and inside [margin, size - margin) on both pixel axes."""
    width, height = image_size
    u, v = pixels[:, 0], pixels[:, 1]
    with np.errstate(invalid='ignore'):
        return ((depth > min_depth) & (u >= margin) & (u < width - margin)
                & (v >= margin) & (v < height - margin))


def project_to_camera(points, points_to_cam, intrinsics, image_size, min_depth: float = 1e-3):
    """Project (N,3) points in some frame through `points_to_cam` (4,4) into a camera.

    Returns (pixels (N,2) float64, depth (N,) float64 metres, visible (N,) bool)."""
    cam_points = apply_transform(points_to_cam, np.asarray(points, dtype=np.float64))
    pixels, depth = project_points(cam_points, intrinsics)
    return pixels, depth, in_image(pixels, depth, image_size, min_depth)


def in_frustum(points_ego, cam_to_ego, intrinsics, image_size, near: float = 0.1,
               far: float = np.inf) -> np.ndarray:
    """(N,3) points in the ego frame -> (N,) bool: inside the camera's viewing frustum
    between `near` and `far` metres of depth."""
    _, depth, visible = project_to_camera(points_ego, invert(cam_to_ego), intrinsics, image_size, near)
    return visible & (depth <= far)


def project_points_torch(points_cam, intrinsics):
    """Torch version of `project_points`: (...,N,3), (...,3,3) -> ((...,N,2) pixels, (...,N) depth)."""
    uvw = points_cam @ intrinsics.transpose(-1, -2)
    depth = uvw[..., 2]
    pixels = uvw[..., :2] / depth.clamp(min=1e-6).unsqueeze(-1)
    return pixels, points_cam[..., 2]
