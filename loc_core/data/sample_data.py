"""Where the shared sample data lives: `$LOC_SAMPLE_DATA`, else `../shared/data` beside the
repository root. It is licensed CC BY-NC-SA 4.0 and never copied into the repository."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
NUSCENES_MINI_SCENE = 'nuscenes-mini-scene0916'
LIDARSEG_FRAMES = 'nuscenes-lidarseg-11frames'
OCC3D_SAMPLE = 'occ3d-sample/labels.npz'
SEMANTICKITTI_MINI = 'semantickitti-mini'


def sample_data_root() -> Path | None:
    """The sample data folder as an absolute path (a relative LOC_SAMPLE_DATA is taken from the
    current directory, so links made to it stay valid elsewhere), or None when it is absent."""
    env = os.environ.get('LOC_SAMPLE_DATA')
    root = Path(env) if env else REPO_ROOT.parent / 'shared' / 'data'
    return root.resolve() if root.is_dir() else None
