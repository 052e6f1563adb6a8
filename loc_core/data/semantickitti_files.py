"""Readers for SemanticKITTI's own layout (`<root>/sequences/XX/...`), each with a clear error
for a missing or malformed file:

* `calib.txt`: `P0`-`P3` (3,4) projections of the rectified cameras, `Tr` (3,4) Velodyne -> camera 0
  (rectified); returned as (3,4) and (4,4) float64.
* `poses.txt`: per scan of the whole sequence, camera 0's pose at scan k in camera 0's frame at
  scan 0 (3x4, row-major); returned (K,4,4) float64.
* `times.txt`: per scan, seconds since the sequence start; returned (K,) float64.
* `velodyne/NNNNNN.bin`: float32 x y z remission, (N,4), Velodyne frame, metres.
* `labels/NNNNNN.label`: uint32 per point (semantic id | instance id << 16)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


class SemanticKittiError(ValueError):
    """A SemanticKITTI file that is missing or cannot be used; the message names it."""


def sequence_dir(root, sequence: str) -> Path:
    """`<root>/sequences/<XX>` (also accepts the sequences folder or the sequence folder itself)."""
    root = Path(root)
    name = normalise_sequence(sequence)
    for candidate in (root / 'sequences' / name, root / name):
        if (candidate / 'velodyne').is_dir():
            return candidate
    if root.name == name and (root / 'velodyne').is_dir():
        return root
    raise SemanticKittiError(f'no SemanticKITTI sequence {name} under {root} (expected '
                             f'{root / "sequences" / name}/velodyne)')


def normalise_sequence(sequence) -> str:
    """'7', 7 or '07' -> '07'; ValueError for anything that is not a non-negative number."""
    text = str(sequence).strip()
    if not text.isdigit():
        raise SemanticKittiError(f'a SemanticKITTI sequence is a number such as 07, got {sequence!r}')
    return f'{int(text):02d}'


def list_sequences(root) -> list[str]:
    """The sequences under `<root>/sequences` that have a velodyne folder, sorted."""
    folder = Path(root) / 'sequences'
    if not folder.is_dir():
        raise SemanticKittiError(f'no sequences folder in {root}')
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and (p / 'velodyne').is_dir())


def read_calibration(path) -> dict:
    """calib.txt -> {'P0'..'P3': (3,4) float64, 'Tr': (4,4) float64}; P2 and Tr are required."""
    path = Path(path)
    if not path.is_file():
        raise SemanticKittiError(f'missing calibration file {path}')
    values = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        key, sep, rest = line.partition(':')
        if not sep:
            continue
        try:
            numbers = np.array([float(v) for v in rest.split()], dtype=np.float64)
        except ValueError:
            raise SemanticKittiError(f'{path}:{number}: {key.strip()} has a value that is not a number') from None
        if len(numbers) != 12:
            raise SemanticKittiError(f'{path}:{number}: {key.strip()} needs 12 numbers, has {len(numbers)}')
        values[key.strip()] = numbers.reshape(3, 4)
    missing = [key for key in ('P2', 'Tr') if key not in values]
    if missing:
        raise SemanticKittiError(f'{path}: missing {", ".join(missing)}')
    tr = np.eye(4)
    tr[:3] = values['Tr']
    values['Tr'] = tr
    return values


def read_poses(path) -> np.ndarray:
    """poses.txt -> (K,4,4) float64, line k = scan k."""
    path = Path(path)
    if not path.is_file():
        raise SemanticKittiError(f'missing poses file {path} (SemanticKITTI poses, one 3x4 line per scan)')
    try:
        rows = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise SemanticKittiError(f'{path}: not a table of numbers ({exc})') from None
    if rows.shape[1] != 12 or not np.all(np.isfinite(rows)):
        raise SemanticKittiError(f'{path}: every line needs 12 finite numbers (got {rows.shape[1]} columns)')
    poses = np.tile(np.eye(4), (len(rows), 1, 1))
    poses[:, :3] = rows.reshape(-1, 3, 4)
    return poses


def read_times(path) -> np.ndarray:
    """times.txt -> (K,) float64 seconds since the sequence start."""
    path = Path(path)
    if not path.is_file():
        raise SemanticKittiError(f'missing times file {path}')
    try:
        return np.loadtxt(path, dtype=np.float64, ndmin=1)
    except ValueError as exc:
        raise SemanticKittiError(f'{path}: not a column of numbers ({exc})') from None


def read_scan(path) -> np.ndarray:
    """velodyne .bin -> (N,4) float32 [x y z remission]."""
    path = Path(path)
    if not path.is_file():
        raise SemanticKittiError(f'missing scan {path}')
    size = path.stat().st_size
    if size % 16:
        raise SemanticKittiError(f'corrupt scan {path}: {size} bytes is not a whole number of 16-byte points')
    return np.fromfile(path, dtype=np.float32).reshape(-1, 4)


def read_labels(path, num_points: int) -> np.ndarray:
    """.label -> (N,) uint32; an error when missing or when its length is not the scan's."""
    path = Path(path)
    if not path.is_file():
        raise SemanticKittiError(f'missing labels file {path}')
    size = path.stat().st_size
    if size % 4 or size // 4 != num_points:
        raise SemanticKittiError(f'labels file {path} holds {size / 4:g} labels for a scan of {num_points} points')
    return np.fromfile(path, dtype=np.uint32)


def scan_numbers(folder) -> list[int]:
    """The scan numbers of the `velodyne/NNNNNN.bin` files in a sequence folder, sorted."""
    return sorted(int(p.stem) for p in (Path(folder) / 'velodyne').glob('*.bin') if p.stem.isdigit())
