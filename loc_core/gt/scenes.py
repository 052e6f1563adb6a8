"""One scene of `loc-gt`, loaded and labelled: the source of a job (`load_scene`), its keyframes
labelled here, in a local process pool or as one Ray task per keyframe (`label_scene`), and each
file written (`label_and_write`). `cli.py` parses the command line into jobs; `ray_scenes.py` runs
whole jobs as Ray tasks with this same code, so every path writes the same files."""
from __future__ import annotations

import logging
import multiprocessing
import time
from collections import Counter
from pathlib import Path

from loc_core.gt import ray_runner
from loc_core.gt.output import check_or_write_settings, is_finished, labels_path, safe_name, settings_record, write_labels
from loc_core.gt.pipeline import DenseLabelPipeline, keyframe_indices
from loc_core.gt.settings import load_teacher

LOG = logging.getLogger('loc-gt')
_WORKER_STATE = {}  # pipeline, prepared sequence and output root, shared with forked workers


def nuscenes_tables(dataroot, version: str):
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
        keyframes = job.get('keyframes') or [None]
        return f"semantickitti sequence {job['sequence']} scans {keyframes[0]}-{keyframes[-1]}"
    return f"synthetic seed {job['seed']}" if job['kind'] == 'synthetic' else f"lidarseg {job['folder']}"


def load_scene(job: dict, nusc=None):
    """(frames, scene name, source record for the settings file) of one job of `scene_jobs`. `nusc`:
    for a nuScenes job, the loaded tables or the scene's `SceneTables` (None: loaded here). Images
    are decoded only where a job asks (`images`, for a teacher) and the source keeps no JPEG bytes."""
    if job['kind'] == 'nuscenes':
        from loc_core.data.nuscenes_source import NuScenesSource

        nusc = nuscenes_tables(job['dataroot'], job['version']) if nusc is None else nusc
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

        return semantickitti_scene(job['root'], job['sequence'], job.get('scans'), job.get('keyframes'),
                                   load_images=job.get('images', False))
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
            ray_runner.inject_failure(_WORKER_STATE['failures'], f'scene-{prepared.frames[index].scene}-{index}')
        result = pipeline.label(prepared, index)
    except Exception as exc:  # one bad keyframe must not stop the others; reported as failed
        LOG.exception('keyframe %d failed', index)
        return {'index': index, 'status': 'failed', 'reason': f'{type(exc).__name__}: {exc}'}
    if result.labels is None:
        return {'index': index, 'token': result.token, 'status': 'skipped', 'reason': result.skipped}
    path = labels_path(out, result.scene, result.token)
    write_labels(path, result.labels)
    return {'index': index, 'token': result.token, 'status': 'written', 'path': str(path), 'stats': result.stats}


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
    painter, teacher = load_teacher(args)
    check_or_write_settings(Path(args.out) / safe_name(scene), settings_record(config, record, teacher))
    if record.get('skipped_blobs'):
        emit(f"loc-gt: source skipped {record['skipped_blobs']} (missing or corrupt blobs)")
    emit(f'loc-gt: scene {scene}: {len(frames)} frames, shard {args.shard_index}/{args.num_shards} has '
         f'{len(mine)} keyframes, {finished} already finished, {len(todo)} to label')
    if not todo:
        return summary
    if args.ray is not None:
        ray_runner.connect(args.ray)  # before fusing: a wrong address fails fast
    pipeline = DenseLabelPipeline(config)
    start = time.perf_counter()
    prepared = DenseLabelPipeline(config, painter).prepare(frames)  # the painter stays here (not pickled)
    emit(f'loc-gt: fused in {time.perf_counter() - start:.1f} s; fusion report {dict(prepared.fused.report)}')
    if painter is not None:
        emit(f"loc-gt: teacher painted in {prepared.timings_s['teacher']:.1f} s: {prepared.teacher_stats}")
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
