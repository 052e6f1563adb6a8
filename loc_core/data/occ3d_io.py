"""Occ3D-nuScenes `labels.npz` files: `semantics`, `mask_lidar`, `mask_camera`, each
(200,200,16) uint8 in the ego frame (x, y, z order), 18 ids with 17 = free; masks are 0/1."""
from __future__ import annotations

import io
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loc_core.data.vocabulary import NUM_CLASSES, UNLABELLED_ID

OCC3D_SHAPE = (200, 200, 16)
OCC3D_KEYS = ('semantics', 'mask_lidar', 'mask_camera')
OPEN_SET_KEY = 'semantics_open'  # optional extension: like semantics, novel objects keep their ids
NOVEL_ID_MIN = 20  # ids of novel (never trained) object classes start here


class Occ3DFormatError(ValueError):
    """A labels file that is not a valid Occ3D labels file; the message names the problem."""


@dataclass
class Occ3DLabels:
    """Dense occupancy labels. `semantics` (X,Y,Z) uint8 ids 0-17 (255 = unlabelled, our
    extension for generated labels); `mask_lidar`, `mask_camera` (X,Y,Z) uint8 0/1.
    `semantics_open` (X,Y,Z) uint8 or None: our open-set extension, equal to `semantics` except that
    voxels of novel objects (stored as 0 "others" in `semantics`) carry their novel id (>= 20)."""

    semantics: np.ndarray
    mask_lidar: np.ndarray
    mask_camera: np.ndarray
    semantics_open: np.ndarray | None = None

    def __post_init__(self):
        validate_arrays(self.as_dict(), shape=None, source='Occ3DLabels')

    @property
    def novel_mask(self) -> np.ndarray | None:
        """(X,Y,Z) bool: voxels of novel objects, or None without open-set labels."""
        return None if self.semantics_open is None else self.semantics_open >= NOVEL_ID_MIN

    @property
    def shape(self) -> tuple:
        return self.semantics.shape

    def as_dict(self) -> dict:
        arrays = {k: getattr(self, k) for k in OCC3D_KEYS}
        if self.semantics_open is not None:
            arrays[OPEN_SET_KEY] = self.semantics_open
        return arrays


def validate_arrays(arrays: dict, shape=OCC3D_SHAPE, source: str = 'labels') -> None:
    """Raise Occ3DFormatError naming the first problem: missing key, dtype, shape, values."""
    for key in OCC3D_KEYS:
        if key not in arrays:
            raise Occ3DFormatError(f'{source}: missing key {key!r} (have {sorted(arrays)})')
    ref_shape = shape or np.shape(arrays['semantics'])
    for key in OCC3D_KEYS:
        arr = arrays[key]
        if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8:
            raise Occ3DFormatError(f'{source}: {key!r} must be uint8, got {getattr(arr, "dtype", type(arr))}')
        if arr.ndim != 3 or tuple(arr.shape) != tuple(ref_shape):
            raise Occ3DFormatError(f'{source}: {key!r} has shape {arr.shape}, expected {tuple(ref_shape)}')
    semantics = arrays['semantics']
    bad = (semantics >= NUM_CLASSES) & (semantics != UNLABELLED_ID)
    if bad.any():
        raise Occ3DFormatError(f'{source}: semantics holds ids outside 0-17 and 255: {np.unique(semantics[bad])[:8]}')
    for key in ('mask_lidar', 'mask_camera'):
        if arrays[key].max(initial=0) > 1:
            raise Occ3DFormatError(f'{source}: {key!r} must be 0/1, found {arrays[key].max()}')
    open_set = arrays.get(OPEN_SET_KEY)
    if open_set is not None:
        if not isinstance(open_set, np.ndarray) or open_set.dtype != np.uint8 or open_set.shape != semantics.shape:
            raise Occ3DFormatError(f'{source}: {OPEN_SET_KEY!r} must be uint8 shaped like semantics')
        plain = np.where(open_set >= NOVEL_ID_MIN, 0, open_set)
        if not np.array_equal(plain, semantics):
            raise Occ3DFormatError(f'{source}: {OPEN_SET_KEY!r} must equal semantics outside novel voxels')


def load_occ3d_labels(path, shape=OCC3D_SHAPE) -> Occ3DLabels:
    """Read and validate an Occ3D `labels.npz` (no pickles)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise Occ3DFormatError(f'{path}: not a readable .npz file ({exc})') from exc
    validate_arrays(arrays, shape=shape, source=str(path))
    return Occ3DLabels(*(arrays[k] for k in OCC3D_KEYS), semantics_open=arrays.get(OPEN_SET_KEY))


def save_occ3d_labels(path, labels: Occ3DLabels, compressed: bool = True) -> Path:
    """Validate and write `labels` atomically (temporary file + rename: never a half file)."""
    validate_arrays(labels.as_dict(), shape=None, source='save_occ3d_labels')
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **labels.as_dict())
    return atomic_write_bytes(path, buffer.getvalue())


def atomic_write_bytes(path, payload: bytes) -> Path:
    """Write bytes to `path` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp's 0600 would hide the file from others
        with os.fdopen(fd, 'wb') as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _read_umask() -> int:
    """The process umask, read once at import (reading it means setting it, which is not thread-safe)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
