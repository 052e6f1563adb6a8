"""CPU runtime settings for inference, applied once per process by `LocPredictor`. The thread
settings apply only when the network runs on the CPU: with a GPU device the process keeps the
thread pools it was given (image decoding, resizing and result assembly still run on the host);
the malloc setting applies to every device (the host side allocates the same result arrays).

* torch's and OpenCV's thread pools are set to `num_threads`. numpy's and scipy's OpenBLAS pools
  are limited to one thread: the BLAS calls on the hot path (rigid transforms of a few 10k points, 4x4 products)
  are too small to gain from threads, and an idle OpenBLAS worker busy-waits (sched_yield) after
  every call, taking a whole core from the network on a 2-core machine.
* glibc malloc keeps freed memory for reuse (mmap threshold 32 MB, no trimming): every predict
  allocates tens of MB of temporaries; with the defaults each one is mmap'ed, page-faulted and
  unmapped again, which cost about 8 ms of a 70 ms predict (bench/bench_predict.py, nuScenes).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging

import torch
from threadpoolctl import threadpool_limits

log = logging.getLogger(__name__)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters (malloc.h)
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's maximum on 64-bit
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024
_malloc_tuned = False


def limit_cpu_threads(num_threads: int) -> None:
    """Set torch and OpenCV (image resizing) to `num_threads` threads and every BLAS library loaded
    so far to one thread (a library loaded later, e.g. scipy's OpenBLAS on a later import, needs
    another call)."""
    import cv2

    torch.set_num_threads(int(num_threads))
    cv2.setNumThreads(int(num_threads))
    threadpool_limits(limits=1, user_api='blas')


def keep_freed_memory() -> bool:
    """Tell glibc malloc to keep freed blocks for reuse (see the module docstring). True when
    applied; False (logged) on a C library without mallopt, e.g. musl or macOS."""
    global _malloc_tuned
    if _malloc_tuned:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        applied = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and \
            bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    except (OSError, AttributeError):
        applied = False
    if not applied:
        log.info('malloc tuning not available on this C library; predict may be slower')
    _malloc_tuned = applied
    return applied


def tune_cpu_runtime(num_threads: int, device='cpu') -> None:
    """Apply the settings of the module docstring for a network on `device` (str or torch.device)."""
    if torch.device(device).type == 'cpu':
        limit_cpu_threads(num_threads)
    keep_freed_memory()
