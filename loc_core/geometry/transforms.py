"""Rigid transforms as 4x4 homogeneous matrices (float64, metres).

Naming: `a_to_b` maps coordinates expressed in frame a into frame b, so that
`apply_transform(a_to_b, points_a) == points_b` and `compose(b_to_c, a_to_b) == a_to_c`.
Quaternions are (w, x, y, z), unit norm, as in nuScenes and ROS (ROS stores x, y, z, w).
"""
from __future__ import annotations

import numpy as np


def quaternion_to_matrix(q_wxyz) -> np.ndarray:
    """(4,) or (K,4) quaternions (w,x,y,z), normalised here -> (3,3) or (K,3,3) rotations."""
    q = np.asarray(q_wxyz, dtype=np.float64)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(norm < 1e-12) or not np.all(np.isfinite(q)):
        raise ValueError(f'quaternion must be finite and non-zero, got {q_wxyz!r}')
    w, x, y, z = np.moveaxis(q / norm, -1, 0)
    rot = np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], axis=-1)
    return rot.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quaternion(rot) -> np.ndarray:
    """(3,3) rotation -> (4,) unit quaternion (w,x,y,z) with w >= 0 (Shepperd's method)."""
    r = np.asarray(rot, dtype=np.float64)
    trace = np.trace(r)
    if trace > 0:
        s = 2.0 * np.sqrt(1.0 + trace)
        q = [0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s]
    elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
        s = 2.0 * np.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2])
        q = [(r[2, 1] - r[1, 2]) / s, 0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s]
    elif r[1, 1] > r[2, 2]:
        s = 2.0 * np.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2])
        q = [(r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1])
        q = [(r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return -q if q[0] < 0 else q


def make_transform(translation, rotation_wxyz) -> np.ndarray:
    """Translation (3,) metres + quaternion (4,) wxyz -> (4,4) float64 transform."""
    transform = np.eye(4)
    transform[:3, :3] = quaternion_to_matrix(rotation_wxyz)
    transform[:3, 3] = np.asarray(translation, dtype=np.float64)
    return transform


def split_transform(transform) -> tuple[np.ndarray, np.ndarray]:
    """(4,4) transform -> (translation (3,), quaternion wxyz (4,))."""
    transform = np.asarray(transform, dtype=np.float64)
    return transform[:3, 3].copy(), matrix_to_quaternion(transform[:3, :3])


def yaw_transform(x: float, y: float, z: float, yaw: float) -> np.ndarray:
    """(4,4) transform of a pose at (x, y, z) metres rotated by yaw radians about +z."""
    c, s = np.cos(yaw), np.sin(yaw)
    transform = np.eye(4)
    transform[:2, :2] = [[c, -s], [s, c]]
    transform[:3, 3] = (x, y, z)
    return transform


def invert(transform) -> np.ndarray:
    """Inverse of a rigid (4,4) or (K,4,4) transform, exact for orthonormal rotations."""
    t = np.asarray(transform, dtype=np.float64)
    rot_t = np.swapaxes(t[..., :3, :3], -1, -2)
    out = np.zeros_like(t)
    out[..., :3, :3] = rot_t
    out[..., :3, 3] = -np.einsum('...ij,...j->...i', rot_t, t[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out


def compose(*transforms) -> np.ndarray:
    """compose(c_from_b, b_from_a, ...) = product left to right; `compose(b_to_c, a_to_b)` = a_to_c."""
    if not transforms:
        raise ValueError('compose needs at least one transform')
    out = np.asarray(transforms[0], dtype=np.float64)
    for transform in transforms[1:]:
        out = out @ np.asarray(transform, dtype=np.float64)
    return out


def apply_transform(transform, points) -> np.ndarray:
    """Apply a (4,4) transform to (N,3) points; returns (N,3) in the points' dtype (float32 stays)."""
    pts = np.asarray(points)
    t = np.asarray(transform)
    rot = t[:3, :3].astype(pts.dtype if pts.dtype.kind == 'f' else np.float64, copy=False)
    out = pts @ rot.T
    out += t[:3, 3].astype(out.dtype, copy=False)
    return out


def apply_rotation(transform, vectors) -> np.ndarray:
    """Rotate (N,3) direction vectors by the rotation part of a (4,4) transform."""
    vec = np.asarray(vectors)
    return vec @ np.asarray(transform)[:3, :3].astype(vec.dtype if vec.dtype.kind == 'f' else np.float64).T


def apply_transform_torch(transform, points):
    """Torch version of `apply_transform`: (4,4) or (B,4,4) tensor, (...,N,3) points -> (...,N,3)."""
    import torch

    transform = torch.as_tensor(transform, dtype=points.dtype, device=points.device)
    rot = transform[..., :3, :3]
    return points @ rot.transpose(-1, -2) + transform[..., None, :3, 3]
