"""Benchmark: `loc-gt --ray` against the local process pool (`--workers 2`) on the same keyframes.

Usage: .venv/bin/python bench/bench_gt_ray.py [--frames 20] [--cpus 2] [--no-nuscenes] [--parts 6]
       [--seeds 3,4,5] [--seed-frames 6] [--no-single]

Starts a Ray head with `--cpus` CPUs (`ray start --head --block`, its own temp dir and auth token;
stopped at the end), then for a synthetic sequence (seed 3, `--frames` frames) and, when the sample
data is there, nuScenes scene-0916 (41 keyframes):

* `loc-gt --workers N` and `loc-gt --ray ADDRESS` into fresh folders, as subprocesses; wall time of
  the whole command (interpreter start, loading, fusion, labelling), labelling phase as loc-gt
  reports it (its "in X s" minus "fused in Y s"), keyframes/s of both; the two output trees must be
  byte-identical;
* the parts, in this process, one core: loading the sequence, fusing it (`prepare`: paid once per
  scene), and labelling `--parts` keyframes (`label`: paid per keyframe).

Then several scenes in one command (`--seeds`, `--seed-frames` frames each; skipped with
`--seeds ''`): the scenes one after another in one process with the pool (`--workers N`), one Ray
task per scene (`--ray-tasks scene`) and one Ray task per keyframe, scene after scene
(`--ray-tasks keyframe`); all three must write the same bytes. And the nuScenes tables: the devkit's
import, loading the tables (median of 3) and one scene's records for a task (`SceneTables`).
`--no-single` leaves out the single-scene comparison above.

Prints Markdown tables and the projection for all of nuScenes (850 scenes, ~34,000 keyframes)."""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOKEN = secrets.token_hex(32)


def env() -> dict:
    values = {k: v for k, v in os.environ.items() if not k.startswith('RAY_')}
    values.update(OMP_NUM_THREADS='1', RAY_USAGE_STATS_ENABLED='0', RAY_AUTH_MODE='token', RAY_AUTH_TOKEN=TOKEN,
                  HF_HUB_OFFLINE='1')
    return values


def start_head(cpus: int, temp: str) -> tuple[subprocess.Popen, str]:
    Path(temp).mkdir(parents=True, exist_ok=True)
    log = Path(temp) / 'ray_start.log'
    command = [sys.executable, '-c', 'import sys; from ray.scripts.scripts import main; sys.exit(main())',
               'start', '--head', '--block', '--port', '0', '--num-cpus', str(cpus), '--include-dashboard=false',
               '--temp-dir', temp, '--disable-usage-stats']
    with open(log, 'w') as handle:
        head = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env(), cwd=ROOT)
    deadline = time.monotonic() + 180
    while 'Ray runtime started' not in log.read_text():
        if head.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f'ray start failed:\n{log.read_text()[-3000:]}')
        time.sleep(0.2)
    return head, (Path(temp) / 'ray_current_cluster').read_text().strip()


def stop_head(head: subprocess.Popen) -> None:
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        head.kill()


def loc_gt(source: list, out: Path, extra: list) -> dict:
    """Run loc-gt; wall seconds, labelling-phase seconds and keyframes written."""
    start = time.perf_counter()
    run = subprocess.run([sys.executable, '-m', 'loc_core.gt.cli', *source, '--out', str(out), '--no-progress',
                          *extra], env=env(), cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f'loc-gt {extra} failed ({run.returncode}):\n{run.stdout}\n{run.stderr[-3000:]}')
    fused = float(re.search(r'fused in ([\d.]+) s', run.stdout).group(1))
    total = float(re.search(r"\} in ([\d.]+) s", run.stdout).group(1))
    written = int(re.search(r"'written': (\d+)", run.stdout).group(1))
    return {'wall': wall, 'label': total - fused, 'keyframes': written}


def files(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


def parts(source: list, count: int) -> dict:
    """Load, fuse and label `count` keyframes in this process (one core): seconds of each part."""
    from loc_core.gt import cli
    from loc_core.gt.config import DenseLabelConfig
    from loc_core.gt.pipeline import DenseLabelPipeline, keyframe_indices

    args = cli.build_parser().parse_args(source + ['--out', 'unused'])
    start = time.perf_counter()
    jobs, tables = cli.scene_jobs(args)  # nuScenes: the devkit tables (its import too, the first time)
    listed = time.perf_counter()
    frames, _, _ = cli.load_scene(jobs[0], tables)
    loaded = time.perf_counter()
    pipeline = DenseLabelPipeline(DenseLabelConfig())
    prepared = pipeline.prepare(frames)
    fused = time.perf_counter()
    indices = keyframe_indices(frames)
    chosen = indices[::max(1, len(indices) // count)][:count]
    for index in chosen:
        pipeline.label(prepared, index)
    done = time.perf_counter()
    return {'load': loaded - start, 'frames_s': loaded - listed, 'fuse': fused - loaded,
            'label_per_kf': (done - fused) / len(chosen), 'frames': len(frames), 'keyframes': len(indices)}


def tables(dataroot: Path, version: str) -> dict:
    """The nuScenes tables, measured in a fresh process (`--tables-json`): devkit import, load (median
    of 3), resident memory the first load adds, one scene's records for a Ray task (extraction
    seconds, pickled bytes)."""
    run = subprocess.run([sys.executable, __file__, '--tables-json', str(dataroot), '--version', version], env=env(),
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def _resident_mib() -> float:
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    return float('nan')


def _tables_here(dataroot: Path, version: str) -> dict:
    import importlib
    import pickle
    import statistics

    start = time.perf_counter()
    importlib.import_module('nuscenes.nuscenes')
    imported = time.perf_counter() - start
    from loc_core.data.nuscenes_source import SceneTables, load_tables

    rss = _resident_mib()
    loads = []
    for _ in range(3):
        start = time.perf_counter()
        nusc = load_tables(dataroot, version)
        loads.append(time.perf_counter() - start)
        if len(loads) == 1:
            grown = _resident_mib() - rss
    start = time.perf_counter()
    records = SceneTables(nusc, nusc.scene[0]['name'])
    extracted = time.perf_counter() - start
    whole = len(pickle.dumps({name: getattr(nusc, name) for name in nusc.table_names}))
    return {'import': imported, 'load': statistics.median(loads), 'rss_mib': grown, 'extract': extracted,
            'scene_bytes': len(pickle.dumps(records)), 'whole_bytes': whole, 'sample_data': len(nusc.sample_data),
            'annotations': len(nusc.sample_annotation)}


def scenes(seeds: str, frames: int, cpus: int, address: str, work: Path) -> list:
    """Several synthetic scenes in one command, three ways; (name, figures) rows, outputs compared."""
    source = ['--synthetic', '--seeds', seeds, '--frames', str(frames)]
    ways = {f'one process, scenes in turn, --workers {cpus}': ['--workers', str(cpus)],
            'Ray, one task per scene': ['--ray', address, '--ray-tasks', 'scene'],
            'Ray, one task per keyframe, scenes in turn': ['--ray', address, '--ray-tasks', 'keyframe']}
    rows, trees = [], []
    for name, extra in ways.items():
        out = work / f'scenes{len(rows)}'
        start = time.perf_counter()
        run = subprocess.run([sys.executable, '-m', 'loc_core.gt.cli', *source, '--out', str(out), '--no-progress',
                              *extra], env=env(), cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if run.returncode != 0:
            raise SystemExit(f'loc-gt {extra} failed ({run.returncode}):\n{run.stdout}\n{run.stderr[-3000:]}')
        written = int(re.search(r"scenes: .*'written': (\d+)", run.stdout).group(1))
        rows.append((name, {'wall': wall, 'keyframes': written}))
        trees.append(files(out))
        shutil.rmtree(out)
        print(f'done: {name} (load average {os.getloadavg()[0]:.1f})', flush=True)
    return [(name, {**row, 'identical': trees[k] == trees[0]}) for k, (name, row) in enumerate(rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=20, help='synthetic sequence length')
    parser.add_argument('--cpus', type=int, default=2, help='Ray CPUs and pool workers')
    parser.add_argument('--parts', type=int, default=6, help='keyframes labelled for the per-keyframe figure')
    parser.add_argument('--no-nuscenes', action='store_true')
    parser.add_argument('--seeds', default='3,4,5', help="synthetic seeds of the several-scene runs ('': none)")
    parser.add_argument('--seed-frames', type=int, default=6, help='frames per seed in the several-scene runs')
    parser.add_argument('--no-single', action='store_true', help='leave out the single-scene comparison')
    parser.add_argument('--tables-json', metavar='DATAROOT', help=argparse.SUPPRESS)  # see tables()
    parser.add_argument('--version', default='v1.0-mini', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tables_json:
        print(json.dumps(_tables_here(Path(args.tables_json), args.version)))
        return
    os.environ['OMP_NUM_THREADS'] = '1'
    from loc_core.data.sample_data import NUSCENES_MINI_SCENE, sample_data_root

    sources = {f'synthetic seed 3, {args.frames} frames': ['--synthetic', '--seed', '3', '--frames', str(args.frames)]}
    root = sample_data_root()
    if not args.no_nuscenes and root and (root / NUSCENES_MINI_SCENE).is_dir():
        sources['nuScenes scene-0916 (Motional), 41 keyframes'] = ['--dataroot', str(root / NUSCENES_MINI_SCENE),
                                                                   '--version', 'v1.0-mini']
    work = Path(tempfile.mkdtemp(prefix='locbench'))
    head, address = start_head(args.cpus, str(work / 'ray'))
    rows, several = [], []
    try:
        for name, source in sources.items():
            pool = ray = identical = None
            if not args.no_single:
                pool = loc_gt(source, work / 'pool', ['--workers', str(args.cpus)])
                ray = loc_gt(source, work / 'rayout', ['--ray', address])
                identical = files(work / 'pool') == files(work / 'rayout')
                shutil.rmtree(work / 'pool'), shutil.rmtree(work / 'rayout')
            rows.append((name, pool, ray, identical, parts(source, args.parts)))
            print(f'done: {name} (load average {os.getloadavg()[0]:.1f})', flush=True)
        if args.seeds:
            several = scenes(args.seeds, args.seed_frames, args.cpus, address, work)
    finally:
        stop_head(head)
        shutil.rmtree(work, ignore_errors=True)
    table = tables(root / NUSCENES_MINI_SCENE, 'v1.0-mini') if any(n.startswith('nuScenes') for n in sources) else None
    print(f'\n{args.cpus} CPUs for the pool and for Ray; load average at the end {os.getloadavg()[0]:.1f}\n')
    if not args.no_single:
        print('| sequence | keyframes | pool wall s (kf/s) | pool labelling s (kf/s) | Ray wall s (kf/s) '
              '| Ray labelling s (kf/s) | identical | load s | fuse s | label s/kf (1 core) |')
        print('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
        for name, pool, ray, identical, part in rows:
            n = pool['keyframes']
            print(f"| {name} | {n} | {pool['wall']:.1f} ({n / pool['wall']:.2f}) | {pool['label']:.1f} "
                  f"({n / pool['label']:.2f}) | {ray['wall']:.1f} ({n / ray['wall']:.2f}) | {ray['label']:.1f} "
                  f"({n / ray['label']:.2f}) | {'yes' if identical else 'NO'} | {part['load']:.1f} "
                  f"| {part['fuse']:.1f} | {part['label_per_kf']:.2f} |")
    else:  # the parts alone
        print('| sequence | load s (tables and devkit import included) | fuse s | label s/kf (1 core) |')
        print('| --- | --- | --- | --- |')
        for name, _, _, _, part in rows:
            print(f"| {name} | {part['load']:.1f} | {part['fuse']:.1f} | {part['label_per_kf']:.2f} |")
    if several:
        print(f'\n{args.seeds}: synthetic seeds, {args.seed_frames} frames each, {args.cpus} CPUs\n')
        print('| how | keyframes | wall s (kf/s) | identical to the first |')
        print('| --- | --- | --- | --- |')
        for name, row in several:
            n = row['keyframes']
            same = 'yes' if row['identical'] else 'NO'
            print(f"| {name} | {n} | {row['wall']:.1f} ({n / row['wall']:.2f}) | {same} |")
    real = [row for row in rows if row[0].startswith('nuScenes')]
    if real and table:
        part = real[0][4]
        print(f"\nnuScenes tables of this root ({table['sample_data']} sample_data, {table['annotations']} "
              f"annotations): devkit import {table['import']:.2f} s, load {table['load']:.3f} s (median of 3), "
              f"+{table['rss_mib']:.0f} MiB resident, {table['whole_bytes'] / 1e6:.2f} MB pickled; one scene's "
              f"records for a task: {table['extract'] * 1e3:.1f} ms, {table['scene_bytes'] / 1e6:.2f} MB pickled")
        scenes_n, keyframes, cores = 850, 34000, 100
        blobs = part['frames_s']  # the scene's frames from its records, without the tables
        core_s = scenes_n * (blobs + part['fuse']) + keyframes * part['label_per_kf']
        print(f"nuScenes projection, {cores} cores, one task per scene: {scenes_n} x ({blobs:.1f} s frames + "
              f"{part['fuse']:.1f} s fuse) + {keyframes} x {part['label_per_kf']:.2f} s label = {core_s:.0f} core-s; "
              f"/ {cores} = {core_s / cores / 60:.0f} min; plus the v1.0-trainval tables (T s, not measured here) "
              f"loaded once on the driver (T s of wall time before the first task), against {scenes_n} x T core-s "
              f"with one loc-gt process per scene, or {cores} x T with a copy per worker")
    for name, pool, ray, _, part in rows:
        if ray is not None:
            ideal = ray['keyframes'] * part['label_per_kf'] / args.cpus
            print(f"{name}: labelling phase / ideal {args.cpus}-core labelling ({ideal:.1f} s): pool "
                  f"x{pool['label'] / ideal:.2f}, Ray x{ray['label'] / ideal:.2f}")


if __name__ == '__main__':
    main()
