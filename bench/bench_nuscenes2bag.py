"""Benchmark: nuscenes2bag conversion throughput on scene-0916 keyframes, MB/s of bag written.

Usage: .venv/bin/python bench/bench_nuscenes2bag.py [--dataroot ../shared/data/nuscenes-mini-scene0916]
       [--storage mcap|sqlite3] [--repeats 3]
The devkit table load (about 2 s, once per scene) is timed separately and not in the MB/s; each
repeat converts the whole scene (LiDAR reads, JPEG passthrough, serialisation, writing, rename)
into a temporary folder. Prints the median and best throughput. Target: >= 50 MB/s.
Also times reading the last bag back to Frames (`BagFrameSource`, JPEGs kept, not decoded)."""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from loc_core.data.nuscenes_source import NuScenesSource
from loc_core.data.sample_data import NUSCENES_MINI_SCENE, sample_data_root
from rosbags_tools.nuscenes2bag import nuscenes_to_bag
from rosbags_tools.reader import BagFrameSource


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = sample_data_root()
    parser.add_argument('--dataroot', default=str(root / NUSCENES_MINI_SCENE) if root else None)
    parser.add_argument('--version', default='v1.0-mini')
    parser.add_argument('--storage', default='mcap', choices=('mcap', 'sqlite3'))
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    if not args.dataroot:
        parser.error('no sample data found: pass --dataroot')
    start = time.perf_counter()
    nusc = NuScenesSource(args.dataroot, version=args.version, load_images=False).nusc
    table_s = time.perf_counter() - start
    rates, sizes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats + 1):  # the first run warms the file cache and imports
            report = nuscenes_to_bag(args.dataroot, args.version, None, Path(tmp) / f'bag{i}', storage=args.storage,
                                     progress=False, nusc=nusc)
            if i:
                rates.append(report.megabytes_per_second)
                sizes.append(report.bytes / 1e6)
        read_rates = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            frames = sum(1 for _ in BagFrameSource(report.path, decode_images=False))
            read_rates.append(report.bytes / 1e6 / (time.perf_counter() - start))
    print(f'nuscenes2bag {args.storage}, {report.frames} keyframes, {sizes[-1]:.1f} MB per run: '
          f'median {np.median(rates):.1f} MB/s, best {max(rates):.1f} MB/s over {args.repeats} runs '
          f'(+ {table_s:.1f} s devkit table load, once)')
    print(f'bag -> Frames ({frames} frames, JPEGs not decoded): median {np.median(read_rates):.1f} MB/s, '
          f'best {max(read_rates):.1f} MB/s over {args.repeats} runs')


if __name__ == '__main__':
    main()
