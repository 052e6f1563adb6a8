"""`loc-eval`: evaluate a checkpoint on labelled frames.

    python -m loc_core.evaluation.cli --checkpoint loc_core/checkpoints/loc_demo_fusion.safetensors \\
        --synthetic-seeds 1000-1003 --frames-per-seed 10 --json
    python -m loc_core.evaluation.cli --nuscenes-dataroot DATA --labels-dir OCC3D_GTS --json

Prints Occ3D mIoU / geometry IoU per prompt set (standard, synonyms, renamed) and open-set
AUROC / FPR@95; with --json one JSON object on stdout."""
from __future__ import annotations

import argparse
import json
import logging
import sys

log = logging.getLogger('loc-eval')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog='loc-eval', description=__doc__.split('\n')[0])
    parser.add_argument('--checkpoint', help='checkpoint (default: the shipped demo checkpoint)')
    parser.add_argument('--config', help="LocConfig YAML/JSON for inference settings (default: the checkpoint's)")
    parser.add_argument('--synthetic-seeds', help="held-out synthetic seeds, e.g. '1000-1003'")
    parser.add_argument('--frames-per-seed', type=int, default=10)
    parser.add_argument('--nuscenes-dataroot')
    parser.add_argument('--nuscenes-version', default='v1.0-mini')
    parser.add_argument('--labels-dir', help='dense labels for the nuScenes frames')
    parser.add_argument('--max-frames', type=int)
    parser.add_argument('--unknown-threshold', type=float, help='override inference.unknown_threshold')
    parser.add_argument('--unknown-temperature', type=float,
                        help='override inference.unknown_temperature (0 = the best cosine is the match score)')
    parser.add_argument('--occupancy-threshold', type=float, help='override inference.occupancy_threshold')
    parser.add_argument('--prompt-sets', default='standard,synonyms,renamed')
    parser.add_argument('--homogenisation', action='store_true',
                        help='also measure the mean cosine of voxel features across / within classes')
    parser.add_argument('--json', action='store_true', help='print the metrics as one JSON object')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.json else logging.INFO,
                        format='%(asctime)s %(name)s %(levelname)s %(message)s', stream=sys.stderr)
    from loc_core.config import ConfigError, LocConfig
    from loc_core.data.frame_sources import nuscenes_frames, parse_seeds, synthetic_frames
    from loc_core.evaluation.evaluator import evaluate
    from loc_core.evaluation.prompts import PROMPT_SETS
    from loc_core.inference.predictor import LocPredictor
    from loc_core.models.checkpoint import CheckpointError

    if bool(args.synthetic_seeds) == bool(args.nuscenes_dataroot):
        print('loc-eval: give exactly one of --synthetic-seeds or --nuscenes-dataroot', file=sys.stderr)
        return 2
    sets = tuple(s for s in args.prompt_sets.split(',') if s)
    unknown = [s for s in sets if s not in PROMPT_SETS]
    if unknown:
        print(f'loc-eval: unknown prompt sets {unknown}; choose from {sorted(PROMPT_SETS)}', file=sys.stderr)
        return 2
    try:
        config = LocConfig.load(args.config) if args.config else None
        predictor = LocPredictor(config, checkpoint=args.checkpoint)
        if args.unknown_threshold is not None:
            predictor.config.inference.unknown_threshold = args.unknown_threshold
        if args.unknown_temperature is not None:
            predictor.config.inference.unknown_temperature = args.unknown_temperature
        if args.occupancy_threshold is not None:
            predictor.config.inference.occupancy_threshold = args.occupancy_threshold
        predictor.config.validate()
        if args.synthetic_seeds:
            frames = synthetic_frames(parse_seeds(args.synthetic_seeds), args.frames_per_seed)
        else:
            frames = nuscenes_frames(args.nuscenes_dataroot, args.nuscenes_version, args.labels_dir)
        report = evaluate(predictor, frames, sets, args.max_frames, args.homogenisation)
    except (ConfigError, CheckpointError, ValueError, RuntimeError, OSError) as exc:
        print(f'loc-eval: {exc}', file=sys.stderr)
        return 2
    report['checkpoint'] = str(predictor.checkpoint_path) if predictor.checkpoint_path else None
    report['unknown_threshold'] = predictor.config.inference.unknown_threshold
    report['unknown_temperature'] = predictor.config.inference.unknown_temperature
    report['occupancy_threshold'] = predictor.config.inference.occupancy_threshold
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        print_report(report, sets)
    return 0


def print_report(report: dict, sets) -> None:
    for name in sets:
        r = report[name]
        print(f'{name:10s} mIoU {r["miou"]:6.2f}  geometry IoU {r["geometry_iou"]:6.2f}  ({r["frames"]} frames)')
    o = report['open_set']
    print(f'open set   AUROC {o["auroc"]}  FPR@95 {o["fpr95"]}  ({o["novel_voxels"]} novel / {o["known_voxels"]} known voxels)')
    if 'homogenisation' in report:
        h = report['homogenisation']
        print(f'features   inter-class cosine {h["inter_class_cosine"]}  intra-class cosine {h["intra_class_cosine"]}')


if __name__ == '__main__':
    sys.exit(main())
