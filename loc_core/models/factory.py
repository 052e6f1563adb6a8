"""`create_model(name_or_config)`: architectures are JSON files in loc_core/model_configs."""
from __future__ import annotations

import json
from pathlib import Path

from loc_core.config import ModelConfig
from loc_core.geometry.voxel_grid import VoxelGrid
from loc_core.models.base import LocNetwork
from loc_core.models.camera_only import CameraOnlyNet
from loc_core.models.fusion import FusionNet

CONFIG_DIR = Path(__file__).resolve().parent.parent / 'model_configs'
BACKBONES = {'fusion': FusionNet, 'camera_only': CameraOnlyNet}
REQUIRED = ('backbone', 'image_size', 'image_channels', 'bev_channels', 'trunk_width',
            'language_hidden', 'language_channels')


def list_models() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob('*.json'))


def architecture(name_or_config) -> dict:
    """An architecture dict from a model_configs name, a ModelConfig (name + overrides) or a dict."""
    overrides = {}
    if isinstance(name_or_config, ModelConfig):
        name_or_config, overrides = name_or_config.name, name_or_config.overrides
    if isinstance(name_or_config, dict):
        arch = dict(name_or_config)
    else:
        path = CONFIG_DIR / f'{name_or_config}.json'
        if not path.exists():
            raise ValueError(f'unknown model {name_or_config!r}; available: {list_models()}')
        arch = json.loads(path.read_text())
    arch.update(overrides)
    missing = [k for k in REQUIRED if k not in arch]
    if missing:
        raise ValueError(f'model architecture lacks {missing}')
    if arch['backbone'] not in BACKBONES:
        raise ValueError(f'unknown backbone {arch["backbone"]!r}; available: {sorted(BACKBONES)}')
    return arch


def create_model(name_or_config, grid: VoxelGrid | None = None, text_dim: int = 384) -> LocNetwork:
    arch = architecture(name_or_config)
    return BACKBONES[arch['backbone']](grid or VoxelGrid(), arch, text_dim)
