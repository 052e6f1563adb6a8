"""`loc-gt`: dense occupancy labels for a LiDAR sequence, written in Occ3D's layout.

    python -m loc_core.gt.cli --dataroot DIR --version v1.0-mini --scene scene-0916 --out OUT
    python -m loc_core.gt.cli --lidarseg DIR --out OUT
    python -m loc_core.gt.cli --synthetic --seed 3 --frames 20 --out OUT

Output: `<out>/<scene>/<token>/labels.npz` per keyframe (nuScenes: the sample token) and
`<out>/<scene>/dense_label_settings.json`. Resumable: keyframes whose file exists and is valid are
skipped. `--num-shards N --shard-index I` splits the keyframes between processes or machines
(each fuses the whole sequence, labels every N-th keyframe); `--workers` labels in a local process
pool. nuScenes without lidarseg: static (stuff) voxels stay 255 (unlabelled), object voxels carry
their box's class. Exit status: 0 when every chosen keyframe was labelled or skipped for a reported
reason, 1 when one failed, 2 on bad arguments or input."""
from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import sys
import time
from collections import Counter
from pathlib import Path

from loc_core.gt.config import DenseLabelConfig
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
    source.add_argument('--scene', help='nuScenes scene name (default: the only scene)')
    source.add_argument('--lidarseg', help='folder of the 11-frame lidarseg sequence (frames.json)')
    source.add_argument('--synthetic', action='store_true', help='a synthetic world sequence')
    source.add_argument('--seed', type=int, default=0, help='synthetic world seed')
    source.add_argument('--frames', type=int, default=20, help='synthetic sequence length')
    parser.add_argument('--out', required=True, help='output root')
    parser.add_argument('--num-shards', type=int, default=1)
    parser.add_argument('--shard-index', type=int, default=0)
    parser.add_argument('--workers', type=int, default=1, help='local processes (default 1)')
    parser.add_argument('--limit', type=int, help='label at most this many keyframes (after sharding and '
                        'skipping finished ones; the whole sequence is still fused)')
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
    return DenseLabelConfig.from_dict(values)


def load_sequence(args):
    """(frames, scene name, source record for the settings file) of the chosen source."""
    chosen = [bool(args.dataroot), bool(args.lidarseg), bool(args.synthetic)]
    if sum(chosen) != 1:
        raise ValueError('choose exactly one source: --dataroot, --lidarseg or --synthetic')
    if args.dataroot:
        from loc_core.data.nuscenes_source import NuScenesSource

        try:
            source = NuScenesSource(args.dataroot, version=args.version, scene=args.scene, load_images=False)
        except AssertionError as exc:  # the devkit asserts on missing tables and maps
            raise ValueError(f'nuscenes-devkit cannot load {args.dataroot}: {exc}') from exc
        frames = list(source)
        record = {'kind': 'nuscenes', 'dataroot': str(args.dataroot), 'version': args.version,
                  'scene': source.scene_name, 'skipped_blobs': dict(source.report)}
        return frames, source.scene_name, record
    if args.lidarseg:
        from loc_core.data.lidarseg_source import LidarsegSequenceSource

        frames = list(LidarsegSequenceSource(args.lidarseg))
        return frames, frames[0].scene if frames else 'lidarseg', {'kind': 'lidarseg', 'folder': str(args.lidarseg)}
    try:
        from loc_core.sim.source import SyntheticSource
    except ImportError as exc:
        raise ValueError(f'--synthetic needs loc_core.sim, which is not available here ({exc})') from exc
    frames = list(SyntheticSource(args.seed, args.frames))
    scene = frames[0].scene if frames and frames[0].scene else f'synthetic-seed{args.seed}'
    return frames, scene, {'kind': 'synthetic', 'seed': args.seed, 'frames': args.frames}


def shard(indices, num_shards: int, shard_index: int) -> list:
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f'--shard-index must be in [0, {num_shards}) and --num-shards >= 1')
    return list(indices)[shard_index::num_shards]


def label_and_write(index: int) -> dict:
    """Label one keyframe (state from `_WORKER_STATE`) and write it; a small summary comes back."""
    pipeline, prepared, out = (_WORKER_STATE[k] for k in ('pipeline', 'prepared', 'out'))
    try:
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
    config = load_config(args)
    frames, scene, record = load_sequence(args)
    if not frames:
        LOG.error('the source yielded no frames (all blobs missing?): %s', record)
        return 2
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
        print(f"loc-gt: source skipped {record['skipped_blobs']} (missing or corrupt blobs)")
    print(f'loc-gt: scene {scene}: {len(frames)} frames, shard {args.shard_index}/{args.num_shards} has '
          f'{len(mine)} keyframes, {finished} already finished, {len(todo)} to label')
    if not todo:
        return 0
    pipeline = DenseLabelPipeline(config)
    start = time.perf_counter()
    prepared = pipeline.prepare(frames)
    print(f'loc-gt: fused in {time.perf_counter() - start:.1f} s; fusion report {dict(prepared.fused.report)}')
    _WORKER_STATE.update(pipeline=pipeline, prepared=prepared, out=args.out)
    outcomes = Counter()
    for summary in _label_all(todo, args.workers, not args.no_progress):
        outcomes[summary['status']] += 1
        if summary['status'] != 'written':
            print(f"loc-gt: keyframe {summary['index']} {summary['status']}: {summary['reason']}")
    elapsed = time.perf_counter() - start
    print(f'loc-gt: {dict(outcomes)} in {elapsed:.1f} s ({elapsed / len(todo):.2f} s per keyframe, fusion included)')
    return 1 if outcomes['failed'] else 0


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
