"""Benchmark: `LocPredictor.predict` at 200x200x16 with six cameras.

Usage: .venv/bin/python bench/bench_predict.py [--source synthetic|nuscenes] [--frames 10] [--repeats 3]
       [--checkpoint demo|real|PATH] [--device cpu|cuda] [--threads N] [--backend torch|onnxruntime]
       [--onnx-path DIR] [--no-features] [--hidden-voxels classify|from_above] [--precision fp32|bf16|auto]
Runs with the checkpoint's own inference settings, as the node does. Prints p50/p95 wall time per
predict call (after one warm-up pass over the frames), p50 of the process CPU time per call (robust
to other load on a shared machine; with --threads 1 it is the single-core compute time), the mean
of each stage, the mean number of occupied voxels and the 1-minute load average during the run."""
import argparse
import json
import os
import time

import numpy as np
import torch

from loc_core.config import PRECISIONS, LocConfig
from loc_core.inference.predictor import LocPredictor
from loc_core.models.checkpoint import DEMO_CHECKPOINT, read_metadata, resolve_shipped


def load_frames(source: str, count: int):
    if source == 'synthetic':
        from loc_core.sim.source import SyntheticSource

        return list(SyntheticSource(2000, count))
    from loc_core.data.nuscenes_source import NuScenesSource
    from loc_core.data.sample_data import NUSCENES_MINI_SCENE, sample_data_root

    nusc = NuScenesSource(sample_data_root() / NUSCENES_MINI_SCENE, version='v1.0-mini')
    return [f for _, f in zip(range(count), nusc)]


def checkpoint_config(path) -> LocConfig:
    """The config stored in the checkpoint (default: the shipped one), as the node uses it: its
    thresholds and unknown temperature included."""
    path = resolve_shipped(path) or (DEMO_CHECKPOINT if DEMO_CHECKPOINT.exists() else None)
    return LocConfig.from_dict(json.loads(read_metadata(path)['config'])) if path else LocConfig()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--source', choices=('synthetic', 'nuscenes'), default='synthetic')
    parser.add_argument('--frames', type=int, default=10)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--checkpoint')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--backend', choices=('torch', 'onnxruntime'), default='torch')
    parser.add_argument('--onnx-path', default='', help='ONNX export folder (default: the export cache)')
    parser.add_argument('--no-features', action='store_true', help='skip the (M,D) feature output')
    parser.add_argument('--hidden-voxels', choices=('classify', 'from_above'),
                        help="override the checkpoint's inference.hidden_voxels")
    parser.add_argument('--precision', choices=PRECISIONS, help="override the checkpoint's inference.precision")
    args = parser.parse_args()
    config = checkpoint_config(args.checkpoint)
    config.inference.device = args.device
    config.inference.num_threads = args.threads
    config.inference.backend, config.inference.onnx_path = args.backend, args.onnx_path
    if args.hidden_voxels:
        config.inference.hidden_voxels = args.hidden_voxels
    if args.precision:
        config.inference.precision = args.precision
    predictor = LocPredictor(config, checkpoint=args.checkpoint)
    frames = load_frames(args.source, args.frames)
    for frame in frames:  # warm-up, in the timed order: a fixed rig (synthetic) gets its projection
        predictor.predict(frame)  # tables; per-frame rigs (nuScenes) never repeat back to back, get none
    times, cpu, stages, occupied = [], [], {}, []
    for _ in range(args.repeats):
        for frame in frames:
            if args.device.startswith('cuda'):
                torch.cuda.synchronize()
            start, start_cpu = time.perf_counter(), time.process_time()
            result = predictor.predict(frame, with_features=not args.no_features)
            times.append((time.perf_counter() - start) * 1e3)
            cpu.append((time.process_time() - start_cpu) * 1e3)
            occupied.append(len(result.occupied_indices))
            for key, value in result.timings_ms.items():
                stages.setdefault(key, []).append(value)
    ms = np.array(times)
    stage_text = ', '.join(f'{k} {np.mean(v):.1f}' for k, v in stages.items())
    print(f'predict {args.source} ({len(frames)} frames x {args.repeats}, device {args.device}, backend '
          f'{args.backend}{" " + str(predictor.onnx.folder) if predictor.onnx else ""}, {args.threads} threads, features {"off" if args.no_features else "on"}, '
          f'hidden voxels {config.inference.hidden_voxels}, precision {config.inference.precision}, '
          f'checkpoint {predictor.checkpoint_path}): p50 {np.percentile(ms, 50):.1f} ms, '
          f'p95 {np.percentile(ms, 95):.1f} ms; CPU time p50 {np.percentile(cpu, 50):.1f} ms; stages ms: {stage_text}; '
          f'occupied voxels {np.mean(occupied):.0f}; load average {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
    main()
