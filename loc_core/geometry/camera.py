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


def nearest_depth_buffer(pixels, depth, size, focal: float, footprint: float, max_radius: int = 8) -> np.ndarray:
    """A depth buffer: (N,2) pixels and (N,) depths (metres, > 0) of points in front of a camera
    whose focal length is `focal` pixels -> (H, W) float64 nearest depth per pixel of an image of
    `size` (width, height); each point covers the square of pixels a `footprint`-metre patch at
    its depth spans (radius capped at `max_radius` pixels); inf where no point lands."""
    width, height = size
    buffer = np.full((height, width), np.inf)
    pixels, depth = np.asarray(pixels, dtype=np.float64), np.asarray(depth, dtype=np.float64)
    radius = np.minimum(np.floor(focal * footprint / 2 / depth), max_radius).astype(np.int64)
    for reach in range(int(radius.max(initial=0)) + 1):
        chosen = radius >= reach
        offsets = [(du, dv) for du in range(-reach, reach + 1) for dv in range(-reach, reach + 1)
                   if max(abs(du), abs(dv)) == reach]
        base_u = np.floor(pixels[chosen, 0]).astype(np.int64)
        base_v = np.floor(pixels[chosen, 1]).astype(np.int64)
        for du, dv in offsets:
            u, v = base_u + du, base_v + dv
            ok = (u >= 0) & (u < width) & (v >= 0) & (v < height)
            np.minimum.at(buffer, (v[ok], u[ok]), depth[chosen][ok])
    return buffer
