"""Benchmark: seconds per synthetic frame at the defaults (LiDAR 32x1085 rays, nuScenes' firings
per ring, + six 704x256 cameras + exact Occ3D ground truth with both masks), through `SyntheticSource.frame`.

Usage: .venv/bin/python bench/bench_sim.py [--seeds 0 1 2] [--frames 20]
Prints the town build time, the first frame (it also precomputes the camera-mask lookup),
p50/p95/mean wall time of the remaining frames, their CPU time (process time over all threads)
and the load average (the wall time depends on what else the machine runs)."""
import argparse
import os
import platform
import time

import numpy as np

from loc_core.sim import SyntheticSource


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--frames', type=int, default=20)
    args = parser.parse_args()
    builds, firsts, times, cpu, points = [], [], [], [], []
    for seed in args.seeds:
        start = time.perf_counter()
        source = SyntheticSource(seed, args.frames)
        builds.append(time.perf_counter() - start)
        for index in range(args.frames):
            start, start_cpu = time.perf_counter(), time.process_time()
            frame = source.frame(index)
            (firsts if index == 0 else times).append(time.perf_counter() - start)
            if index:
                cpu.append(time.process_time() - start_cpu)
            points.append(len(frame.points))
    t = np.array(times)
    print(f'synthetic frame ({len(args.seeds)} seeds x {args.frames} frames, {platform.processor() or "cpu"}): '
          f'wall p50 {np.percentile(t, 50):.3f} s, p95 {np.percentile(t, 95):.3f} s, mean {t.mean():.3f} s; '
          f'CPU (all threads) p50 {np.percentile(cpu, 50):.3f} s; load average {os.getloadavg()[0]:.1f}; '
          f'town build mean {np.mean(builds):.3f} s; first frame mean {np.mean(firsts):.3f} s; '
          f'LiDAR points per sweep mean {np.mean(points):.0f}')


if __name__ == '__main__':
    main()
