"""Optimizer state for resuming: torch.save, read back with torch.load(weights_only=True)."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from loc_core.models.checkpoint import CheckpointError


def save_train_state(path, optimizer: torch.optim.Optimizer, step: int) -> None:
    path = Path(path)
    tmp = path.with_name(f'.{path.name}.tmp')
    torch.save({'optimizer': optimizer.state_dict(), 'step': int(step)}, tmp)
    os.replace(tmp, path)


def load_train_state(path, optimizer: torch.optim.Optimizer) -> int:
    """Load the optimizer state in place; return the step. Clear CheckpointError when unusable."""
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
        optimizer.load_state_dict(state['optimizer'])
        return int(state['step'])
    except FileNotFoundError as exc:
        raise CheckpointError(f'training state {path} is missing') from exc
    except Exception as exc:  # unpickling / shape errors of a corrupt or foreign file
        raise CheckpointError(f'training state {path} is unusable: {exc}') from exc
