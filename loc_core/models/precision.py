"""Forward precision of the networks: 'fp32' (the default) or 'bf16', bfloat16 autocast around the
network forward only. Callers cast what leaves the forward back to float32 (`to_float32`) before
losses, thresholds and prompt similarities, which stay float32 whatever the precision."""
from __future__ import annotations

import contextlib
from dataclasses import fields, is_dataclass, replace

import torch

from loc_core.config import PRECISIONS


def forward_precision(device, precision: str):
    """A context for the network forward on `device` (torch.device or str) at `precision`: a
    bfloat16 `torch.autocast` for 'bf16', nothing for 'fp32'."""
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {list(PRECISIONS)}, got {precision!r}')
    if precision == 'fp32':
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def to_float32(value):
    """Floating tensors (also inside lists, tuples and dataclasses such as `Encoded`) -> float32;
    everything else unchanged."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        return type(value)(to_float32(v) for v in value)
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: to_float32(getattr(value, f.name)) for f in fields(value) if f.init})
    return value
