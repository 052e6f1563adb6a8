"""Benchmark: dense-label generation speed on nuScenes scene-0916 (41 keyframes) with the defaults.

Usage: .venv/bin/python bench/bench_dense_labels.py [--dataroot ../shared/data/nuscenes-mini-scene0916]
       [--set NAME=VALUE ...]

Loads the scene (no image decoding: masks need only calibration), fuses it, labels every keyframe
and prints: seconds per keyframe with everything (fusion and scene mesh included) and without the
loading, the process's CPU seconds per keyframe, per-keyframe p50/p95 of the labelling step,
per-stage means, and the peak RSS."""
import argparse
import json
import os
import resource
import time

import numpy as np

from loc_core.data.nuscenes_source import NuScenesSource
from loc_core.data.sample_data import NUSCENES_MINI_SCENE, sample_data_root
from loc_core.gt.config import DenseLabelConfig
from loc_core.gt.pipeline import DenseLabelPipeline


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = sample_data_root()
    parser.add_argument('--dataroot', default=str(root / NUSCENES_MINI_SCENE) if root else None)
    parser.add_argument('--version', default='v1.0-mini')
    parser.add_argument('--set', action='append', default=[], metavar='NAME=VALUE')
    args = parser.parse_args()
    if not args.dataroot:
        parser.error('no sample data found: pass --dataroot')
    overrides = {k: json.loads(v) for k, _, v in (item.partition('=') for item in args.set)}
    start, cpu_start = time.perf_counter(), time.process_time()
    frames = list(NuScenesSource(args.dataroot, version=args.version, load_images=False))
    loaded = time.perf_counter()
    pipeline = DenseLabelPipeline(DenseLabelConfig(**overrides))
    prepared = pipeline.prepare(frames)
    label_times, stages = [], {}
    for index in range(len(frames)):
        clock = time.perf_counter()
        result = pipeline.label(prepared, index)
        label_times.append(time.perf_counter() - clock)
        for name, seconds in result.stats['seconds'].items():
            stages.setdefault(name, []).append(seconds)
    done, cpu = time.perf_counter(), time.process_time() - cpu_start
    n = len(frames)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'{n} keyframes, settings {overrides or "defaults"}')
    print(f'load {loaded - start:.1f} s; prepare {json.dumps({k: round(v, 1) for k, v in prepared.timings_s.items()})} s')
    print(f'per keyframe, all included: {(done - start) / n:.2f} s; without loading: {(done - loaded) / n:.2f} s')
    print(f'CPU time per keyframe, all included: {cpu / n:.2f} s (wall figures suffer when the machine is shared; '
          f'load average now {os.getloadavg()[0]:.1f})')
    print(f'labelling step p50 {np.percentile(label_times, 50):.2f} s, p95 {np.percentile(label_times, 95):.2f} s')
    print('stage means: ' + ', '.join(f'{k} {np.mean(v):.2f} s' for k, v in stages.items()))
    print(f'peak RSS {peak_mb:.0f} MB')


if __name__ == '__main__':
    main()
