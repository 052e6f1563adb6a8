"""Labelled Frame streams for training and evaluation commands: the synthetic world by seeds, a
nuScenes dataroot or the nuScenes-lidarseg sequence, with dense labels from a folder (Occ3D layout
or `loc-gt` output)."""
from __future__ import annotations

import logging
from pathlib import Path

from loc_core.data.occ3d_io import Occ3DFormatError, load_occ3d_labels

log = logging.getLogger(__name__)


def parse_seeds(text: str) -> list[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7] (non-negative seeds). Raises ValueError on malformed input."""
    seeds: list[int] = []
    for part in str(text).split(','):
        part = part.strip()
        if not part:
            continue
        if '-' in part:
            lo, hi = (int(v) for v in part.split('-', 1))
            if hi < lo:
                raise ValueError(f'seed range {part!r} is empty')
            seeds.extend(range(lo, hi + 1))
        else:
            seeds.append(int(part))
    if not seeds:
        raise ValueError(f'no seeds in {text!r}')
    return seeds


def sim_config(path=None):
    """The SimConfig of a YAML file (loc-sim's format), or None (the simulator defaults) without one."""
    if not path:
        return None
    from loc_core.sim.cli import load_config

    return load_config(path)


def synthetic_frames(seeds, frames_per_seed: int, skipped: list | None = None, config=None):
    """Frames of the synthetic world (loc_core.sim), `frames_per_seed` per seed, with the SimConfig
    `config` (None: the defaults). A seed whose town cannot be built is logged, appended to
    `skipped` and left out."""
    try:
        from loc_core.sim.source import SyntheticSource
    except ImportError as exc:
        raise RuntimeError('the synthetic world (loc_core.sim) is not available in this installation') from exc
    for seed in seeds:
        try:
            source = SyntheticSource(seed, frames_per_seed, config)
        except ValueError as exc:
            log.warning('synthetic seed %d skipped: its town cannot be built (%s)', seed, exc)
            if skipped is not None:
                skipped.append(seed)
            continue
        yield from source


def find_labels(labels_dir: Path, frame) -> Path | None:
    """Occ3D layouts: <dir>/<scene>/<token>/labels.npz, <dir>/<token>/labels.npz, <dir>/<token>.npz."""
    for candidate in (labels_dir / frame.scene / frame.token / 'labels.npz', labels_dir / frame.token / 'labels.npz',
                      labels_dir / f'{frame.token}.npz'):
        if candidate.is_file():
            return candidate
    return None


def nuscenes_frames(dataroot, version: str = 'v1.0-mini', labels_dir=None, scene: str | None = None):
    """nuScenes keyframes; with `labels_dir` each gets its dense labels (frames without a labels file
    keep occupancy None, which evaluation counts as skipped; unreadable files are logged)."""
    from loc_core.data.nuscenes_source import NuScenesSource

    for frame in NuScenesSource(dataroot, version=version, scene=scene):
        yield attach_labels(frame, labels_dir)


def attach_labels(frame, labels_dir):
    """Give `frame` its dense labels from `labels_dir` (see find_labels) when it has none; a frame
    without a labels file keeps occupancy None; an unreadable file is logged and ignored. -> frame."""
    if labels_dir is not None and frame.occupancy is None:
        path = find_labels(Path(labels_dir), frame)
        if path is not None:
            try:
                frame.occupancy = load_occ3d_labels(path)
            except Occ3DFormatError as exc:
                log.warning('ignoring labels %s: %s', path, exc)
    return frame


def lidarseg_frames(folder, labels_dir=None):
    """Frames of the 11-frame nuScenes-lidarseg sequence (LiDAR only, per-point labels, scene
    'lidarseg-11frames', tokens 'frame_XX'); with `labels_dir` (e.g. `loc-gt --lidarseg` output)
    each gets its dense labels where a file exists."""
    from loc_core.data.lidarseg_source import LidarsegSequenceSource

    for frame in LidarsegSequenceSource(folder):
        yield attach_labels(frame, labels_dir)
