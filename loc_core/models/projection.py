"""Precomputed projections of fixed 3D points (voxel centres, BEV column samples) into a camera
rig's feature maps. They depend only on the calibration, so they are cached per rig."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from loc_core.geometry.transforms import apply_transform, invert
from loc_core.models.inputs import CameraRig


def feature_indices(points_ego: np.ndarray, rig: CameraRig, feature_hw: tuple) -> np.ndarray:
    """(N,3) points, ego frame, metres -> (N,) int64 flat indices into a stacked (C,h,w) feature map
    (camera-major), -1 where no camera sees the point. A point seen by several cameras takes the
    camera in whose image it lies closest to the centre."""
    h, w = feature_hw
    width, height = rig.image_size
    n = len(points_ego)
    best_index = np.full(n, -1, dtype=np.int64)
    best_score = np.full(n, np.inf)
    pts = np.asarray(points_ego, dtype=np.float64)
    for c in range(rig.num_cameras):
        cam = apply_transform(invert(rig.cam_to_ego[c]), pts)
        depth = cam[:, 2]
        with np.errstate(divide='ignore', invalid='ignore'):
            uv = (cam @ rig.intrinsics[c].T)[:, :2] / depth[:, None]
        ok = (depth > 0.1) & (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
        score = np.where(ok, np.abs(uv[:, 0] / width - 0.5) + np.abs(uv[:, 1] / height - 0.5), np.inf)
        better = score < best_score
        col = np.clip((uv[better, 0] * w / width).astype(np.int64), 0, w - 1)
        row = np.clip((uv[better, 1] * h / height).astype(np.int64), 0, h - 1)
        best_index[better] = c * h * w + row * w + col
        best_score[better] = score[better]
    return best_index


def gather_features(feature_maps: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(C,F,h,w) feature maps, (N,) int64 flat indices (-1 = none) -> (N,F), zeros where -1."""
    num_feat = feature_maps.shape[1]
    if feature_maps.shape[0] == 0:
        return feature_maps.new_zeros((len(index), num_feat))
    flat = feature_maps.permute(0, 2, 3, 1).reshape(-1, num_feat)
    flat = torch.cat([flat, flat.new_zeros((1, num_feat))])  # row -1 -> zeros
    return flat[torch.where(index < 0, len(flat) - 1, index)]


class ProjectionCache:
    """LRU cache of `feature_indices` results as torch int64 tensors, keyed by (rig, points name).
    `is_static(rig)` tells whether a rig was seen before: a fixed rig (a robot, the synthetic world)
    is worth a full precomputation, a per-frame motion-compensated rig (nuScenes) is not."""

    def __init__(self, capacity: int = 8):
        self.capacity = capacity
        self._items: OrderedDict = OrderedDict()
        self._seen: OrderedDict = OrderedDict()
        self.computed = 0

    def is_static(self, rig: CameraRig) -> bool:
        key = rig.key()
        seen = key in self._seen
        self._seen[key] = True
        self._seen.move_to_end(key)
        if len(self._seen) > 64:
            self._seen.popitem(last=False)
        return seen

    def has(self, rig: CameraRig, name: str, feature_hw: tuple) -> bool:
        return (rig.key(), name, tuple(feature_hw)) in self._items

    def get(self, rig: CameraRig, name: str, points_fn, feature_hw: tuple, device='cpu') -> torch.Tensor:
        key = (rig.key(), name, tuple(feature_hw))
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        index = torch.from_numpy(feature_indices(points_fn(), rig, feature_hw)).to(device)
        self.computed += 1
        self._items[key] = index
        if len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return index
