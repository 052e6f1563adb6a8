"""Forward precision of the networks: 'fp32' (the default), 'bf16' (bfloat16 autocast around the
network forward only) or 'auto' (bf16 where the device has bfloat16 arithmetic units, else fp32).
Callers cast what leaves the forward back to float32 (`to_float32`) before losses, thresholds and
prompt similarities, which stay float32 whatever the precision."""
from __future__ import annotations

import contextlib
from dataclasses import fields, is_dataclass, replace

import torch

from loc_core.config import PRECISIONS


def native_bf16(device) -> bool:
    """True when `device` (torch.device or str) computes bfloat16 in hardware: a CUDA GPU with bf16
    support, or a CPU with AVX512-BF16 or AMX tiles (where oneDNN runs bf16 convolutions at about
    twice the float32 speed; elsewhere a CPU emulates bf16, slower than float32)."""
    device = torch.device(device)
    if device.type == 'cuda':
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != 'cpu':
        return False
    checks = (getattr(torch.cpu, '_is_avx512_bf16_supported', None), getattr(torch.cpu, '_is_amx_tile_supported', None))
    return any(check is not None and check() for check in checks)


def resolve_precision(device, precision: str) -> str:
    """`precision` ('fp32', 'bf16', 'auto') -> the one the forward runs at on `device`: 'fp32' or 'bf16'."""
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {list(PRECISIONS)}, got {precision!r}')
    if precision == 'auto':
        return 'bf16' if native_bf16(device) else 'fp32'
    return precision


def forward_precision(device, precision: str):
    """A context for the network forward on `device` (torch.device or str) at `precision`: a
    bfloat16 `torch.autocast` for 'bf16' (and 'auto' on a device with bf16 units), nothing for fp32."""
    if resolve_precision(device, precision) == 'fp32':
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
