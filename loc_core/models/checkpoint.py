"""Model checkpoints: one safetensors file whose metadata carries the full LocConfig (JSON), the
architecture, the text-encoder identity and the training step. Loading validates everything and
raises `CheckpointError` with a clear message for corrupt, foreign or mismatched files."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from loc_core.config import ConfigError, LocConfig
from loc_core.models.base import LocNetwork
from loc_core.models.factory import create_model

FORMAT = 'loc-checkpoint/1'
CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / 'checkpoints'
DEMO_CHECKPOINT = CHECKPOINT_DIR / 'loc_demo_fusion.safetensors'  # the default: the synthetic world
REAL_CHECKPOINT = CHECKPOINT_DIR / 'loc_real_fusion.safetensors'  # real sensors (nuScenes-like rigs)
SHIPPED_CHECKPOINTS = {'demo': DEMO_CHECKPOINT, 'real': REAL_CHECKPOINT}


def resolve_shipped(name_or_path):
    """'demo' / 'real' -> the shipped checkpoint of that name; anything else is returned unchanged
    (a path, '' for the default, 'none' for an untrained network)."""
    return SHIPPED_CHECKPOINTS.get(str(name_or_path), name_or_path) if name_or_path else name_or_path


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message says why."""


@dataclass
class Checkpoint:
    model: LocNetwork
    config: LocConfig
    step: int
    text_identity: str
    path: Path | None = None


def save_checkpoint(path, model: LocNetwork, config: LocConfig, step: int, text_identity: str) -> Path:
    """Write atomically (temp file + rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {'format': FORMAT, 'config': config.to_json(), 'architecture': json.dumps(model.arch),
                'text_identity': text_identity, 'text_dim': str(model.text_dim), 'step': str(int(step))}
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; checkpoints are shared artefacts
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_metadata(path) -> dict:
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'checkpoint {path} does not exist')
    try:
        with safe_open(str(path), framework='pt') as handle:
            metadata = handle.metadata() or {}
    except Exception as exc:  # safetensors raises its own error type for malformed headers
        raise CheckpointError(f'checkpoint {path} is not a readable safetensors file: {exc}') from exc
    if metadata.get('format') != FORMAT:
        raise CheckpointError(f'checkpoint {path} is not a LOC checkpoint (format {metadata.get("format")!r}, '
                              f'expected {FORMAT!r})')
    return metadata


def load_checkpoint(path, device: str = 'cpu', expect_text_identity: str | None = None) -> Checkpoint:
    """Rebuild the network from the checkpoint's own config and load its weights onto `device`
    (whatever device the checkpoint was saved from: tensors are read to the host, where the new
    network is built, and the loaded network is moved once)."""
    from safetensors.torch import load_file

    metadata = read_metadata(path)
    try:
        config = LocConfig.from_dict(json.loads(metadata['config']))
        arch = json.loads(metadata['architecture'])
        model = create_model(arch, config.grid.to_grid(), int(metadata['text_dim']))
    except (KeyError, ValueError, ConfigError) as exc:
        raise CheckpointError(f'checkpoint {path}: invalid metadata: {exc}') from exc
    if expect_text_identity and metadata['text_identity'] != expect_text_identity:
        raise CheckpointError(f'checkpoint {path} was trained with text encoder {metadata["text_identity"]!r}, '
                              f'not {expect_text_identity!r}')
    try:
        state = load_file(str(path), device='cpu')  # the map location: the network is still on the host
    except Exception as exc:
        raise CheckpointError(f'checkpoint {path}: cannot read tensors: {exc}') from exc
    load_state(model, state, path)
    return Checkpoint(model.to(device).eval(), config, int(metadata.get('step', 0)), metadata['text_identity'],
                      Path(path))


def load_state(model: torch.nn.Module, state: dict, path) -> None:
    """Strict load with a message listing missing, unexpected and mis-shaped tensors."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f'{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}' for k in own
              if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        raise CheckpointError(f'checkpoint {path} does not match the model: missing {missing[:5]}, '
                              f'unexpected {unexpected[:5]}, shape mismatches {shapes[:5]}')
    model.load_state_dict(state)
