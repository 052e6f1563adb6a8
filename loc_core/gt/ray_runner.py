"""`loc-gt --ray [ADDRESS]`: dense labels as Ray tasks, on one machine or a cluster. Two kinds of task
(`--ray-tasks`; by default per keyframe for one scene, per scene for several):

Per keyframe (`label_on_ray`: one scene spread over the cluster; with several scenes, one after
another):

* the driver (the `loc-gt` process) loads and fuses the sequence exactly as a local run does
  (`DenseLabelPipeline.prepare`, once per scene), puts the pipeline and the prepared sequence into
  Ray's object store once, submits one task per keyframe and shows progress (tqdm) as tasks complete;
* each task (`label_task`, on any worker of any node) reads the prepared sequence from the object
  store (zero-copy on its own node; Ray copies it once to every other node that runs a task), labels
  its keyframe with `pipeline.label(prepared, index)`, the call a local run makes, and writes the
  file with `write_labels` (temporary file + atomic rename) under `--out`, which every node must
  see (shared storage). A label depends only on the prepared sequence and the keyframe index, so
  the files are byte-identical to a single-process run.

Per scene (`ray_scenes.label_scenes_on_ray`: many scenes, e.g. `--scene all`, `--seeds 0-99`):

* the driver submits one task per scene (at most two per cluster CPU at a time, more as they end),
  shows progress over scenes, with the keyframe counts of the finished ones, and prints each scene's
  messages when it ends;
* each task (`ray_scenes.scene_task`) loads its scene, writes its settings file, fuses it and labels
  its keyframes in that worker, with the same code a local run uses (`scenes.load_scene`,
  `scenes.label_scene`), writing each file atomically under `--out`; so the files are byte-identical to a single-process
  run. A keyframe that fails is labelled again in the task, with the scene already fused
  (`MAX_RETRIES` times; then it is reported as failed). A task that raises (loading, fusion) or
  whose worker or node dies is retried by Ray, and the retry skips the keyframes already written
  (with `--limit N`, it takes N of those left, as a rerun does). A usage error (other settings
  already in the scene folder) is reported, not retried.
* nuScenes: the driver loads the devkit tables once and hands each task its scene's records
  (`SceneTables`: the keyframes' sample, sample_data, ego_pose, calibrated_sensor and annotation
  records; 1.27 MB pickled for scene-0916, 3.4 ms to extract), so no worker loads the tables.
  Memory: the whole tables on the driver only (the one-scene mini root measured here: +13 MiB
  resident, 0.05 s to load; v1.0-trainval holds about 630 times its pickled bytes: not measured,
  a linear guess is 8 GiB and 30 s), and about 1.3 MB per submitted task in the object store. The
  alternative, a NuScenes cached in every worker process, would hold a whole copy of the tables in
  each worker (16 copies on a 16-CPU node) and load it once per worker. docs/benchmarks-history.md, "Dense
  labels on Ray", has the figures.

A task that raises, or whose worker or node dies, is retried (`MAX_RETRIES`); one that still fails
is reported as failed and `loc-gt` exits with status 1. Nothing is lost: a rerun skips every
keyframe whose file exists and is valid (`is_finished`, checked where the scene is loaded: the driver
per keyframe, the task per scene) and labels the rest.

Blank camera images (nuScenes read with `load_images=False`: all-zero 1600x900 images) are sent
as their shape only and rebuilt as read-only zero views on the worker (`_pack`/`_unpack`): the same
pixels, 1.1 GB less to move per nuScenes scene.

Test-only fault injection: `LOC_GT_TEST_FAILURES=<folder>` (read by the driver, handed to the
tasks). A file `<folder>/<index>.fail` makes the first N attempts of keyframe `index` raise (N =
the file's integer content, 1 when empty); every attempt appends a line to `<folder>/<index>.attempts`.
Per-scene tasks use the key `scene-<scene name>` (e.g. `scene-synth-s3`), checked once the scene is
loaded, and `scene-<scene name>-<index>` for each keyframe (labelled again in the task). `loc-train
--ray` uses the same hook with keys
`seed<N>`. The folder must be visible to the workers (the same shared storage as --out); the hook is
a no-op when the variable is unset.

Ray is optional: nothing here imports it at module level."""
from __future__ import annotations

import copy
import dataclasses
import os
import socket
from pathlib import Path

import numpy as np

from loc_core.gt.output import labels_path, write_labels

MAX_RETRIES = 2  # a failed task runs at most 1 + MAX_RETRIES times
FAILURES_ENV = 'LOC_GT_TEST_FAILURES'
INSTALL_HINT = "pip install -r requirements/ray.txt (or pip install -e '.[ray]')"


class RayUnavailable(ValueError):
    """Ray is not installed, or the cluster cannot be reached (a usage error: exit status 2)."""


def require_ray():
    """The `ray` module, or RayUnavailable with a one-line hint. Runs on the driver."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(f'--ray needs the optional package ray, which is not installed ({exc}); '
                             f'{INSTALL_HINT}') from exc
    return ray


def connect(address: str | None):
    """Join the cluster at `address` ('auto' or 'host:port' of a `ray start --head`), or start a local
    one when `address` is empty (ray.init() then honours RAY_ADDRESS). Runs on the driver; returns `ray`."""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    _probe(address)
    try:
        if address:
            ray.init(address=address, log_to_driver=True)
        else:
            ray.init(include_dashboard=False, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        hint = ' (a cluster with token authentication also needs RAY_AUTH_MODE=token here)' if address else ''
        where = address or '(local)'
        raise RayUnavailable(f'cannot start or reach the Ray cluster {where!r}: {lines[-1]}{hint}') from exc
    return ray


def _probe(address: str | None, timeout_s: float = 10.0) -> None:
    """Fail fast when nothing listens at a 'host:port' address (Ray itself retries for minutes)."""
    host, sep, port = (address or '').rpartition(':')
    if not sep or not host or not port.isdigit():
        return  # '', 'auto' or another form: Ray resolves it
    try:
        socket.create_connection((host.strip('[]'), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise RayUnavailable(f'no Ray cluster answers at {address} ({exc}); start one with `ray start --head` '
                             'or check the address') from exc


def completed(ray, refs: list, progress: bool, desc: str, unit: str):
    """Yield (ref, value) as each task finishes, value being the exception when the task failed
    for good (after its retries); a tqdm bar counts completed tasks. Runs on the driver."""
    from tqdm import tqdm

    pending = list(refs)
    with tqdm(total=len(pending), desc=desc, unit=unit, disable=not progress) as bar:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    value = ray.get(ref)
                except ray.exceptions.RayError as exc:  # RayTaskError (the task raised), worker or node lost...
                    value = exc
                bar.update()
                yield ref, value


def failure_reason(exc: BaseException) -> str:
    """One line for a task that failed for good: the original exception where Ray kept it."""
    cause = getattr(exc, 'cause', None) or exc
    text = str(cause).strip().splitlines()
    return f'{type(cause).__name__}: {text[-1] if text else ""} (after {1 + MAX_RETRIES} attempts)'


def label_on_ray(pipeline, prepared, indices: list, out, progress: bool = True):
    """Label `indices` of a prepared sequence as Ray tasks (call `connect` first); yield one summary
    per keyframe, as `loc_core.gt.scenes.label_and_write` does: status 'written', 'skipped' or 'failed'.
    Runs on the driver; the labelling runs in `label_task` on the workers."""
    import ray

    failures = os.environ.get(FAILURES_ENV) or None
    state = ray.put((pipeline, _pack(prepared)))  # once: every task of every node reads this object
    remote = ray.remote(label_task).options(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=True)
    refs = {remote.remote(state, index, str(out), failures): index for index in indices}
    try:
        for ref, value in completed(ray, list(refs), progress, 'loc-gt', 'keyframe'):
            if isinstance(value, BaseException):
                value = {'index': refs[ref], 'status': 'failed', 'reason': failure_reason(value)}
            yield value
    finally:
        del state  # the caller shuts Ray down once every scene is done


def label_task(state, index: int, out: str, failures: str | None = None) -> dict:
    """Runs on a Ray worker: label keyframe `index` and write its file under `out` (atomically).
    Raises on failure, so that Ray retries it."""
    pipeline, prepared = state
    inject_failure(failures, index)
    result = pipeline.label(_unpack(prepared), index)
    if result.labels is None:
        return {'index': index, 'token': result.token, 'status': 'skipped', 'reason': result.skipped}
    path = labels_path(out, result.scene, result.token)
    write_labels(path, result.labels)
    return {'index': index, 'token': result.token, 'status': 'written', 'path': str(path), 'stats': result.stats}


def inject_failure(folder: str | None, key) -> None:
    """Test-only (see the module docstring): raise on the first N attempts of `key` when
    `<folder>/<key>.fail` exists; each attempt appends a line to `<folder>/<key>.attempts`."""
    if not folder:
        return
    armed = Path(folder) / f'{key}.fail'
    if not armed.is_file():
        return
    planned = int(armed.read_text().strip() or 1)
    with open(Path(folder) / f'{key}.attempts', 'a') as log:
        log.write(f'{os.getpid()}\n')
    attempts = len((Path(folder) / f'{key}.attempts').read_text().splitlines())
    if attempts <= planned:
        raise RuntimeError(f'{FAILURES_ENV}: injected failure {attempts}/{planned} of {key}')


# -- blank camera images: sent as a shape ------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _BlankImage:
    shape: tuple


def _pack(prepared):
    """A shallow copy of `prepared` whose all-zero camera images are replaced by their shape."""
    frames = []
    for frame in prepared.frames:
        if any(_is_blank(camera.image) for camera in frame.cameras):
            frame = copy.copy(frame)
            frame.cameras = [_blank_camera(camera) for camera in frame.cameras]
        frames.append(frame)
    return dataclasses.replace(prepared, frames=frames)


def _unpack(prepared):
    """Inverse of `_pack`, in place: blank images become read-only zero views of their shape."""
    for frame in prepared.frames:
        for camera in frame.cameras:
            if isinstance(camera.image, _BlankImage):
                camera.image = np.broadcast_to(np.zeros((), np.uint8), camera.image.shape)
    return prepared


def _is_blank(image) -> bool:
    return isinstance(image, np.ndarray) and image.size > 0 and not image.any()


def _blank_camera(camera):
    if not _is_blank(camera.image):
        return camera
    light = copy.copy(camera)
    light.image = _BlankImage(tuple(camera.image.shape))
    return light
