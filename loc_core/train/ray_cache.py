"""`loc-train --ray [ADDRESS]`: the synthetic training cache filled by Ray tasks, one per seed.

What runs where:

* the driver (`loc-train`, in `fill_cache`) checks which seeds' towns can be built (cheap: no
  frames are rendered) to number the samples exactly as the serial `cache_frames` does (one running
  count over all frames of all seeds), submits one task per seed and shows progress;
* each task (`cache_seed`, on any worker of any node) renders its seed's frames, turns each into a
  `TrainingSample` and writes it atomically into the cache folder, which every node must see
  (shared storage), under the name `cache_frames` gives it (`samples.sample_file_name`, with the
  same running count). Same names and bytes as the serial path.

A failing task is retried (`loc_core.gt.ray_runner.MAX_RETRIES`); a seed that still fails stops
`loc-train` with an error naming it (the files already written are complete, and the cache folder
is reused as it is on the next run: empty it to rebuild). Ray is imported lazily."""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def seed_offsets(seeds, frames_per_seed: int, config=None) -> dict:
    """seed -> number of its first sample, for the seeds whose town can be built (the others are
    logged and left out, as `synthetic_frames` does). Runs on the driver."""
    from loc_core.sim.source import SyntheticSource

    offsets, count = {}, 0
    for seed in seeds:
        try:
            SyntheticSource(seed, frames_per_seed, config)
        except ValueError as exc:
            log.warning('synthetic seed %d skipped: its town cannot be built (%s)', seed, exc)
            continue
        offsets[seed] = count
        count += frames_per_seed
    return offsets


def cache_seed(seed: int, frames_per_seed: int, config, folder: str, image_size: tuple, first: int,
               prefix: str = 'synthetic', failures: str | None = None) -> dict:
    """Runs on a Ray worker: render the frames of `seed` and write their samples, numbered from
    `first`. Returns {'seed', 'written', 'skipped'}; raises on failure (Ray retries it)."""
    from loc_core.data.occ3d_io import atomic_write_bytes
    from loc_core.gt.ray_runner import inject_failure
    from loc_core.sim.source import SyntheticSource
    from loc_core.train.samples import SampleError, TrainingSample, sample_file_name

    inject_failure(failures, f'seed{seed}')
    written, skipped = 0, 0
    for k, frame in enumerate(SyntheticSource(seed, frames_per_seed, config)):
        try:
            sample = TrainingSample.from_frame(frame, image_size)
        except SampleError as exc:
            skipped += 1
            log.warning('skipping frame: %s', exc)
            continue
        atomic_write_bytes(Path(folder) / sample_file_name(prefix, frame, first + k), sample.to_bytes())
        written += 1
    return {'seed': seed, 'written': written, 'skipped': skipped}


def fill_synthetic_cache(seeds, frames_per_seed: int, config, folder, image_size: tuple, address: str | None,
                         progress: bool = True, prefix: str = 'synthetic') -> int:
    """Fill `folder` with the samples of `seeds` as Ray tasks on the cluster at `address` (empty:
    a local Ray instance); returns the number written. Raises RuntimeError naming the seeds that
    failed after their retries. Runs on the driver."""
    import os

    from loc_core.gt.ray_runner import FAILURES_ENV, MAX_RETRIES, completed, connect, failure_reason

    Path(folder).mkdir(parents=True, exist_ok=True)
    offsets = seed_offsets(seeds, frames_per_seed, config)
    ray = connect(address)
    try:
        remote = ray.remote(cache_seed).options(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=True)
        failures = os.environ.get(FAILURES_ENV) or None
        refs = {remote.remote(seed, frames_per_seed, config, str(folder), tuple(image_size), first, prefix,
                              failures): seed for seed, first in offsets.items()}
        written, failed = 0, []
        for ref, value in completed(ray, list(refs), progress, 'loc-train cache', 'seed'):
            if isinstance(value, BaseException):
                failed.append(f'seed {refs[ref]}: {failure_reason(value)}')
            else:
                written += value['written']
    finally:
        ray.shutdown()
    log.info('cached %d frames of %d seeds in %s with Ray', written, len(offsets), folder)
    if failed:
        raise RuntimeError('filling the cache with Ray failed for ' + '; '.join(failed))
    return written
