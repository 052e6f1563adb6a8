"""Projections of 3D points (voxel centres, BEV column samples) into a camera rig's feature maps.
Done in torch, all cameras at once; the results for fixed points (every voxel centre, the BEV
column samples) are cached per rig, since for a fixed rig they depend only on the calibration."""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import torch

from loc_core.models.inputs import CameraRig

MIN_DEPTH_M = 0.1


def centred_projection_matrices(rig: CameraRig, device='cpu') -> torch.Tensor:
    """(C,3,4) float32 K' [R|t] of every camera, mapping ego-frame homogeneous points (metres) to
    homogeneous centred image fractions: after division by depth, pixel (u, v) of the model's
    image size is (u / width - 0.5, v / height - 0.5), so each image is the open square (-0.5, 0.5)^2.
    Composed in float64, rounded once."""
    ego_to_cam = np.linalg.inv(np.asarray(rig.cam_to_ego, np.float64).reshape(-1, 4, 4))[:, :3, :]
    width, height = rig.image_size
    to_fractions = np.array([[1 / width, 0, -0.5], [0, 1 / height, -0.5], [0, 0, 1]])
    matrices = to_fractions @ np.asarray(rig.intrinsics, np.float64).reshape(-1, 3, 3) @ ego_to_cam
    return torch.from_numpy(matrices.astype(np.float32)).to(device)


def feature_indices(points_ego, rig: CameraRig, feature_hw: tuple) -> torch.Tensor:
    """(N,3) points (numpy or torch), ego frame, metres -> (N,) int64 flat indices (same device as
    torch points) into a stacked (C,h,w) feature map (camera-major), -1 where no camera sees the
    point. A point seen by several cameras takes the camera in whose image it lies closest to the
    centre (L1 distance in image fractions; ties go to the lower camera index). Always float32,
    also inside a bfloat16 autocast forward (bf16 rounds a coordinate 50 m out to 0.25 m)."""
    points = torch.as_tensor(points_ego, dtype=torch.float32).reshape(-1, 3)
    if rig.num_cameras == 0 or len(points) == 0:
        return torch.full((len(points),), -1, dtype=torch.int64, device=points.device)
    with torch.autocast(device_type=points.device.type, enabled=False):
        return _feature_indices(points, rig, feature_hw)


def _feature_indices(points: torch.Tensor, rig: CameraRig, feature_hw: tuple) -> torch.Tensor:
    h, w = feature_hw
    matrices = centred_projection_matrices(rig, points.device)  # (C,3,4)
    projected = torch.addmm(matrices[:, :, 3].reshape(-1, 1), matrices[:, :, :3].reshape(-1, 3), points.T)
    projected = projected.view(len(matrices), 3, len(points))  # (C,3,N), rows contiguous
    depth = projected[:, 2]
    u = projected[:, 0].div_(depth)  # centred image fractions, in place
    v = projected[:, 1].div_(depth)
    abs_u, abs_v = u.abs(), v.abs()
    outside = torch.maximum(abs_u, abs_v).ge(0.5).logical_or_(depth <= MIN_DEPTH_M)
    best_score, camera = abs_u.add_(abs_v).masked_fill_(outside, torch.inf).min(dim=0)
    u = u.gather(0, camera[None])[0]
    v = v.gather(0, camera[None])[0]
    col = ((u + 0.5) * w).long().clamp_(0, w - 1)
    row = ((v + 0.5) * h).long().clamp_(0, h - 1)
    index = camera * (h * w) + row * w + col
    return index.masked_fill_(torch.isinf(best_score), -1)


def feature_table(feature_maps: torch.Tensor) -> torch.Tensor:
    """(C,F,h,w) feature maps -> (C*h*w+1, F) rows in `feature_indices` order, and a last row of
    zeros for index -1."""
    num_feat = feature_maps.shape[1]
    flat = feature_maps.permute(0, 2, 3, 1).reshape(-1, num_feat)
    return torch.cat([flat, flat.new_zeros((1, num_feat))])


def lookup_features(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """`feature_table(...)`, (N,) int64 flat indices (-1 = none) -> (N,F), zeros where -1."""
    return table.index_select(0, torch.where(index < 0, len(table) - 1, index))


def gather_features(feature_maps: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(C,F,h,w) feature maps, (N,) int64 flat indices (-1 = none) -> (N,F), zeros where -1."""
    if feature_maps.shape[0] == 0:
        return feature_maps.new_zeros((len(index), feature_maps.shape[1]))
    return lookup_features(feature_table(feature_maps), index)


class ProjectionCache:
    """LRU cache of `feature_indices` results, keyed by (rig, points name, feature size, device):
    a table lives on the device of the tensors it indexes (the cache is no module buffer, so
    `model.to(device)` does not move it; a model moved to another device builds its tables there).
    Only a rig unchanged over consecutive frames is cached: a fixed rig (a robot, the synthetic
    world) is worth a full precomputation, a per-frame motion-compensated rig (nuScenes) is
    projected afresh. Thread-safe: a pipeline prepares one frame while the network runs another."""

    def __init__(self, capacity: int = 8):
        self.capacity = capacity
        self._items: OrderedDict = OrderedDict()
        self._last_key, self._run_length = None, 0
        self._lock = threading.Lock()
        self.computed = 0

    def observe(self, rig: CameraRig) -> None:
        """Note one frame taken with `rig` (the network calls this once per encoded sample)."""
        key = rig.key()
        with self._lock:
            self._run_length = self._run_length + 1 if key == self._last_key else 1
            self._last_key = key

    def is_static(self, rig: CameraRig) -> bool:
        """True when `rig` is the rig of the last two frames observed."""
        key = rig.key()
        with self._lock:
            return key == self._last_key and self._run_length >= 2

    @staticmethod
    def _key(rig: CameraRig, name: str, feature_hw: tuple, device) -> tuple:
        return rig.key(), name, tuple(feature_hw), _device_key(device)

    def has(self, rig: CameraRig, name: str, feature_hw: tuple, device='cpu') -> bool:
        key = self._key(rig, name, feature_hw, device)
        with self._lock:
            return key in self._items

    def get(self, rig: CameraRig, name: str, points_fn, feature_hw: tuple, device='cpu') -> torch.Tensor:
        """(N,) int64 feature indices, on `device`, of the points `points_fn()` ((N,3) ego frame, metres)."""
        key = self._key(rig, name, feature_hw, device)
        with self._lock:
            index = self._items.get(key)
            if index is not None:
                self._items.move_to_end(key)
                return index
        index = feature_indices(torch.as_tensor(points_fn(), device=device), rig, feature_hw)
        static = self.is_static(rig)
        with self._lock:
            self.computed += 1
            if static:
                self._items[key] = index
                if len(self._items) > self.capacity:
                    self._items.popitem(last=False)
        return index

    def tensors(self) -> list:
        """The cached index tables (e.g. to check which device they live on)."""
        with self._lock:
            return list(self._items.values())


def _device_key(device) -> str:
    """'cuda' and 'cuda:0' name the same tables when device 0 is the current one."""
    device = torch.device(device)
    if device.type == 'cuda' and device.index is None:
        device = torch.device('cuda', torch.cuda.current_device())
    return str(device)
