"""What the observed-free channel costs (loc_core/geometry/free_space.py, the fusion backbone's
`free_space_input`): milliseconds per sweep at one thread on real scans (wall clock, and the process's CPU time, which a
machine shared with other jobs inflates less), with the free voxels found; the compiled traversal
(the default on a CPU) and the vectorised one (GPUs) one after the other.

Usage: .venv/bin/python bench/free_space_cost.py [--nuscenes ../shared/data/nuscenes-mini-scene0916]
       [--semantickitti ../shared/data/semantickitti-mini] [--frames 4] [--repeats 3]"""
import argparse
import time

import numpy as np
import torch

from loc_core.data.frame_sources import nuscenes_frames
from loc_core.data.semantickitti_source import SemanticKittiSource
from loc_core.geometry.free_space import observed_free
from loc_core.geometry.voxel_grid import VoxelGrid
from loc_core.models.factory import architecture


def measure(frames, repeats: int, ego_box, compiled: bool) -> dict:
    grid = VoxelGrid()
    times, cpu, free, points = [], [], [], []
    for frame in frames:
        cloud = torch.from_numpy(frame.points_ego().astype(np.float32))
        origin = frame.lidar_to_ego[:3, 3]
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            mask = observed_free(cloud, origin, grid, ego_box, compiled=compiled)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
        free.append(int(mask.sum()))
        points.append(len(cloud))
    return {'ms_p50': float(np.median(times)), 'ms_max': float(np.max(times)), 'cpu_ms_p50': float(np.median(cpu)),
            'frames': len(free),
            'points_per_sweep': float(np.mean(points)), 'free_voxels_per_sweep': float(np.mean(free))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--nuscenes', default='../shared/data/nuscenes-mini-scene0916')
    parser.add_argument('--semantickitti', default='../shared/data/semantickitti-mini')
    parser.add_argument('--frames', type=int, default=4)
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ego_box = architecture('fusion_small')['ego_box']
    nuscenes = [f for _, f in zip(range(args.frames), nuscenes_frames(args.nuscenes))]
    kitti = [SemanticKittiSource(args.semantickitti, '07', with_camera=False).frame(s) for s in (0, 3, 6, 9)]
    for name, frames in (('nuScenes scene-0916 (32 beams)', nuscenes), ('SemanticKITTI 07 (64 beams)', kitti[:args.frames])):
        for compiled in (True, False):
            measure(frames[:1], 1, ego_box, compiled)  # compiles (or loads the compiled loop) first
            row = measure(frames, args.repeats, ego_box, compiled)
            print(f'{name}, {"compiled" if compiled else "vectorised"}: {row}')


if __name__ == '__main__':
    main()
