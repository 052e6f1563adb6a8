"""`loc-gt --ray` with one Ray task per scene (`--ray-tasks scene`, the default for several scenes):
the driver submits the jobs, each task loads, fuses and labels its scene with the code a local run
uses (`scenes.load_scene`, `scenes.label_scene`). See ray_runner.py for the whole design, the
retries and the test-only fault injection; this module is apart from it so that the per-keyframe
machinery there does not depend on the scene code that uses it."""
from __future__ import annotations

import copy
import os
from collections import Counter

from loc_core.gt import scenes
from loc_core.gt.ray_runner import FAILURES_ENV, MAX_RETRIES, failure_reason, inject_failure


def label_scenes_on_ray(jobs: list, config, options, nusc=None, progress: bool = True):
    """Label whole scenes as Ray tasks, one per job of `cli.scene_jobs` (call `connect` first); yield
    one summary per scene as it ends: {'scene', 'code', 'outcomes', 'failed', 'lines'}, a scene that
    failed for good with code 1 and its reason. `options`: loc-gt's arguments; `nusc`: the loaded
    nuScenes tables, from which each task gets its scene's records. Runs on the driver."""
    import ray
    from tqdm import tqdm

    from loc_core.data.nuscenes_source import SceneTables

    failures = os.environ.get(FAILURES_ENV) or None
    options = copy.copy(options)
    options.ray, options.workers, options.no_progress = None, 1, True  # the task labels in its own process
    remote = ray.remote(scene_task).options(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=True)
    waiting, running, keyframes = list(jobs), {}, Counter()
    with tqdm(total=len(waiting), desc='loc-gt', unit='scene', disable=not progress) as bar:
        while waiting or running:
            most = max(2, 2 * int(ray.cluster_resources().get('CPU', 1)))  # bounds the records in the store
            while waiting and len(running) < most:
                job = waiting.pop(0)
                tables = SceneTables(nusc, job['scene']) if job['kind'] == 'nuscenes' and nusc is not None else None
                running[remote.remote(job, config, options, tables, failures)] = job
            (ref,), _ = ray.wait(list(running), num_returns=1)
            job = running.pop(ref)
            try:
                summary = ray.get(ref)
            except ray.exceptions.RayError as exc:  # failed for good: raised on every attempt, or lost
                reason = failure_reason(exc)
                summary = {'scene': scenes.job_label(job), 'code': 1, 'outcomes': {}, 'failed': {'scene': reason},
                           'lines': [f'loc-gt: {scenes.job_label(job)} failed: {reason}']}
            keyframes.update(summary['outcomes'])
            bar.set_postfix_str('keyframes ' + ', '.join(f'{k} {v}' for k, v in sorted(keyframes.items())),
                                refresh=False)
            bar.update()
            yield summary


def scene_task(job: dict, config, options, tables=None, failures: str | None = None) -> dict:
    """Runs on a Ray worker: load, fuse and label one scene as `loc-gt` does in one process, writing
    its files under `options.out`; a keyframe that fails is labelled again in this task (MAX_RETRIES
    times). Returns `scenes.label_scene`'s summary with the scene's messages ('lines'); a usage error
    comes back with code 2. Loading or fusion errors raise, so that Ray retries the scene."""
    lines = []
    try:
        frames, scene, record = scenes.load_scene(job, tables)
        inject_failure(failures, f'scene-{scene}')
        summary = scenes.label_scene(frames, scene, record, config, options, emit=lines.append, retries=MAX_RETRIES,
                                  failures=failures)
    except (ValueError, FileNotFoundError) as exc:
        lines.append(f'loc-gt: error: {scenes.job_label(job)}: {exc}')
        return {'scene': scenes.job_label(job), 'code': 2, 'outcomes': {}, 'failed': {}, 'lines': lines}
    return {**summary, 'outcomes': dict(summary['outcomes']), 'lines': lines}
