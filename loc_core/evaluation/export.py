"""Write predictions as Occ3D-nuScenes `labels.npz` files (`<dir>/<token>/labels.npz` holding
`semantics`, `mask_lidar`, `mask_camera`, each (200,200,16) uint8, ego frame, x-y-z order), the
layout Occ3D's tools and `loc_core.data.occ3d_io.load_occ3d_labels` read."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from loc_core.data.occ3d_io import Occ3DLabels, save_occ3d_labels


def export_occ3d(directory, token: str, semantics: np.ndarray, mask_lidar: np.ndarray | None = None,
                 mask_camera: np.ndarray | None = None) -> Path:
    """Validate and write `<directory>/<token>/labels.npz` atomically (occ3d_io.save_occ3d_labels);
    a missing mask is written as all ones (every voxel counts). -> the file's path."""
    token = str(token)
    if not token or token in ('.', '..') or '/' in token or '\\' in token:
        raise ValueError(f'export_occ3d: token {token!r} is not a plain folder name')
    semantics = np.asarray(semantics)
    mask_lidar, mask_camera = (None if m is None else np.asarray(m).astype(np.uint8, copy=False)
                               for m in (mask_lidar, mask_camera))
    ones = np.ones(semantics.shape, dtype=np.uint8)
    labels = Occ3DLabels(semantics=semantics,
                         mask_lidar=ones if mask_lidar is None else mask_lidar,
                         mask_camera=ones.copy() if mask_camera is None else mask_camera)
    return save_occ3d_labels(Path(directory) / token / 'labels.npz', labels)
