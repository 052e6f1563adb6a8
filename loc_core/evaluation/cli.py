"""`loc-eval`: evaluate a checkpoint on labelled frames.

    python -m loc_core.evaluation.cli --checkpoint loc_core/checkpoints/loc_demo_fusion.safetensors \\
        --synthetic-seeds 1000-1003 --frames-per-seed 10 --json
    python -m loc_core.evaluation.cli --nuscenes-dataroot DATA --labels-dir OCC3D_GTS --json
    python -m loc_core.evaluation.cli --lidarseg ../shared/data/nuscenes-lidarseg-11frames --json
    python -m loc_core.gt.cli --lidarseg ../shared/data/nuscenes-lidarseg-11frames --out out/gt
    python -m loc_core.evaluation.cli --lidarseg ../shared/data/nuscenes-lidarseg-11frames \
        --labels-dir out/gt --prompt-sets standard --per-frame out/eval_frames.jsonl

Prints Occ3D mIoU / geometry IoU per prompt set (standard, synonyms, renamed) inside mask_camera
and inside mask_lidar, and open-set AUROC / FPR@95; with --json one JSON object on stdout. Ground
truth 255 (occupied but unlabelled) counts for geometry only (see metrics.PROTOCOL); a mask that is
empty on a frame (mask_camera of LiDAR-only frames) skips that frame, and a mask empty on every
frame gives None. --lidarseg (LiDAR-only frames with per-point labels) also scores points as the
nuScenes-lidarseg benchmark does (see point_metrics); with --labels-dir the frames also get dense
labels. --per-frame FILE writes one JSON line per evaluated frame (standard prompts), atomically;
'-' prints them on stdout before the summary. --rayiou adds report[set]['rayiou'] for the standard
prompts (else the first set): SparseOcc's RayIoU (see rayiou) from each labelled frame's LiDAR
origin. --export DIR writes each evaluated frame's prediction (same set) as DIR/<token>/labels.npz
in the Occ3D layout, with the frame's own masks when it has dense labels (see export). --bootstrap N
adds report[set]['bootstrap']: median and 95 % interval of the mIoU (mask_camera) over N resamples of
whole scenes (synthetic: towns), each resample's confusion matrices pooled (see bootstrap)."""
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
    parser.add_argument('--sim-config', help='SimConfig YAML for the synthetic frames (e.g. '
                        'loc_core/sim/presets/nuscenes_look.yaml; default: the simulator defaults)')
    parser.add_argument('--nuscenes-dataroot')
    parser.add_argument('--nuscenes-version', default='v1.0-mini')
    parser.add_argument('--lidarseg', metavar='DIR',
                        help='the nuScenes-lidarseg sequence folder (frames.json): point-level scores')
    parser.add_argument('--labels-dir', help='dense labels for the nuScenes or lidarseg frames')
    parser.add_argument('--max-frames', type=int)
    parser.add_argument('--unknown-threshold', type=float, help='override inference.unknown_threshold')
    parser.add_argument('--unknown-temperature', type=float,
                        help='override inference.unknown_temperature (0 = the best cosine is the match score)')
    parser.add_argument('--occupancy-threshold', type=float, help='override inference.occupancy_threshold')
    parser.add_argument('--prompt-sets', default='standard,synonyms,renamed')
    parser.add_argument('--homogenisation', action='store_true',
                        help='also measure the mean cosine of voxel features across / within classes')
    parser.add_argument('--json', action='store_true', help='print the metrics as one JSON object')
    parser.add_argument('--per-frame', metavar='FILE',
                        help="write one JSON line per evaluated frame to FILE (atomically), '-' for stdout")
    parser.add_argument('--rayiou', action='store_true',
                        help="also score SparseOcc's RayIoU (query rays from each frame's LiDAR origin)")
    parser.add_argument('--bootstrap', type=int, metavar='N', default=0,
                        help='also give a 95 %% interval of the mIoU (mask_camera) from N resamples of whole '
                             'scenes (towns), with the median')
    parser.add_argument('--export', metavar='DIR',
                        help='write each evaluated prediction as DIR/<token>/labels.npz (Occ3D layout)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.json else logging.INFO,
                        format='%(asctime)s %(name)s %(levelname)s %(message)s', stream=sys.stderr)
    from loc_core.config import ConfigError, LocConfig
    from loc_core.data.frame_sources import lidarseg_frames, nuscenes_frames, parse_seeds, sim_config, synthetic_frames
    from loc_core.evaluation.evaluator import evaluate
    from loc_core.evaluation.prompts import PROMPT_SETS
    from loc_core.inference.predictor import LocPredictor
    from loc_core.models.checkpoint import CheckpointError

    if sum(bool(v) for v in (args.synthetic_seeds, args.nuscenes_dataroot, args.lidarseg)) != 1:
        print('loc-eval: give exactly one of --synthetic-seeds, --nuscenes-dataroot or --lidarseg', file=sys.stderr)
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
            frames = synthetic_frames(parse_seeds(args.synthetic_seeds), args.frames_per_seed,
                                      config=sim_config(args.sim_config))
        elif args.lidarseg:
            frames = lidarseg_frames(args.lidarseg, args.labels_dir)
        else:
            frames = nuscenes_frames(args.nuscenes_dataroot, args.nuscenes_version, args.labels_dir)
        records = []
        extras = PredictionHooks(args.rayiou, args.export, bool(args.bootstrap))
        report = evaluate(predictor, frames, sets, args.max_frames, args.homogenisation,
                          points=bool(args.lidarseg), on_frame=records.append,
                          on_prediction=extras if extras.active else None)
        recorded = 'standard' if 'standard' in sets else sets[0]
        if args.rayiou and sets:
            report[recorded]['rayiou'] = extras.rays.summary()
        if args.bootstrap and sets:
            report[recorded]['bootstrap'] = extras.miou_interval(args.bootstrap)
        if args.per_frame:
            write_per_frame(args.per_frame, records)
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


class PredictionHooks:
    """evaluate()'s `on_prediction`: RayIoU from the frame's LiDAR origin (frames with dense labels),
    the Occ3D export of every prediction (tokens: the frame's, else frame_<n>), and/or per-scene
    confusion matrices (mask_camera) for a bootstrap interval over scenes."""

    def __init__(self, rayiou: bool = False, export_dir: str | None = None, by_scene: bool = False):
        from loc_core.evaluation.rayiou import RayMetrics

        self.rays = RayMetrics() if rayiou else None
        self.export_dir = export_dir
        self.scenes = {} if by_scene else None  # scene -> OccupancyMetrics
        self.count = 0

    @property
    def active(self) -> bool:
        return self.rays is not None or bool(self.export_dir) or self.scenes is not None

    def miou_interval(self, resamples: int, level: float = 0.95) -> dict:
        """{'median', 'low', 'high' (mIoU percent, mask_camera), 'level', 'groups', 'resamples'}:
        whole scenes resampled with replacement, the mIoU of each resample's pooled confusion."""
        from loc_core.evaluation.bootstrap import bootstrap_miou

        confusions = [m.confusion for m in (self.scenes or {}).values() if m.frames]
        interval = bootstrap_miou(confusions, n=resamples, level=level) if confusions else (None,) * 3
        median, low, high = (None if v is None or v != v else v for v in interval)
        return {'median': median, 'low': low, 'high': high, 'level': level, 'groups': len(confusions),
                'resamples': resamples}

    def __call__(self, frame, semantics, grid) -> None:
        labels = frame.occupancy
        if self.rays is not None and labels is not None and labels.semantics.shape == semantics.shape:
            from loc_core.evaluation.rayiou import lidar_origin

            self.rays.add(semantics, labels.semantics, grid, origins=lidar_origin(frame))
        if self.scenes is not None and labels is not None and labels.semantics.shape == semantics.shape:
            from loc_core.evaluation.metrics import OccupancyMetrics

            self.scenes.setdefault(frame.scene, OccupancyMetrics()).add(semantics, labels.semantics,
                                                                        labels.mask_camera)
        if self.export_dir:
            from loc_core.evaluation.export import export_occ3d

            token = frame.token or f'frame_{self.count:06d}'
            same = labels is not None and labels.semantics.shape == semantics.shape
            export_occ3d(self.export_dir, token, semantics, labels.mask_lidar if same else None,
                         labels.mask_camera if same else None)
        self.count += 1


def write_per_frame(target: str, records: list) -> None:
    """One JSON object per line: to stdout for '-', else to `target` through a temporary file and
    an atomic rename (never a half-written file)."""
    text = ''.join(json.dumps(r, sort_keys=True) + '\n' for r in records)
    if target == '-':
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from loc_core.data.occ3d_io import atomic_write_bytes

    atomic_write_bytes(target, text.encode())


def print_report(report: dict, sets) -> None:
    for name in sets:
        print_prompt_set(name, report[name])
    o = report['open_set']
    print(f'open set   AUROC {o["auroc"]}  FPR@95 {o["fpr95"]}  ({o["novel_voxels"]} novel / {o["known_voxels"]} known voxels)')
    if 'homogenisation' in report:
        h = report['homogenisation']
        print(f'features   inter-class cosine {h["inter_class_cosine"]}  intra-class cosine {h["intra_class_cosine"]}')


def print_prompt_set(name: str, r: dict) -> None:
    """One prompt set's lines: inside mask_camera, inside mask_lidar, and the points when scored."""
    for mask, m in (('mask_camera', r), ('mask_lidar', r['mask_lidar'])):
        if not m['frames']:
            why = (f'the mask is empty on all {m["empty_mask_frames"]} labelled frames' if m['empty_mask_frames']
                   else 'no frame has dense labels')
            print(f'{name:10s} {mask:11s} no figures ({why})')
            continue
        print(f'{name:10s} {mask:11s} mIoU {_pct(m["miou"])}  geometry IoU {_pct(m["geometry_iou"])}  '
              f'({m["frames"]} frames, {m["empty_mask_frames"]} with an empty mask)')
    if 'points' in r:
        p = r['points']
        print(f'{name:10s} points      mIoU {_pct(p["miou"])}  geometry recall {_pct(p["geometry_recall"])}  '
              f'({p["points"]} points, {p["frames"]} frames)')
    if 'rayiou' in r:
        y = r['rayiou']
        print(f'{name:10s} rays        RayIoU {_pct(y["rayiou"])}  @1m {_pct(y["rayiou_1m"])}  '
              f'@2m {_pct(y["rayiou_2m"])}  @4m {_pct(y["rayiou_4m"])}  ({y["rays"]} rays, {y["frames"]} frames)')


def _pct(value) -> str:
    return '   n/a' if value is None else f'{value:6.2f}'


if __name__ == '__main__':
    sys.exit(main())
