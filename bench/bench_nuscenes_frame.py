"""Benchmark: building one nuScenes Frame (LiDAR read + 6 JPEG decodes + calibration + boxes).

Usage: .venv/bin/python bench/bench_nuscenes_frame.py [--dataroot ../shared/data/nuscenes-mini-scene0916]
Prints per-frame p50/p95 wall time over the scene's keyframes (after one warm-up pass)."""
import argparse
import platform
import time

import numpy as np

from loc_core.data.nuscenes_source import NuScenesSource
from loc_core.data.sample_data import NUSCENES_MINI_SCENE, sample_data_root


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = sample_data_root()
    parser.add_argument('--dataroot', default=str(root / NUSCENES_MINI_SCENE) if root else None)
    parser.add_argument('--version', default='v1.0-mini')
    parser.add_argument('--repeats', type=int, default=2)
    args = parser.parse_args()
    if not args.dataroot:
        parser.error('no sample data found: pass --dataroot')
    source = NuScenesSource(args.dataroot, version=args.version)
    tokens = source.sample_tokens()
    source.frame(tokens[0])  # warm-up (imports, file cache)
    times = []
    for _ in range(args.repeats):
        for token in tokens:
            start = time.perf_counter()
            source.frame(token)
            times.append(time.perf_counter() - start)
    ms = np.array(times) * 1e3
    print(f'nuScenes Frame build ({len(tokens)} keyframes x {args.repeats}, {platform.processor() or "cpu"}): '
          f'p50 {np.percentile(ms, 50):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms, mean {ms.mean():.1f} ms')


if __name__ == '__main__':
    main()
