"""`make demo` / `python -m loc_ros.demo.cli`: the whole loop on an embedded default.

Synthetic world (or `--data nuscenes`) -> bag (cached) -> loc_node with the shipped checkpoint ->
prompts changed half way ("car" becomes "vehicle", novel objects' names are added) -> snapshots and
a summary in `--out`."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from loc_core.data.vocabulary import OCC3D_PROMPTS

RENAMED = {'car': 'vehicle'}
DEFAULT_SEED = 1002  # a held-out seed (training used 0-125) whose route passes novel objects


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', choices=('synthetic', 'nuscenes'), default='synthetic')
    parser.add_argument('--seed', type=int, default=DEFAULT_SEED, help='synthetic town seed')
    parser.add_argument('--frames', type=int, default=16, help='synthetic frames (0.5 s apart)')
    parser.add_argument('--dataroot', help='nuScenes dataroot (default: the shared sample scene)')
    parser.add_argument('--version', default='v1.0-mini')
    parser.add_argument('--scene', default=None)
    parser.add_argument('--checkpoint', default='',
                        help="empty: the shipped checkpoint for the data ('demo' for synthetic, 'real' for nuScenes)")
    parser.add_argument('--rate', type=float, default=1.0, help='bag playback rate factor')
    parser.add_argument('--out', default='out/demo')
    parser.add_argument('--cache', default='out/demo-cache')
    parser.add_argument('--domain-id', type=int, default=int(os.environ.get('LOC_DEMO_DOMAIN_ID', 77)))
    args = parser.parse_args(argv)
    if args.frames < 2:
        parser.error('--frames must be at least 2 (one before and one after the prompt change)')
    return args


def new_prompt_set(prompts, class_ids, novel_names) -> tuple[list, list, dict]:
    """The prompts after the change: renames (keeping their Occ3D ids) plus novel objects' names
    (Occ3D id 0, 'others', as the ground truth stores them). Returns (prompts, ids, novel id -> index)."""
    renamed = [RENAMED.get(p, p) for p in prompts]
    ids = list(class_ids)
    novel_index = {}
    for novel_id, name in novel_names.items():
        novel_index[novel_id] = len(renamed)
        renamed.append(name)
        ids.append(0)
    return renamed, ids, novel_index


def load_data(args, cache: Path):
    from loc_ros.demo.data import nuscenes_data, synthetic_data

    if args.data == 'synthetic':
        return synthetic_data(args.seed, args.frames, cache)
    dataroot = args.dataroot
    if dataroot is None:
        from loc_core.data.sample_data import NUSCENES_MINI_SCENE, sample_data_root

        root = sample_data_root()
        if root is None:
            raise SystemExit('demo: no --dataroot and no shared sample data (set LOC_SAMPLE_DATA)')
        dataroot = root / NUSCENES_MINI_SCENE
    return nuscenes_data(Path(dataroot), args.version, args.scene, cache)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    out, cache = Path(args.out), Path(args.cache)
    out.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    from loc_core.sim.novel import NOVEL_ASSETS, NOVEL_CLASSES, SCENE_NOVEL_ASSETS
    from loc_ros.demo.report import PhaseScore, dense, grid_of, write_snapshots, write_summary
    from loc_ros.demo.session import legend_prompts, run_session
    from loc_ros.parameters import prompt_class_ids

    data = load_data(args, cache)
    before_prompts = list(OCC3D_PROMPTS)
    before_ids = list(prompt_class_ids(before_prompts))
    # the kinds the default towns hold (the others need loc_core/sim/presets/open_set.yaml)
    novel = {NOVEL_ASSETS[a]: NOVEL_CLASSES[NOVEL_ASSETS[a]] for a in SCENE_NOVEL_ASSETS} if args.data == 'synthetic' \
        else {}
    after_prompts, after_ids, novel_index = new_prompt_set(before_prompts, before_ids, novel)
    checkpoint = args.checkpoint or ('real' if args.data == 'nuscenes' else '')
    log = run_session(data, after_prompts, checkpoint, out, rate=args.rate, domain_id=args.domain_id)
    if not log.outputs:
        print(f'demo: loc_node published nothing; see {out / "loc_node.log"}', file=sys.stderr)
        return 1

    print(f'[demo] scoring {len(log.outputs)} outputs and drawing snapshots ...')
    phases = {'before': PhaseScore(before_prompts, before_ids, {}),
              'after': PhaseScore(after_prompts, after_ids, novel_index)}
    last = {}
    for output in log.outputs:
        phase = 'after' if legend_prompts(output.legend) == after_prompts else 'before'
        last[phase] = output
        labels, scores = dense(output, grid_of(output.legend))
        truth = data.frame_at(output.stamp_ns).occupancy if data.has_ground_truth else None
        phases[phase].add(labels, scores, truth)
    pictures = []
    for phase, output in sorted(last.items()):
        grid = grid_of(output.legend)
        frame = data.frame_at(output.stamp_ns)
        labels, _ = dense(output, grid)
        pictures += write_snapshots(out, phase, frame, labels, output.legend, grid, frame.occupancy)
    summary = {
        'data': data.name,
        'checkpoint': checkpoint or 'shipped demo checkpoint',
        'prompt_change': log.prompt_change_reply,
        'before': phases['before'].summary(), 'after': phases['after'].summary(),
        'node': node_summary(log, data.frame_count),
        'pictures': pictures,
        'wall_seconds': round(time.monotonic() - started, 1),
    }
    if not data.has_ground_truth:
        summary['note'] = 'no dense ground truth for this data: mIoU and AUROC are not computed'
    write_summary(out, summary)
    print((out / 'summary.md').read_text())
    print(f'[demo] done in {summary["wall_seconds"]} s; pictures and summary in {out}/')
    return 0


def node_summary(log, frames_played: int) -> dict:
    diag = log.diagnostics
    drops = {k: int(v) for k, v in diag.items() if k.startswith(('drop.', 'error.')) and v.isdigit()}
    return {'frames_played': frames_played, 'frames_published': len(log.outputs),
            'latency_p50_ms': diag.get('latency_p50_ms'), 'latency_p95_ms': diag.get('latency_p95_ms'),
            'predict_p50_ms': diag.get('predict_p50_ms'), 'drops_and_errors': drops or 'none'}


if __name__ == '__main__':
    sys.exit(main())
