"""CPU thread limits for inference.

torch's intra-op pool is set to `num_threads`. numpy's and scipy's OpenBLAS pools are limited to one
thread: the BLAS calls on the hot path (rigid transforms of a few 10k points, 4x4 products) are too
small to gain from threads, and an idle OpenBLAS worker busy-waits (sched_yield) after every call,
taking a whole core from the network on a 2-core machine."""
from __future__ import annotations

import torch
from threadpoolctl import threadpool_limits

_blas_limits = None  # kept alive: the limit lasts for the process


def limit_cpu_threads(num_threads: int) -> None:
    """Set torch to `num_threads` intra-op threads and the BLAS libraries to one thread."""
    global _blas_limits
    torch.set_num_threads(int(num_threads))
    if _blas_limits is None:
        _blas_limits = threadpool_limits(limits=1, user_api='blas')
