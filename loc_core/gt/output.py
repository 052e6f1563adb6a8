"""The on-disk layout of generated labels: `<out>/<scene>/<token>/labels.npz` (Occ3D layout) and
`<out>/<scene>/dense_label_settings.json` (the settings that made them). Writes are atomic."""
from __future__ import annotations

import json
import re
from pathlib import Path

from loc_core.data.occ3d_io import Occ3DFormatError, atomic_write_bytes, load_occ3d_labels, save_occ3d_labels
from loc_core.gt.config import DenseLabelConfig

SETTINGS_NAME = 'dense_label_settings.json'
LABELS_NAME = 'labels.npz'
_UNSAFE = re.compile(r'[^A-Za-z0-9._-]+')


def safe_name(name: str) -> str:
    """A scene or token name usable as one path component (no separators, not empty, not '..')."""
    cleaned = _UNSAFE.sub('_', str(name)).strip('.') or '_'
    return cleaned


def labels_path(out, scene: str, token: str) -> Path:
    return Path(out) / safe_name(scene) / safe_name(token) / LABELS_NAME


def is_finished(path, shape) -> bool:
    """A keyframe is finished when its labels file exists and reads back as valid Occ3D labels;
    a damaged file counts as unfinished (it is rewritten)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        load_occ3d_labels(path, shape=shape)
    except Occ3DFormatError:
        return False
    return True


def write_labels(path, labels) -> Path:
    return save_occ3d_labels(path, labels)


def settings_record(config: DenseLabelConfig, source: dict, teacher: dict | None = None) -> dict:
    """The settings file's content; `teacher` the 2D teacher's identity and settings (None: labels
    made without one)."""
    from loc_core import __version__

    return {'loc_core_version': __version__, 'source': source, 'config': config.to_dict(), 'teacher': teacher}


def check_or_write_settings(scene_dir, record: dict) -> Path:
    """Write the settings JSON of a scene folder, or check that an existing one matches `record`'s
    config and teacher (labels made with other settings, or with and without a 2D teacher, must not
    be mixed in one folder: ValueError). A file from before teachers existed counts as none."""
    path = Path(scene_dir) / SETTINGS_NAME
    if path.is_file():
        try:
            existing = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f'{path}: unreadable settings file ({exc}); remove it or choose another --out') from exc
        if existing.get('config') != json.loads(json.dumps(record['config'])):
            raise ValueError(f'{path} holds labels made with other settings; choose another --out '
                             f'or remove that folder')
        theirs, ours = existing.get('teacher'), json.loads(json.dumps(record.get('teacher')))
        if theirs != ours:
            made = 'without a 2D teacher' if theirs is None else f"with teacher {theirs.get('model')} and its settings"
            raise ValueError(f'{path} holds labels made {made}, which differs from this run; choose another '
                             f'--out or remove that folder')
        return path
    return atomic_write_bytes(path, (json.dumps(record, indent=2, sort_keys=True) + '\n').encode())
