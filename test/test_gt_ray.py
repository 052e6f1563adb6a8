"""Ray for the data stages: `loc-gt --ray` (one task per keyframe of a scene, or one per scene) and
`loc-train --ray` write the same files, byte for byte, as single-process runs; a failing task is
retried, one that keeps failing is reported (exit 1) and a rerun labels only what is missing, then
nothing.

The cluster is real: `ray start --head --block` (2 CPUs, no dashboard, its own temp dir) in a
subprocess, stopped by SIGTERM to that process, which stops only the Ray processes it started
(`ray stop` would stop every Ray instance of the user on the machine). The runs under test are
`python -m loc_core.gt.cli --ray ADDRESS` subprocesses, so the driver, the raylet's workers and
the test are separate processes, as on a cluster (the output folder stands for shared storage).
Token authentication is on, with a token made for this cluster (the user's ~/.ray is not used).
Ray 2.60 replaces a loopback --node-ip-address by the machine's own address, so none is given."""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from loc_core.gt import cli
from loc_core.gt.ray_runner import FAILURES_ENV, MAX_RETRIES

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ['--synthetic', '--seed', '3', '--frames', '3']
SEEDS = ['--synthetic', '--seeds', '3-4', '--frames', '2']  # two scenes: one Ray task per scene
TOKEN = secrets.token_hex(32)  # Ray's token authentication, with a token of this module's cluster only


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith('RAY_') and k != FAILURES_ENV}
    env.update(OMP_NUM_THREADS='1', RAY_USAGE_STATS_ENABLED='0', RAY_AUTH_MODE='token', RAY_AUTH_TOKEN=TOKEN,
               HF_HUB_OFFLINE='1', **extra)
    return env


@pytest.fixture(scope='module')
def ray_address():
    """host:port of a fresh 2-CPU Ray head started for this module."""
    pytest.importorskip('ray')
    temp = tempfile.mkdtemp(prefix='locray', dir='/tmp')  # short: Ray's unix sockets live under it
    log = Path(temp) / 'ray_start.log'
    port = _free_port()
    command = [sys.executable, '-c', 'import sys; from ray.scripts.scripts import main; sys.exit(main())',
               'start', '--head', '--block', '--port', str(port), '--num-cpus', '2', '--include-dashboard=false',
               '--object-store-memory', str(512 * 2**20), '--temp-dir', temp, '--disable-usage-stats']
    with open(log, 'w') as handle:
        head = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=_env(), cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        # the address file can appear a moment after the log line
        while 'Ray runtime started' not in log.read_text() or not (Path(temp) / 'ray_current_cluster').is_file():
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f'ray start did not come up:\n{log.read_text()[-3000:]}')
            time.sleep(0.2)
        address = (Path(temp) / 'ray_current_cluster').read_text().strip()
        assert address.endswith(f':{port}'), address
        yield address
    finally:
        head.send_signal(signal.SIGTERM)  # drains and stops the processes of this head only
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)


def _run(module: str, args, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', module, *map(str, args)], env=_env(**env), cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def _loc_gt(args, **env):
    return _run('loc_core.gt.cli', [*args, '--no-progress'], **env)


def _files(root) -> dict:
    """relative path -> bytes of every file under `root` (leftover temporary files included)."""
    root = Path(root)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


def _arm(folder, **plans) -> Path:
    """A failure folder: key=N makes the first N attempts of `key` fail."""
    folder = Path(folder)
    folder.mkdir()
    for key, count in plans.items():
        (folder / f'{key}.fail').write_text(str(count))
    return folder


def _attempts(folder, key) -> int:
    path = Path(folder) / f'{key}.attempts'
    return len(path.read_text().splitlines()) if path.is_file() else 0


def test_synthetic_retry_failure_resume_and_skip(ray_address, tmp_path, capsys):
    reference = tmp_path / 'single'
    assert cli.main(SYNTHETIC + ['--out', str(reference), '--no-progress']) == 0
    expected = _files(reference)
    assert sum(name.endswith('labels.npz') for name in expected) == 3

    # keyframe 1 fails once (retried), keyframe 2 on every attempt (reported, exit status 1)
    failures = _arm(tmp_path / 'failures', **{'1': 1, '2': 99})
    out = tmp_path / 'ray'
    first = _loc_gt(SYNTHETIC + ['--out', out, '--ray', ray_address], **{FAILURES_ENV: str(failures)})
    assert first.returncode == 1, first.stdout + first.stderr
    assert "{'written': 2, 'failed': 1}" in first.stdout
    assert 'keyframe 2 failed: RuntimeError' in first.stdout and f'after {1 + MAX_RETRIES} attempts' in first.stdout
    assert _attempts(failures, 1) == 2 and _attempts(failures, 2) == 1 + MAX_RETRIES
    assert _attempts(failures, 0) == 0
    written = _files(out)
    missing = [name for name in expected if name not in written]
    assert len(missing) == 1 and missing[0].endswith('labels.npz')
    assert all(written[name] == expected[name] for name in written)

    # the rerun labels only the missing keyframe; then every file (settings JSON too) is identical
    second = _loc_gt(SYNTHETIC + ['--out', out, '--ray', ray_address])
    assert second.returncode == 0, second.stdout + second.stderr
    assert '2 already finished, 1 to label' in second.stdout and "{'written': 1}" in second.stdout
    assert _files(out) == expected

    # a third run finds everything finished and returns before connecting: nothing is rewritten
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob('*')}
    capsys.readouterr()
    assert cli.main(SYNTHETIC + ['--out', str(out), '--ray', ray_address, '--no-progress']) == 0
    assert '3 already finished, 0 to label' in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob('*')} == stamps


@pytest.fixture(scope='module')
def nuscenes_single(nuscenes_dataroot, tmp_path_factory):
    """(arguments, files) of scene-0916's first two keyframes labelled in this process (`--scene all`:
    the dataroot's one scene)."""
    args = ['--dataroot', str(nuscenes_dataroot), '--version', 'v1.0-mini', '--scene', 'all', '--limit', '2']
    out = tmp_path_factory.mktemp('nuscenes_single')
    assert cli.main(args + ['--out', str(out), '--no-progress']) == 0
    files = _files(out)
    assert sum(name.endswith('labels.npz') for name in files) == 2
    return args, files


@pytest.mark.sample_data
def test_nuscenes_keyframes_identical_with_a_retry(ray_address, nuscenes_single, tmp_path):
    args, expected = nuscenes_single
    failures = _arm(tmp_path / 'failures', **{'1': 1})
    out = tmp_path / 'ray'
    run = _loc_gt(args + ['--out', out, '--ray', ray_address], **{FAILURES_ENV: str(failures)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "{'written': 2}" in run.stdout and 'fused in' in run.stdout  # one scene: per keyframe, fused here
    assert _attempts(failures, 1) == 2
    assert _files(out) == expected


@pytest.mark.sample_data
def test_nuscenes_scene_task_identical_with_a_retry(ray_address, nuscenes_single, tmp_path):
    args, expected = nuscenes_single
    # --ray-tasks scene: the one scene as one task, with its records from the driver's tables; its
    # keyframe 1 fails once and is labelled again in the task (the scene is not loaded again)
    failures = _arm(tmp_path / 'failures', **{'scene-scene-0916-1': 1, 'scene-scene-0916': 0})
    out = tmp_path / 'ray'
    run = _loc_gt(args + ['--out', out, '--ray', ray_address, '--ray-tasks', 'scene'], **{FAILURES_ENV: str(failures)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert 'keyframe 1 failed, labelled again: RuntimeError' in run.stdout and "{'written': 2}" in run.stdout
    assert _attempts(failures, 'scene-scene-0916-1') == 2 and _attempts(failures, 'scene-scene-0916') == 1
    assert _attempts(failures, 1) == 0
    assert _files(out) == expected


def test_synthetic_scenes_as_ray_tasks_with_a_retry_and_a_failure(ray_address, tmp_path):
    reference = tmp_path / 'single'
    assert cli.main(SEEDS + ['--out', str(reference), '--no-progress']) == 0  # two scenes in one process
    expected = _files(reference)
    assert sum(name.endswith('labels.npz') for name in expected) == 4
    alone = tmp_path / 'alone'  # the same files as a run of that scene alone
    assert cli.main(['--synthetic', '--seed', '4', '--frames', '2', '--out', str(alone), '--no-progress']) == 0
    assert _files(alone) == {name: data for name, data in expected.items() if name.startswith('synth-s4/')}

    # the task of scene synth-s3 fails once (once loaded) and is retried; synth-s4's fails for good
    failures = _arm(tmp_path / 'failures', **{'scene-synth-s3': 1, 'scene-synth-s4': 99})
    out = tmp_path / 'ray'
    run = _loc_gt(SEEDS + ['--out', out, '--ray', ray_address], **{FAILURES_ENV: str(failures)})
    assert run.returncode == 1, run.stdout + run.stderr
    assert (f'synthetic seed 4 failed: RuntimeError: {FAILURES_ENV}: injected failure 3/99 of scene-synth-s4 '
            f'(after {1 + MAX_RETRIES} attempts)') in run.stdout
    assert "2 scenes: 1 complete, 1 with failures, 0 in error; keyframes {'written': 2}" in run.stdout
    assert _attempts(failures, 'scene-synth-s3') == 2 and _attempts(failures, 'scene-synth-s4') == 1 + MAX_RETRIES
    assert _files(out) == {name: data for name, data in expected.items() if name.startswith('synth-s3/')}


def test_training_cache_identical_to_serial(ray_address, tmp_path):
    from loc_core.config import LocConfig
    from loc_core.data.frame_sources import synthetic_frames
    from loc_core.models.factory import architecture
    from loc_core.train.samples import cache_frames

    serial = tmp_path / 'serial'
    image_size = tuple(architecture(LocConfig().model)['image_size'])
    assert len(cache_frames(synthetic_frames([0, 1], 2), serial, image_size, prefix='synthetic')) == 4
    failures = _arm(tmp_path / 'failures', seed1=1)
    cache = tmp_path / 'ray'
    run = _run('loc_core.train.cli', ['--cache', cache, '--out', tmp_path / 'run', '--synthetic-seeds', '0-1',
                                      '--frames-per-seed', '2', '--prepare-only', '--ray', ray_address],
               **{FAILURES_ENV: str(failures)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert _attempts(failures, 'seed1') == 2 and _attempts(failures, 'seed0') == 0
    assert _files(cache) == _files(serial)


def test_without_ray_installed_a_one_line_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, 'ray', None)  # `import ray` raises ImportError
    assert cli.main(SYNTHETIC + ['--out', str(tmp_path / 'gt'), '--ray']) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and 'optional package ray' in error and 'requirements/ray.txt' in error
    assert not (tmp_path / 'gt').exists()

    from loc_core.train.cli import parse_args

    with pytest.raises(SystemExit) as exit_info:
        parse_args(['--cache', str(tmp_path / 'c'), '--out', str(tmp_path / 'o'), '--ray', 'auto'])
    assert exit_info.value.code == 2 and 'optional package ray' in capsys.readouterr().err


def test_bad_ray_arguments_exit_2(tmp_path, capsys):
    pytest.importorskip('ray')
    assert cli.main(SYNTHETIC + ['--out', str(tmp_path / 'gt'), '--ray', '--workers', '2']) == 2
    assert '--ray and --workers' in capsys.readouterr().err
    # nothing listens there: a one-line error at once, not Ray's minutes of reconnecting
    one = ['--synthetic', '--seed', '3', '--frames', '1', '--out', str(tmp_path / 'gt'), '--no-progress']
    assert cli.main(one + ['--ray', f'127.0.0.1:{_free_port()}']) == 2
    assert 'no Ray cluster answers at 127.0.0.1:' in capsys.readouterr().err
