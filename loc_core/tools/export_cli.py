"""`loc-export --onnx OUT`: export a checkpoint's network to ONNX and check it against PyTorch.

    loc-export --onnx out/onnx-real --checkpoint real          # or: python -m loc_core.tools.export_cli ...
    options: --frames N (check frames per source, 0 = no check)  --threads N

OUT receives `dense.onnx`, `voxels.onnx` and `export.json` (loc_core/inference/onnx_export.py).
Run it with `inference.backend: onnxruntime` and `inference.onnx_path: OUT` (node: parameters
`backend`, `onnx_path`). The check runs both backends on nuScenes scene-0916 keyframes (when the
sample data is there) and on synthetic frames: max abs difference of the occupancy probability
and of the match score (on voxels both call occupied), and the share of voxels with the same
label; exit status 1 when the agreement is below 99.9 %.
"""
from __future__ import annotations

import argparse
import copy
import logging
import sys

import numpy as np

MIN_AGREEMENT = 0.999


def compare(reference, candidate) -> dict:
    """Two OccupancyResults of one frame -> {'occupancy_max_abs', 'score_max_abs', 'label_agreement'}."""
    both = (reference.labels != 255) & (candidate.labels != 255)
    score = np.abs(reference.scores[both] - candidate.scores[both])
    return {'occupancy_max_abs': float(np.abs(reference.occupancy - candidate.occupancy).max()),
            'score_max_abs': float(score.max()) if score.size else 0.0,
            'label_agreement': float((reference.labels == candidate.labels).mean())}


def check_frames(count: int) -> dict:
    """{source name: frames}: nuScenes scene-0916 keyframes (when present) and synthetic frames."""
    from loc_core.data.nuscenes_source import NuScenesSource
    from loc_core.data.sample_data import NUSCENES_MINI_SCENE, sample_data_root
    from loc_core.sim.source import SyntheticSource

    sources = {}
    root = sample_data_root()
    if root is not None and (root / NUSCENES_MINI_SCENE).is_dir():
        scene = NuScenesSource(root / NUSCENES_MINI_SCENE, version='v1.0-mini')
        sources['nuscenes scene-0916'] = [f for _, f in zip(range(count), scene)]
    sources['synthetic'] = list(SyntheticSource(2000, count))
    return sources


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--onnx', required=True, metavar='OUT', help='export folder to write')
    parser.add_argument('--checkpoint', default='', help="'demo' (default), 'real' or a checkpoint file")
    parser.add_argument('--frames', type=int, default=3, help='check frames per source (0: no check)')
    parser.add_argument('--threads', type=int, default=1, help='onnxruntime threads of the check')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')

    from loc_core.inference.onnx_backend import OnnxBackend
    from loc_core.inference.onnx_export import export_onnx
    from loc_core.inference.predictor import LocPredictor
    from loc_core.models.checkpoint import CheckpointError

    try:
        reference = LocPredictor(checkpoint=args.checkpoint or None)
    except (CheckpointError, ValueError) as exc:
        print(f'loc-export: {exc}', file=sys.stderr)
        return 2
    try:
        folder = export_onnx(reference.model, args.onnx)
    except ValueError as exc:
        print(f'loc-export: {exc}', file=sys.stderr)
        return 2
    print(f'exported {reference.checkpoint_path} to {folder}')
    if args.frames <= 0:
        return 0
    candidate = copy.copy(reference)  # the same network and prompts, run by the export just written
    candidate.onnx = OnnxBackend(reference.model, folder, args.threads)
    worst = 1.0
    for name, frames in check_frames(args.frames).items():
        figures = [compare(reference.predict(f), candidate.predict(f)) for f in frames]
        agreement = min(f['label_agreement'] for f in figures)
        worst = min(worst, agreement)
        print(f'{name} ({len(frames)} frames): occupancy max abs diff {max(f["occupancy_max_abs"] for f in figures):.2e}, '
              f'match score max abs diff {max(f["score_max_abs"] for f in figures):.2e}, '
              f'lowest label agreement {100 * agreement:.3f} %')
    if worst < MIN_AGREEMENT:
        print(f'loc-export: label agreement {100 * worst:.3f} % is below {100 * MIN_AGREEMENT:.1f} %', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
