"""Benchmark: seconds per synthetic frame at the defaults (LiDAR 32x1090 rays + six 704x256
cameras + exact Occ3D ground truth with both masks), through `SyntheticSource.frame`.

Usage: .venv/bin/python bench/bench_sim.py [--seeds 0 1 2] [--frames 20]
Prints the town build time, the first frame (it also precomputes the camera-mask lookup) and
p50/p95/mean of the remaining frames."""
import argparse
import platform
import time

import numpy as np

from loc_core.sim import SyntheticSource


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--frames', type=int, default=20)
    args = parser.parse_args()
    builds, firsts, times, points = [], [], [], []
    for seed in args.seeds:
        start = time.perf_counter()
        source = SyntheticSource(seed, args.frames)
        builds.append(time.perf_counter() - start)
        for index in range(args.frames):
            start = time.perf_counter()
            frame = source.frame(index)
            (firsts if index == 0 else times).append(time.perf_counter() - start)
            points.append(len(frame.points))
    t = np.array(times)
    print(f'synthetic frame ({len(args.seeds)} seeds x {args.frames} frames, {platform.processor() or "cpu"}): '
          f'p50 {np.percentile(t, 50):.3f} s, p95 {np.percentile(t, 95):.3f} s, mean {t.mean():.3f} s; '
          f'town build mean {np.mean(builds):.3f} s; first frame mean {np.mean(firsts):.3f} s; '
          f'LiDAR points per sweep mean {np.mean(points):.0f}')


if __name__ == '__main__':
    main()
