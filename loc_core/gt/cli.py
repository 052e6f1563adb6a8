"""`loc-gt`: dense occupancy labels for a LiDAR sequence, written in Occ3D's layout.

    python -m loc_core.gt.cli --dataroot DIR --version v1.0-mini --scene scene-0916 --out OUT
    python -m loc_core.gt.cli --lidarseg DIR --out OUT
    python -m loc_core.gt.cli --semantickitti DIR --sequences 00,01 --out OUT
    python -m loc_core.gt.cli --synthetic --seed 3 --frames 20 --out OUT
    python -m loc_core.gt.cli --dataroot DIR --version v1.0-trainval --scene all --out OUT --ray auto
    python -m loc_core.gt.cli --synthetic --seeds 0-9 --frames 20 --out OUT
    python -m loc_core.gt.cli --dataroot DIR --out OUT --teacher MODEL.onnx

Output: `<out>/<scene>/<token>/labels.npz` per keyframe (nuScenes: the sample token) and
`<out>/<scene>/dense_label_settings.json`. Several scenes in one run (`--scene a,b` or `--scene all`,
`--seeds 3,4,7` or `0-9`): the nuScenes tables are loaded once, the scenes labelled one after another
(the same files as one run per scene) or, with --ray, one Ray task per scene. Resumable: keyframes
whose file exists and is valid are skipped. `--num-shards N --shard-index I` splits the keyframes
between processes or machines (each fuses the whole sequence, labels every N-th keyframe);
`--workers` labels in a local process pool, `--ray [ADDRESS]` as Ray tasks on a cluster (optional;
loc_core/gt/ray_runner.py: one task per keyframe for one scene, ray_scenes.py: one per scene for
several; `--ray-tasks` chooses). One scene's loading and labelling: scenes.py. SemanticKITTI:
standing objects are boxed from their instance points, moving ones kept in their own scan
(loc_core/data/instance_boxes.py); a sequence is labelled in chunks of --chunk-scans scans with
--context-scans more fused on each side (loc_core/data/semantickitti_scene.py). nuScenes without lidarseg: static (stuff) voxels stay 255 (unlabelled),
object voxels carry their box's class; with `--teacher MODEL.onnx` a 2D segmenter paints the static
points from the cameras (loc_core/teacher), so stuff gets classes too. Exit status: 0 when every chosen keyframe was labelled or
skipped for a reported reason, 1 when one (or a whole scene) failed, 2 on bad arguments or input
(with several scenes: a scene in error does not stop the others)."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter

from loc_core.data.frame_sources import parse_seeds
from loc_core.gt import ray_runner
from loc_core.gt.scenes import job_label, label_scene, load_scene, nuscenes_tables
from loc_core.gt.settings import load_config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='loc-gt', description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_argument_group('source (choose one)')
    source.add_argument('--dataroot', help='nuScenes dataroot')
    source.add_argument('--version', default='v1.0-mini', help='nuScenes version (default %(default)s)')
    source.add_argument('--scene', help="nuScenes scene name, names separated by commas, or 'all' "
                        '(default: the only scene)')
    source.add_argument('--lidarseg', help='folder of the 11-frame lidarseg sequence (frames.json)')
    source.add_argument('--semantickitti', metavar='DIR', help='SemanticKITTI root (holding sequences/XX/)')
    source.add_argument('--sequences', help="with --semantickitti: e.g. 00,01 or 00-07 or 'all' (default all)")
    source.add_argument('--chunk-scans', type=int,
                        help='with --semantickitti: label a sequence in chunks of this many scans (default 50)')
    source.add_argument('--context-scans', type=int,
                        help='with --semantickitti: scans fused on each side of a chunk, not labelled (default 5)')
    source.add_argument('--synthetic', action='store_true', help='a synthetic world sequence')
    source.add_argument('--seed', type=int, help='synthetic world seed (default 0)')
    source.add_argument('--seeds', help='several synthetic scenes, e.g. 3,4,7 or 0-9 (instead of --seed)')
    source.add_argument('--frames', type=int, default=20, help='synthetic sequence length')
    parser.add_argument('--out', required=True, help='output root')
    parser.add_argument('--num-shards', type=int, default=1)
    parser.add_argument('--shard-index', type=int, default=0)
    parser.add_argument('--workers', type=int, default=1, help='local processes (default 1)')
    parser.add_argument('--ray', nargs='?', const='', metavar='ADDRESS',
                        help="label the keyframes as Ray tasks: on the cluster at ADDRESS ('auto', host:port) "
                        'or, without ADDRESS, on a local Ray instance; --out must be storage every node sees '
                        '(optional package ray; see loc_core/gt/ray_runner.py)')
    parser.add_argument('--ray-tasks', choices=('auto', 'keyframe', 'scene'), default='auto',
                        help="with --ray: 'keyframe' (this process fuses each scene, one task per keyframe), "
                        "'scene' (one task per scene fuses and labels it); 'auto' (default): 'keyframe' for "
                        "one scene, 'scene' for several")
    parser.add_argument('--limit', type=int, help='label at most this many keyframes per scene (after sharding '
                        'and skipping finished ones; the whole sequence is still fused)')
    parser.add_argument('--teacher', metavar='MODEL.onnx',
                        help='a 2D segmenter (ONNX) that paints the LiDAR points from the cameras: a path, or one '
                        'relative to the models folder ($LOC_MODELS, default ../shared/models)')
    parser.add_argument('--teacher-classes', metavar='CLASSES.json',
                        help="the teacher's class table (default: classes.json beside the model)")
    parser.add_argument('--config', help='JSON file of DenseLabelConfig settings (teacher settings under "teacher")')
    parser.add_argument('--set', action='append', default=[], metavar='NAME=VALUE',
                        help='override one setting (JSON value), e.g. --set window=5 --set poisson=false; '
                        'teacher settings as --set teacher.window=3')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('-v', '--verbose', action='store_true')
    return parser


def scene_jobs(args) -> tuple[list, object]:
    """The scenes to label, as small picklable jobs (dicts, see `load_scene`), and the nuScenes tables
    (devkit `NuScenes`, loaded once for every scene; None for the other sources)."""
    kitti = getattr(args, 'semantickitti', None)
    chosen = [bool(args.dataroot), bool(args.lidarseg), bool(args.synthetic), bool(kitti)]
    if sum(chosen) != 1:
        raise ValueError('choose exactly one source: --dataroot, --lidarseg, --semantickitti or --synthetic')
    if getattr(args, 'sequences', None) and not kitti:
        raise ValueError('--sequences goes with --semantickitti')
    chunking = {name: getattr(args, name, None) for name in ('chunk_scans', 'context_scans')}
    if not kitti and any(value is not None for value in chunking.values()):
        raise ValueError('--chunk-scans and --context-scans go with --semantickitti')
    if args.seeds is not None and (not args.synthetic or args.seed is not None):
        raise ValueError('--seeds goes with --synthetic, instead of --seed')
    if args.dataroot:
        nusc = nuscenes_tables(args.dataroot, args.version)
        names = pick_scenes(args.scene, [s['name'] for s in nusc.scene])
        return [{'kind': 'nuscenes', 'dataroot': str(args.dataroot), 'version': args.version, 'scene': name}
                for name in names], nusc
    if args.lidarseg:
        return [{'kind': 'lidarseg', 'folder': str(args.lidarseg)}], None
    if kitti:
        from loc_core.data.semantickitti_scene import semantickitti_jobs

        chunking = {name.split('_')[0]: value for name, value in chunking.items() if value is not None}
        return semantickitti_jobs(kitti, args.sequences or 'all', **chunking), None
    seeds = parse_seeds(args.seeds) if args.seeds is not None else [0 if args.seed is None else args.seed]
    return [{'kind': 'synthetic', 'seed': seed, 'frames': args.frames} for seed in dict.fromkeys(seeds)], None


def pick_scenes(text: str | None, names: list) -> list:
    """`--scene`: a name, names separated by commas or 'all'; None: the dataroot's only scene."""
    shown = names if len(names) <= 10 else names[:10] + ['...']
    if text is None:
        if len(names) != 1:
            raise ValueError(f'the dataroot has {len(names)} scenes; choose with --scene (a name, names '
                             f'separated by commas, or all): {shown}')
        return list(names)
    if text.strip() == 'all':
        return list(names)
    wanted = list(dict.fromkeys(name.strip() for name in text.split(',') if name.strip()))
    unknown = [name for name in wanted if name not in names]
    if unknown or not wanted:
        raise ValueError(f"unknown scene {', '.join(unknown) or repr(text)}; the dataroot has {len(names)}: {shown}")
    return wanted


def run(args) -> int:
    if args.ray is not None:
        ray_runner.require_ray()
        if args.workers > 1:
            raise ValueError('--ray and --workers are alternatives: Ray schedules the keyframes on its own CPUs')
    elif args.ray_tasks != 'auto':
        raise ValueError('--ray-tasks goes with --ray')
    config = load_config(args)
    if args.teacher:  # a wrong model path fails before the data is read
        from loc_core.teacher.segmenter import resolve_model_path

        resolve_model_path(args.teacher)
    jobs, nusc = scene_jobs(args)
    for job in jobs:
        job['images'] = bool(args.teacher)  # the teacher needs the pixels
    per_scene = args.ray is not None and (args.ray_tasks == 'scene' or (args.ray_tasks == 'auto' and len(jobs) > 1))
    start = time.perf_counter()
    codes, outcomes = Counter(), Counter()  # exit status -> scenes; keyframe status -> keyframes
    try:
        if per_scene:
            from tqdm import tqdm

            from loc_core.gt.ray_scenes import label_scenes_on_ray

            ray_runner.connect(args.ray)
            for summary in label_scenes_on_ray(jobs, config, args, nusc, not args.no_progress):
                for line in summary['lines']:
                    tqdm.write(line)  # above the progress bar
                codes[summary['code']] += 1
                outcomes.update(summary['outcomes'])
        else:
            for job in jobs:
                summary = _scene_here(job, nusc, config, args, several=len(jobs) > 1)
                codes[summary['code']] += 1
                outcomes.update(summary['outcomes'])
    finally:
        if args.ray is not None and 'ray' in sys.modules and sys.modules['ray'].is_initialized():
            sys.modules['ray'].shutdown()
    if len(jobs) > 1:
        print(f'loc-gt: {len(jobs)} scenes: {codes[0]} complete, {codes[1]} with failures, {codes[2]} in error; '
              f'keyframes {dict(outcomes)} in {time.perf_counter() - start:.1f} s')
    return max(codes, default=0)


def _scene_here(job, nusc, config, args, several: bool) -> dict:
    """One scene in this process (its keyframes here, in the pool or as Ray tasks). With `several`
    scenes, an error of this scene is printed and the next one goes on."""
    try:
        return label_scene(*load_scene(job, nusc), config, args)
    except ray_runner.RayUnavailable:
        raise
    except (ValueError, FileNotFoundError) as exc:
        if not several:
            raise
        print(f'loc-gt: error: {job_label(job)}: {exc}', file=sys.stderr)
        return {'scene': job_label(job), 'code': 2, 'outcomes': Counter(), 'failed': {}}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format='%(levelname)s %(name)s: %(message)s')
    try:
        return run(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f'loc-gt: error: {exc}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
