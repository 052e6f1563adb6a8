"""`loc-gt`: dense occupancy labels for a LiDAR sequence, written in Occ3D's layout.

    python -m loc_core.gt.cli --dataroot DIR --version v1.0-mini --scene scene-0916 --out OUT
    python -m loc_core.gt.cli --lidarseg DIR --out OUT
    python -m loc_core.gt.cli --semantickitti DIR --sequences 00,01 --out OUT
    python -m loc_core.gt.cli --synthetic --seed 3 --frames 20 --out OUT
    python -m loc_core.gt.cli --dataroot DIR --version v1.0-trainval --scene all --out OUT --ray auto
    python -m loc_core.gt.cli --synthetic --seeds 0-9 --frames 20 --out OUT

Output: `<out>/<scene>/<token>/labels.npz` per keyframe (nuScenes: the sample token) and
`<out>/<scene>/dense_label_settings.json`. Several scenes in one run (`--scene a,b` or `--scene all`,
`--seeds 3,4,7` or `0-9`): the nuScenes tables are loaded once, the scenes labelled one after another
(the same files as one run per scene) or, with --ray, one Ray task per scene. Resumable: keyframes
whose file exists and is valid are skipped. `--num-shards N --shard-index I` splits the keyframes
between processes or machines (each fuses the whole sequence, labels every N-th keyframe);
`--workers` labels in a local process pool, `--ray [ADDRESS]` as Ray tasks on a cluster (optional;
loc_core/gt/ray_runner.py: one task per keyframe for one scene, one per scene for several;
`--ray-tasks` chooses). nuScenes without lidarseg: static (stuff) voxels stay 255 (unlabelled),
object voxels carry their box's class. Exit status: 0 when every chosen keyframe was labelled or
skipped for a reported reason, 1 when one (or a whole scene) failed, 2 on bad arguments or input
(with several scenes: a scene in error does not stop the others)."""
from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import sys
import time
from collections import Counter
from pathlib import Path

from loc_core.data.frame_sources import parse_seeds
from loc_core.gt.config import KITTI_EGO_BOX, DenseLabelConfig
from loc_core.gt.output import check_or_write_settings, is_finished, labels_path, safe_name, settings_record, write_labels
from loc_core.gt.pipeline import DenseLabelPipeline, keyframe_indices

LOG = logging.getLogger('loc-gt')
_WORKER_STATE = {}  # pipeline, prepared sequence and output root, shared with forked workers


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
    parser.add_argument('--config', help='JSON file of DenseLabelConfig settings')
    parser.add_argument('--set', action='append', default=[], metavar='NAME=VALUE',
                        help='override one setting (JSON value), e.g. --set window=5 --set poisson=false')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('-v', '--verbose', action='store_true')
    return parser


def load_config(args) -> DenseLabelConfig:
    values = {}
    if args.config:
        values.update(json.loads(Path(args.config).read_text()))
    for item in args.set:
        name, sep, raw = item.partition('=')
        if not sep:
            raise ValueError(f'--set needs NAME=VALUE, got {item!r}')
        try:
            values[name.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[name.strip()] = raw
    if getattr(args, 'semantickitti', None) and 'ego_box' not in values:
        values['ego_box'] = KITTI_EGO_BOX
    return DenseLabelConfig.from_dict(values)


def scene_jobs(args) -> tuple[list, object]:
    """The scenes to label, as small picklable jobs (dicts, see `load_scene`), and the nuScenes tables
    (devkit `NuScenes`, loaded once for every scene; None for the other sources)."""
    kitti = getattr(args, 'semantickitti', None)
    chosen = [bool(args.dataroot), bool(args.lidarseg), bool(args.synthetic), bool(kitti)]
    if sum(chosen) != 1:
        raise ValueError('choose exactly one source: --dataroot, --lidarseg, --semantickitti or --synthetic')
    if getattr(args, 'sequences', None) and not kitti:
        raise ValueError('--sequences goes with --semantickitti')
    if args.seeds is not None and (not args.synthetic or args.seed is not None):
        raise ValueError('--seeds goes with --synthetic, instead of --seed')
    if args.dataroot:
        nusc = _nuscenes_tables(args.dataroot, args.version)
        names = pick_scenes(args.scene, [s['name'] for s in nusc.scene])
        return [{'kind': 'nuscenes', 'dataroot': str(args.dataroot), 'version': args.version, 'scene': name}
                for name in names], nusc
    if args.lidarseg:
        return [{'kind': 'lidarseg', 'folder': str(args.lidarseg)}], None
    if kitti:
        from loc_core.data.semantickitti_source import parse_sequences

        return [{'kind': 'semantickitti', 'root': str(kitti), 'sequence': name}
                for name in parse_sequences(args.sequences or 'all', kitti)], None
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


def _nuscenes_tables(dataroot, version: str):
    from loc_core.data.nuscenes_source import load_tables

    try:
        return load_tables(dataroot, version)
    except AssertionError as exc:  # the devkit asserts on missing tables and maps
        raise ValueError(f'nuscenes-devkit cannot load {dataroot}: {exc}') from exc


def job_label(job: dict) -> str:
    """A job in messages: 'scene scene-0916', 'synthetic seed 3', 'lidarseg DIR'."""
    if job['kind'] == 'nuscenes':
        return f"scene {job['scene']}"
    if job['kind'] == 'semantickitti':
        return f"semantickitti sequence {job['sequence']}"
    return f"synthetic seed {job['seed']}" if job['kind'] == 'synthetic' else f"lidarseg {job['folder']}"


def load_scene(job: dict, nusc=None):
    """(frames, scene name, source record for the settings file) of one job of `scene_jobs`. `nusc`:
    for a nuScenes job, the loaded tables or the scene's `SceneTables` (None: loaded here)."""
    if job['kind'] == 'nuscenes':
        from loc_core.data.nuscenes_source import NuScenesSource

        nusc = _nuscenes_tables(job['dataroot'], job['version']) if nusc is None else nusc
        source = NuScenesSource(job['dataroot'], version=job['version'], scene=job['scene'], load_images=False,
                                nusc=nusc)
        frames = list(source)
        record = {'kind': 'nuscenes', 'dataroot': job['dataroot'], 'version': job['version'],
                  'scene': source.scene_name, 'skipped_blobs': dict(source.report)}
        return frames, source.scene_name, record
    if job['kind'] == 'lidarseg':
        from loc_core.data.lidarseg_source import LidarsegSequenceSource

        frames = list(LidarsegSequenceSource(job['folder']))
        return frames, frames[0].scene if frames else 'lidarseg', {'kind': 'lidarseg', 'folder': job['folder']}
    if job['kind'] == 'semantickitti':
        from loc_core.data.semantickitti_scene import semantickitti_scene

        return semantickitti_scene(job['root'], job['sequence'])
    try:
        from loc_core.sim.source import SyntheticSource
    except ImportError as exc:
        raise ValueError(f'--synthetic needs loc_core.sim, which is not available here ({exc})') from exc
    seed, count = job['seed'], job['frames']
    frames = list(SyntheticSource(seed, count))
    scene = frames[0].scene if frames and frames[0].scene else f'synthetic-seed{seed}'
    return frames, scene, {'kind': 'synthetic', 'seed': seed, 'frames': count}


def shard(indices, num_shards: int, shard_index: int) -> list:
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f'--shard-index must be in [0, {num_shards}) and --num-shards >= 1')
    return list(indices)[shard_index::num_shards]


def label_and_write(index: int) -> dict:
    """Label one keyframe (state from `_WORKER_STATE`) and write it; a small summary comes back."""
    pipeline, prepared, out = (_WORKER_STATE[k] for k in ('pipeline', 'prepared', 'out'))
    try:
        if _WORKER_STATE.get('failures'):  # test-only, per-scene Ray tasks (see ray_runner)
            from loc_core.gt.ray_runner import inject_failure

            inject_failure(_WORKER_STATE['failures'], f'scene-{prepared.frames[index].scene}-{index}')
        result = pipeline.label(prepared, index)
    except Exception as exc:  # one bad keyframe must not stop the others; reported as failed
        LOG.exception('keyframe %d failed', index)
        return {'index': index, 'status': 'failed', 'reason': f'{type(exc).__name__}: {exc}'}
    if result.labels is None:
        return {'index': index, 'token': result.token, 'status': 'skipped', 'reason': result.skipped}
    path = labels_path(out, result.scene, result.token)
    write_labels(path, result.labels)
    return {'index': index, 'token': result.token, 'status': 'written', 'path': str(path), 'stats': result.stats}


def run(args) -> int:
    if args.ray is not None:
        from loc_core.gt import ray_runner

        ray_runner.require_ray()
        if args.workers > 1:
            raise ValueError('--ray and --workers are alternatives: Ray schedules the keyframes on its own CPUs')
    elif args.ray_tasks != 'auto':
        raise ValueError('--ray-tasks goes with --ray')
    config = load_config(args)
    jobs, nusc = scene_jobs(args)
    per_scene = args.ray is not None and (args.ray_tasks == 'scene' or (args.ray_tasks == 'auto' and len(jobs) > 1))
    start = time.perf_counter()
    codes, outcomes = Counter(), Counter()  # exit status -> scenes; keyframe status -> keyframes
    try:
        if per_scene:
            from tqdm import tqdm

            ray_runner.connect(args.ray)
            for summary in ray_runner.label_scenes_on_ray(jobs, config, args, nusc, not args.no_progress):
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
    from loc_core.gt.ray_runner import RayUnavailable

    try:
        return label_scene(*load_scene(job, nusc), config, args)
    except RayUnavailable:
        raise
    except (ValueError, FileNotFoundError) as exc:
        if not several:
            raise
        print(f'loc-gt: error: {job_label(job)}: {exc}', file=sys.stderr)
        return {'scene': job_label(job), 'code': 2, 'outcomes': Counter(), 'failed': {}}


def label_scene(frames, scene: str, record: dict, config, args, emit=print, retries: int = 0,
                failures: str | None = None) -> dict:
    """Label the keyframes of one loaded scene that shards, --limit and the finished files leave, here,
    in the local pool (--workers) or as one Ray task per keyframe (args.ray); write its settings file.
    A keyframe that fails is labelled again up to `retries` times (a per-scene Ray task's retries).
    -> {'scene', 'code' (exit status), 'outcomes' (Counter of keyframe status), 'failed' (index -> reason)}.
    Messages go through `emit`; `failures`: the test-only failure folder of a per-scene Ray task."""
    summary = {'scene': scene, 'code': 0, 'outcomes': Counter(), 'failed': {}}
    if not frames:
        emit(f'loc-gt: scene {scene}: the source yielded no frames (all blobs missing?): {record}')
        return {**summary, 'code': 2}
    for frame in frames:
        frame.scene = frame.scene or scene
    grid_shape = config.grid.shape
    mine = shard(keyframe_indices(frames), args.num_shards, args.shard_index)
    todo = [i for i in mine if not is_finished(labels_path(args.out, frames[i].scene,
                                                           frames[i].token or str(frames[i].timestamp_ns)),
                                               grid_shape)]
    finished = len(mine) - len(todo)
    todo = todo if args.limit is None else todo[:max(args.limit, 0)]
    check_or_write_settings(Path(args.out) / safe_name(scene), settings_record(config, record))
    if record.get('skipped_blobs'):
        emit(f"loc-gt: source skipped {record['skipped_blobs']} (missing or corrupt blobs)")
    emit(f'loc-gt: scene {scene}: {len(frames)} frames, shard {args.shard_index}/{args.num_shards} has '
         f'{len(mine)} keyframes, {finished} already finished, {len(todo)} to label')
    if not todo:
        return summary
    if args.ray is not None:
        from loc_core.gt import ray_runner

        ray_runner.connect(args.ray)  # before fusing: a wrong address fails fast
    pipeline = DenseLabelPipeline(config)
    start = time.perf_counter()
    prepared = pipeline.prepare(frames)
    emit(f'loc-gt: fused in {time.perf_counter() - start:.1f} s; fusion report {dict(prepared.fused.report)}')
    _WORKER_STATE.update(pipeline=pipeline, prepared=prepared, out=args.out, failures=failures)
    try:
        pending, retries_left = list(todo), retries
        while pending:
            if args.ray is not None:
                summaries = ray_runner.label_on_ray(pipeline, prepared, pending, args.out, not args.no_progress)
            else:
                summaries = _label_all(pending, args.workers, not args.no_progress)
            pending = []
            for one in summaries:
                if one['status'] == 'failed' and retries_left:
                    emit(f"loc-gt: keyframe {one['index']} failed, labelled again: {one['reason']}")
                    pending.append(one['index'])
                    continue
                summary['outcomes'][one['status']] += 1
                if one['status'] != 'written':
                    emit(f"loc-gt: keyframe {one['index']} {one['status']}: {one['reason']}")
                if one['status'] == 'failed':
                    summary['failed'][one['index']] = one['reason']
            retries_left -= 1
    finally:
        _WORKER_STATE.clear()  # a Ray worker or the next scene must not keep this scene alive
    elapsed = time.perf_counter() - start
    emit(f"loc-gt: {dict(summary['outcomes'])} in {elapsed:.1f} s ({elapsed / len(todo):.2f} s per keyframe, "
         'fusion included)')
    summary['code'] = 1 if summary['failed'] else 0
    return summary


def _label_all(indices, workers: int, progress: bool):
    from tqdm import tqdm

    bar = tqdm(total=len(indices), desc='loc-gt', unit='keyframe', disable=not progress)
    try:
        if workers <= 1:
            for index in indices:
                yield label_and_write(index)
                bar.update()
            return
        # fork: the workers inherit the fused sequence without copying or pickling it
        with multiprocessing.get_context('fork').Pool(workers) as pool:
            for summary in pool.imap_unordered(label_and_write, indices):
                yield summary
                bar.update()
    finally:
        bar.close()


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
