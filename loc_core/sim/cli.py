"""`loc-sim`: write a synthetic sequence to disk (see `sequence_io` for the layout) with a
progress bar, and a preview PNG of one frame.

    python -m loc_core.sim.cli --seed 3 --frames 20 --out /tmp/synth-s3 [--config sim.yaml]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from tqdm import tqdm

from loc_core.sim.config import SimConfig
from loc_core.sim.novel import NOVEL_CLASSES
from loc_core.sim.render import save_preview
from loc_core.sim.sequence_io import frame_folder, write_frame, write_json
from loc_core.sim.source import SyntheticSource


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='loc-sim', description=__doc__.splitlines()[0])
    parser.add_argument('--seed', type=int, required=True, help='town seed (non-negative integer)')
    parser.add_argument('--frames', type=int, default=20, help='number of frames (0.5 s apart by default)')
    parser.add_argument('--out', type=Path, required=True, help='output folder (must be empty or new)')
    parser.add_argument('--config', type=Path, help='YAML mapping of SimConfig fields')
    parser.add_argument('--preview-frame', type=int, default=None,
                        help='frame index rendered into preview.png (default: the middle one)')
    parser.add_argument('--force', action='store_true', help='write into a non-empty output folder')
    return parser


def load_config(path: Path | None) -> SimConfig:
    """SimConfig from a YAML file (ValueError naming the problem), or the defaults (also for None)."""
    if path is None:
        return SimConfig()
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f'cannot read config {path}: {exc}') from exc
    if not isinstance(values, dict):
        raise ValueError(f'config {path} must hold a mapping of SimConfig fields')
    return SimConfig.from_dict(values)


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        source = SyntheticSource(args.seed, args.frames, config)
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    if args.out.exists() and any(args.out.iterdir()) and not args.force:
        parser.error(f'output folder {args.out} is not empty (use --force to write into it)')
    preview = args.frames // 2 if args.preview_frame is None else args.preview_frame
    if not 0 <= preview < args.frames:
        parser.error(f'--preview-frame {preview} is outside 0..{args.frames - 1}')
    args.out.mkdir(parents=True, exist_ok=True)
    folders = []
    for index in tqdm(range(args.frames), desc=f'synth-s{args.seed}', unit='frame'):
        frame = source.frame(index)
        folders.append(str(write_frame(frame, frame_folder(args.out, index)).relative_to(args.out)))
        if index == preview:
            save_preview(args.out / 'preview.png', frame, config.grid)
    write_json(args.out / 'sequence.json', {
        'scene': source.scene_name, 'seed': args.seed, 'frames': folders, 'has_novel_objects': source.has_novel_objects,
        'novel_classes': {str(k): v for k, v in NOVEL_CLASSES.items()}, 'config': config.to_dict()})
    print(f'wrote {args.frames} frames of {source.scene_name} to {args.out} (preview: {args.out / "preview.png"})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
