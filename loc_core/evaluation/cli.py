"""`loc-eval`: evaluate a checkpoint on labelled frames.

    python -m loc_core.evaluation.cli --checkpoint loc_core/checkpoints/loc_demo_fusion.safetensors \\
        --synthetic-seeds 1000-1003 --frames-per-seed 10 --json
    python -m loc_core.evaluation.cli --nuscenes-dataroot DATA --labels-dir OCC3D_GTS --json
    python -m loc_core.evaluation.cli --lidarseg ../shared/data/nuscenes-lidarseg-11frames --json
    python -m loc_core.gt.cli --lidarseg ../shared/data/nuscenes-lidarseg-11frames --out out/gt
    python -m loc_core.evaluation.cli --lidarseg ../shared/data/nuscenes-lidarseg-11frames \
        --labels-dir out/gt --prompt-sets standard --per-frame out/eval_frames.jsonl
    python -m loc_core.evaluation.cli --semantickitti ../shared/data/semantickitti-mini --sequences 07 \
        --labels-dir out/gt-semantickitti --checkpoint real --json

Prints Occ3D mIoU / geometry IoU per prompt set (standard, synonyms, renamed) inside mask_camera
and inside mask_lidar, and open-set AUROC / FPR@95; with --json one JSON object on stdout. Ground
truth 255 (occupied but unlabelled) counts for geometry only (see metrics.PROTOCOL); a mask that is
empty on a frame (mask_camera of LiDAR-only frames) skips that frame, and a mask empty on every
frame gives None. --lidarseg (LiDAR-only frames with per-point labels) also scores points as the
nuScenes-lidarseg benchmark does (see point_metrics); with --labels-dir the frames also get dense
labels; --semantickitti DIR --sequences 07 scores SemanticKITTI's labelled points the same way over
the classes its table maps to (point_metrics). Every report holds 'raw_sweep', the trivial baseline
scored by the same code (raw_sweep: the input sweep voxelised, no network: geometry IoU, precision,
recall and occupied voxels per frame inside each mask); where points are scored, the report's top
level holds the headline: 'point_miou', 'point_per_class_iou', 'points_outside_grid' and
'geometry_iou' (inside mask_lidar), of the standard prompts (else the first set). --per-frame FILE writes one JSON line per evaluated frame (standard prompts), atomically;
'-' prints them on stdout before the summary. Every prompt set gets report[set]['open_set'] (AUROC and
FPR@95 of the unknown score against that set's prompts; report['open_set'] is the standard set's).
--rayiou adds report[set]['rayiou'] for the standard prompts (else the first set): SparseOcc's RayIoU
(see rayiou) with rays from SparseOcc's origins, the LiDAR positions of up to 8 keyframes of the
frame's scene within 39 m (--rayiou-origins lidar: the frame's own LiDAR origin only). --export DIR
writes each evaluated frame's prediction (same set) as DIR/<token>/labels.npz in the Occ3D layout,
with the frame's own masks when it has dense labels (see export). --bootstrap N adds
report[set]['bootstrap'] to every prompt set: median and 95 % interval of the mIoU (mask_camera),
AUROC and FPR@95 over N resamples of whole scenes (synthetic: towns), each resample's confusion
matrices and unknown-score histograms pooled (see bootstrap); the top-level median / low / high
stay the mIoU's."""
from __future__ import annotations

import argparse
import json
import logging
import sys

from loc_core.config import PRECISIONS

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
    parser.add_argument('--semantickitti', metavar='DIR',
                        help="a SemanticKITTI root (sequences/XX/...): point-level scores; with --sequences")
    parser.add_argument('--sequences', default='07',
                        help="SemanticKITTI sequences, comma separated (default %(default)s: never train on it)")
    parser.add_argument('--labels-dir', help='dense labels for the nuScenes, lidarseg or SemanticKITTI frames')
    parser.add_argument('--max-frames', type=int)
    parser.add_argument('--unknown-threshold', type=float, help='override inference.unknown_threshold')
    parser.add_argument('--unknown-temperature', type=float,
                        help='override inference.unknown_temperature (0 = the best cosine is the match score)')
    parser.add_argument('--unknown-norm-weight', type=float,
                        help='override inference.unknown_norm_weight (0 = no feature-norm term in the match score)')
    parser.add_argument('--occupancy-threshold', type=float, help='override inference.occupancy_threshold')
    parser.add_argument('--precision', choices=PRECISIONS,
                        help='override inference.precision (the network forward in float32 or bfloat16)')
    parser.add_argument('--hidden-voxels', choices=('classify', 'from_above'),
                        help='override inference.hidden_voxels (the prompt step on hidden voxels, or their class from above)')
    parser.add_argument('--prompt-projection', choices=('on', 'off'),
                        help='override inference.prompt_projection (labels from the prompts projected onto the feature subspace)')
    parser.add_argument('--accumulate', type=int, default=0, metavar='K',
                        help='add the points of up to K earlier frames of the same scene to each input, moved by '
                             'the ego poses (loc_core.data.accumulate; default 0: one sweep)')
    parser.add_argument('--prompt-sets', default='standard,synonyms,renamed')
    parser.add_argument('--homogenisation', action='store_true',
                        help='also measure the mean cosine of voxel features across / within classes')
    parser.add_argument('--json', action='store_true', help='print the metrics as one JSON object')
    parser.add_argument('--per-frame', metavar='FILE',
                        help="write one JSON line per evaluated frame to FILE (atomically), '-' for stdout")
    parser.add_argument('--rayiou', action='store_true',
                        help="also score SparseOcc's RayIoU (query rays from up to 8 LiDAR positions of the scene)")
    parser.add_argument('--rayiou-origins', choices=('sequence', 'lidar'), default='sequence',
                        help="RayIoU ray origins: SparseOcc's, the scene's keyframe LiDAR positions within 39 m, "
                             "at most 8 (sequence, default), or the frame's own LiDAR origin (lidar)")
    parser.add_argument('--bootstrap', type=int, metavar='N', default=0,
                        help='also give 95 %% intervals of the mIoU (mask_camera), AUROC and FPR@95 of every '
                             'prompt set from N resamples of whole scenes (towns), with the medians')
    parser.add_argument('--export', metavar='DIR',
                        help='write each evaluated prediction as DIR/<token>/labels.npz (Occ3D layout)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.json else logging.INFO,
                        format='%(asctime)s %(name)s %(levelname)s %(message)s', stream=sys.stderr)
    from loc_core.config import ConfigError, LocConfig
    from loc_core.data.accumulate import accumulate
    from loc_core.data.frame_sources import lidarseg_frames, nuscenes_frames, parse_seeds, sim_config, synthetic_frames
    from loc_core.evaluation.point_metrics import SEMANTICKITTI_POINT_PROTOCOL, semantickitti_point_classes
    from loc_core.evaluation.prompts import PROMPT_SETS
    from loc_core.inference.predictor import LocPredictor
    from loc_core.models.checkpoint import CheckpointError

    if sum(bool(v) for v in (args.synthetic_seeds, args.nuscenes_dataroot, args.lidarseg, args.semantickitti)) != 1:
        print('loc-eval: give exactly one of --synthetic-seeds, --nuscenes-dataroot, --lidarseg or --semantickitti',
              file=sys.stderr)
        return 2
    if args.accumulate < 0:
        print(f'loc-eval: --accumulate must be >= 0, got {args.accumulate}', file=sys.stderr)
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
        if args.unknown_norm_weight is not None:
            predictor.config.inference.unknown_norm_weight = args.unknown_norm_weight
        if args.occupancy_threshold is not None:
            predictor.config.inference.occupancy_threshold = args.occupancy_threshold
        if args.prompt_projection is not None:
            predictor.config.inference.prompt_projection = args.prompt_projection == 'on'
        if args.hidden_voxels is not None:
            predictor.config.inference.hidden_voxels = args.hidden_voxels
        if args.precision is not None:
            predictor.config.inference.precision = args.precision
        predictor.config.validate()
        if args.synthetic_seeds:
            seeds, simulation = parse_seeds(args.synthetic_seeds), sim_config(args.sim_config)
            frames = synthetic_frames(seeds, args.frames_per_seed, config=simulation)
            poses = synthetic_scene_poses(seeds, args.frames_per_seed, simulation)
        elif args.lidarseg:
            frames = lidarseg_frames(args.lidarseg, args.labels_dir)
            poses = lidarseg_scene_poses(args.lidarseg)
        elif args.semantickitti:
            from loc_core.data.semantickitti_source import sequences_frames

            frames = sequences_frames(args.semantickitti, args.sequences, args.labels_dir)
            poses = None  # RayIoU rays start at each frame's LiDAR
        else:
            frames = nuscenes_frames(args.nuscenes_dataroot, args.nuscenes_version, args.labels_dir)
            poses = nuscenes_scene_poses(args.nuscenes_dataroot, args.nuscenes_version)
        frames = accumulate(frames, args.accumulate)
        records = []
        report = evaluate_with_extras(predictor, frames, sets, args.max_frames, args.homogenisation,
                                      points=bool(args.lidarseg or args.semantickitti), on_frame=records.append,
                                      rayiou=args.rayiou,
                                      scene_poses=poses if args.rayiou_origins == 'sequence' else None,
                                      export_dir=args.export, bootstrap=args.bootstrap,
                                      point_classes=semantickitti_point_classes() if args.semantickitti else None)
        if args.semantickitti:
            report['point_protocol'] = SEMANTICKITTI_POINT_PROTOCOL
            report['sequences'] = args.sequences
        if args.per_frame:
            write_per_frame(args.per_frame, records)
    except (ConfigError, CheckpointError, ValueError, RuntimeError, OSError) as exc:
        print(f'loc-eval: {exc}', file=sys.stderr)
        return 2
    report['checkpoint'] = str(predictor.checkpoint_path) if predictor.checkpoint_path else None
    report['unknown_threshold'] = predictor.config.inference.unknown_threshold
    report['unknown_temperature'] = predictor.config.inference.unknown_temperature
    report['unknown_norm_weight'] = predictor.config.inference.unknown_norm_weight
    report['occupancy_threshold'] = predictor.config.inference.occupancy_threshold
    report['prompt_projection'] = predictor.config.inference.prompt_projection
    report['hidden_voxels'] = predictor.config.inference.hidden_voxels
    report['precision'] = predictor.config.inference.precision
    report['accumulated_frames'] = args.accumulate
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        from loc_core.evaluation.report_text import print_report

        print_report(report, sets)
    return 0


def evaluate_with_extras(predictor, frames, sets, max_frames=None, homogenisation: bool = False,
                         points: bool = False, on_frame=None, rayiou: bool = False, scene_poses=None,
                         export_dir: str | None = None, bootstrap: int = 0, level: float = 0.95,
                         point_classes=None) -> dict:
    """`evaluator.evaluate` (points scored over `point_classes`, None: lidarseg's 1-16) plus loc-eval's
    extras: report['raw_sweep'] (raw_sweep.RawSweepBaseline on the same frames; each per-frame
    record gets 'raw_sweep' {mask_camera, mask_lidar: geometry IoU or None, occupied_predicted}), with
    `points` the headline keys (point_miou, point_per_class_iou, points_outside_grid, geometry_iou
    inside mask_lidar), with `rayiou` report[recorded set]['rayiou'] (origins from `scene_poses`, a
    ScenePoses, else each frame's LiDAR origin), with `export_dir` the Occ3D export of every
    prediction, with `bootstrap` N > 0 report[set]['bootstrap'] for every set
    (SceneGroups.interval)."""
    from loc_core.evaluation.evaluator import evaluate
    from loc_core.evaluation.frame_scores import PromptSetScores
    from loc_core.evaluation.point_metrics import POINT_CLASS_IDS
    from loc_core.evaluation.raw_sweep import RawSweepBaseline

    point_classes = POINT_CLASS_IDS if point_classes is None else tuple(point_classes)
    baseline = RawSweepBaseline(PromptSetScores(points, point_classes))
    extras = PredictionHooks(rayiou, export_dir, scene_poses=scene_poses, raw_sweep=baseline)
    groups = SceneGroups() if bootstrap else None

    def record(line):
        line['raw_sweep'] = baseline.last_record()
        on_frame(line)

    report = evaluate(predictor, frames, sets, max_frames, homogenisation, points=points,
                      on_frame=record if on_frame is not None else None, on_prediction=extras, on_scored=groups,
                      point_classes=point_classes)
    report['raw_sweep'] = baseline.summary()
    recorded = 'standard' if 'standard' in sets else sets[0] if sets else None
    if points and recorded:
        scored = report[recorded]
        report.update(point_miou=scored['points']['miou'], point_per_class_iou=scored['points']['per_class_iou'],
                      points_outside_grid=scored['points']['points_outside_grid'],
                      geometry_iou=scored['mask_lidar']['geometry_iou'], headline_prompt_set=recorded)
    if rayiou and recorded:
        report[recorded]['rayiou'] = extras.rays.summary()
        report[recorded]['rayiou']['origins'] = 'sequence' if scene_poses is not None else 'lidar'
    if groups is not None:
        for name in sets:
            report[name]['bootstrap'] = groups.interval(name, bootstrap, level)
    return report


class ScenePoses:
    """The LiDAR poses of every keyframe of a scene, for SparseOcc's ray origins (rayiou.sequence_origins):
    `resolve(scene name)` -> (T,4,4) lidar_to_world in time order, or None for a scene it does not
    know; each scene resolved once."""

    def __init__(self, resolve):
        self._resolve = resolve
        self._cache: dict = {}

    def poses(self, scene: str):
        if scene not in self._cache:
            try:
                self._cache[scene] = self._resolve(scene)
            except (ValueError, OSError, KeyError) as exc:
                log.warning('no keyframe poses for scene %s (%s): its RayIoU rays start at the LiDAR', scene, exc)
                self._cache[scene] = None
        return self._cache[scene]

    def origins(self, frame):
        """(K,3) ray origins of `frame` in its ego frame: SparseOcc's from its scene's poses, else
        (1,3) its own LiDAR origin."""
        import numpy as np

        from loc_core.evaluation.rayiou import lidar_origin, sequence_origins

        poses = self.poses(frame.scene)
        origins = sequence_origins(frame.ego_to_world, poses) if poses is not None and len(poses) else None
        return origins if origins is not None and len(origins) else np.atleast_2d(lidar_origin(frame))


def synthetic_scene_poses(seeds, frames_per_seed: int, config=None) -> ScenePoses:
    """Scenes 'synth-s{seed}': the LiDAR poses of frames 0 .. max(frames_per_seed, TOWN_MIN_FRAMES) - 1
    of the sequence (the frames its town is built for; 40 = 20 s, like a nuScenes scene), from the
    town's motion, without rendering."""
    names = {f'synth-s{seed}': seed for seed in seeds}

    def resolve(scene):
        import numpy as np

        from loc_core.sim.config import SimConfig
        from loc_core.sim.lidar import lidar_to_ego
        from loc_core.sim.motion import Motion
        from loc_core.sim.town import TOWN_MIN_FRAMES, build_town

        if scene not in names:
            return None
        simulation = config if config is not None else SimConfig()
        motion = Motion(build_town(names[scene], frames_per_seed, simulation))
        mount = lidar_to_ego(simulation.lidar)
        return np.stack([motion.ego_to_world(i * simulation.frame_interval_s) @ mount
                         for i in range(max(frames_per_seed, TOWN_MIN_FRAMES))])
    return ScenePoses(resolve)


def nuscenes_scene_poses(dataroot, version: str) -> ScenePoses:
    """A nuScenes scene: its keyframes' LIDAR_TOP poses (ego pose x calibrated sensor)."""
    def resolve(scene):
        import numpy as np

        from loc_core.data.nuscenes_source import LIDAR_NAME, NuScenesSource
        from loc_core.geometry.transforms import make_transform

        source = NuScenesSource(dataroot, version=version, scene=scene, load_images=False)
        nusc, poses = source.nusc, []
        for token in source.sample_tokens():
            data = nusc.get('sample_data', nusc.get('sample', token)['data'][LIDAR_NAME])
            calib = nusc.get('calibrated_sensor', data['calibrated_sensor_token'])
            ego = nusc.get('ego_pose', data['ego_pose_token'])
            poses.append(make_transform(ego['translation'], ego['rotation'])
                         @ make_transform(calib['translation'], calib['rotation']))
        return np.stack(poses)
    return ScenePoses(resolve)


def lidarseg_scene_poses(folder) -> ScenePoses:
    """The lidarseg sequence (one scene): the LiDAR poses of all its frames."""
    def resolve(scene):
        import numpy as np

        from loc_core.data.lidarseg_source import LidarsegSequenceSource
        from loc_core.geometry.transforms import make_transform

        entries = LidarsegSequenceSource(folder).entries
        return np.stack([make_transform(e['ego_pose']['translation'], e['ego_pose']['rotation_wxyz'])
                         @ make_transform(e['lidar_to_ego']['translation'], e['lidar_to_ego']['rotation_wxyz'])
                         for e in entries])
    return ScenePoses(resolve)


class SceneGroups:
    """evaluate()'s `on_scored`: per prompt set and scene, the mask_camera confusion and the
    unknown-score histograms (openset.score_histograms), for bootstrap intervals over whole scenes."""

    def __init__(self):
        self.metrics: dict = {}  # prompt set -> scene -> OccupancyMetrics (mask_camera)
        self.histograms: dict = {}  # prompt set -> scene -> (2, B) int64

    def __call__(self, prompt_set, frame, scores, open_set) -> None:
        from loc_core.evaluation.metrics import OccupancyMetrics
        from loc_core.evaluation.openset import score_histograms

        self.metrics.setdefault(prompt_set, {}).setdefault(frame.scene, OccupancyMetrics()).merge(
            scores.masks['mask_camera'])
        if open_set is not None:
            counts = score_histograms(*open_set)
            scenes = self.histograms.setdefault(prompt_set, {})
            scenes[frame.scene] = scenes[frame.scene] + counts if frame.scene in scenes else counts

    def interval(self, prompt_set: str, resamples: int, level: float = 0.95, seed: int = 0) -> dict:
        """{'median', 'low', 'high' (the mIoU's, percent, mask_camera), 'miou', 'auroc', 'fpr95' (each
        {'median', 'low', 'high'}, None where not measurable), 'level', 'groups', 'resamples'}: whole
        scenes resampled with replacement (the same resamples for all three), each resample's
        confusion matrices and score histograms pooled. 'groups' counts scenes with mask_camera
        frames; scenes with dense labels but an empty mask_camera still enter the open-set figures."""
        from loc_core.evaluation.bootstrap import bootstrap_miou, bootstrap_open_set

        scenes = self.metrics.get(prompt_set, {})
        confusions = [m.confusion for m in scenes.values() if m.frames]
        miou = bootstrap_miou(confusions, n=resamples, level=level, seed=seed) if confusions else (None,) * 3
        histograms = list(self.histograms.get(prompt_set, {}).values())
        open_set = (bootstrap_open_set(histograms, n=resamples, level=level, seed=seed) if histograms
                    else {'auroc': (None,) * 3, 'fpr95': (None,) * 3})
        out = {'level': level, 'groups': len(confusions), 'resamples': resamples}
        for key, values in (('miou', miou), ('auroc', open_set['auroc']), ('fpr95', open_set['fpr95'])):
            out[key] = dict(zip(('median', 'low', 'high'), (None if v is None or v != v else v for v in values)))
        out.update(out['miou'])
        return out


class PredictionHooks:
    """evaluate()'s `on_prediction`: the raw-sweep baseline (a RawSweepBaseline, on every frame), RayIoU
    (frames with dense labels; origins from `scene_poses`, else the frame's LiDAR origin) and/or the
    Occ3D export of every prediction (tokens: the frame's, else frame_<n>)."""

    def __init__(self, rayiou: bool = False, export_dir: str | None = None, scene_poses: ScenePoses | None = None,
                 raw_sweep=None):
        from loc_core.evaluation.rayiou import RayMetrics

        self.rays = RayMetrics() if rayiou else None
        self.export_dir = export_dir
        self.scene_poses = scene_poses
        self.raw_sweep = raw_sweep
        self.count = 0

    def __call__(self, frame, semantics, grid) -> None:
        if self.raw_sweep is not None:
            self.raw_sweep(frame, semantics, grid)
        labels = frame.occupancy
        if self.rays is not None and labels is not None and labels.semantics.shape == semantics.shape:
            from loc_core.evaluation.rayiou import lidar_origin

            origins = self.scene_poses.origins(frame) if self.scene_poses is not None else lidar_origin(frame)
            self.rays.add(semantics, labels.semantics, grid, origins=origins)
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


if __name__ == '__main__':
    sys.exit(main())
