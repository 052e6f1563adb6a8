"""Calibrate the unknown threshold of a trained model on labelled samples: the match score (best
cosine, or its smooth maximum at a temperature, plus the feature-norm term with a norm weight) below which only `1 - keep` of the known occupied
voxels fall (novel objects excluded).

The samples are validation towns, never training or held-out test towns (by convention seeds
500-531; held-out evaluation uses 1000+ and 80000+). As a command it rewrites a checkpoint with the
calibrated threshold and reports the threshold each evaluation prompt set would get:

    python -m loc_core.train.calibrate --checkpoint IN.safetensors --synthetic-seeds 500-507 \
        --frames-per-seed 2 --keep 0.95 --out OUT.safetensors"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from loc_core.config import ConfigError
from loc_core.data.vocabulary import OCC3D_PROMPTS
from loc_core.models.base import LocNetwork
from loc_core.models.inputs import make_input
from loc_core.train.samples import IGNORE


@torch.inference_mode()
def best_similarities(model: LocNetwork, text: torch.Tensor, samples, temperature: float = 0.0,
                      norm_weight: float = 0.0) -> np.ndarray:
    """(K,) float32 match score against `text` (P,D) (see `LocNetwork.classify_voxels`) of every
    known, labelled occupied voxel of the samples."""
    values = []
    device = text.device  # the network's
    operator = model.language_head.prompt_operator(text)
    for sample in samples:
        voxels = torch.from_numpy(np.argwhere(sample.class_targets() != IGNORE)).to(device)
        encoded = model.encode([make_input(sample.points, sample.images, sample.rig, device=device, origin=sample.origin)])
        scores = model.classify_voxels(encoded, voxels, operator, temperature=temperature, norm_weight=norm_weight)[0]
        values.append(scores.float().cpu().numpy())
    return np.concatenate(values) if values else np.zeros(0, np.float32)


def calibrate_unknown_threshold(model: LocNetwork, text_encoder, templates, samples, keep: float = 0.95,
                                temperature: float = 0.0, prompts=OCC3D_PROMPTS, norm_weight: float = 0.0) -> float:
    """The threshold for `prompts` (one per Occ3D class 0-16, in id order). Prompt projection
    changes labels, not match scores, so it plays no part here."""
    device = next(model.parameters()).device
    text = torch.from_numpy(text_encoder.encode_prompts(prompts, templates)).to(device)
    best = best_similarities(model.eval(), text, samples, temperature, norm_weight)
    if len(best) == 0:
        raise ValueError('no labelled voxels to calibrate the unknown threshold on')
    return float(np.quantile(best, 1.0 - keep))


def validation_samples(seeds, frames_per_seed: int, image_size) -> list:
    """TrainingSamples (at the network's image size) of the synthetic validation towns `seeds`."""
    from loc_core.data.frame_sources import synthetic_frames
    from loc_core.train.samples import TrainingSample

    return [TrainingSample.from_frame(frame, tuple(image_size)) for frame in synthetic_frames(seeds, frames_per_seed)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='loc-calibrate', description=__doc__.split('\n\n')[0])
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('--synthetic-seeds', default='500-507', help='validation towns (default %(default)s)')
    parser.add_argument('--frames-per-seed', type=int, default=2)
    parser.add_argument('--keep', type=float, default=0.95, help='share of known voxels that stay known')
    parser.add_argument('--temperature', type=float,
                        help="match-score temperature T to set first (default: the checkpoint's unknown_temperature)")
    parser.add_argument('--norm-weight', type=float,
                        help="feature-norm weight a to set first (default: the checkpoint's unknown_norm_weight)")
    parser.add_argument('--template', action='append', dest='templates',
                        help="text template with '{}' (repeat for several; replaces the checkpoint's text.templates)")
    parser.add_argument('--prompt-projection', choices=('on', 'off'),
                        help="set inference.prompt_projection first (default: the checkpoint's)")
    parser.add_argument('--occupancy-threshold', type=float,
                        help='also set inference.occupancy_threshold (chosen on validation towns; default: keep)')
    parser.add_argument('--real-cache', metavar='DIR',
                        help='calibrate on the cached real validation samples in DIR (e.g. SemanticKITTI 07 from '
                             '`loc-train --prepare-only --semantickitti ... --sequences 07`) instead of towns')
    parser.add_argument('--out', help="write the checkpoint with the calibrated threshold here (default: only report)")
    args = parser.parse_args(argv)
    from loc_core.data.frame_sources import parse_seeds
    from loc_core.evaluation.prompts import PROMPT_SETS
    from loc_core.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from loc_core.text.factory import create_text_encoder

    if not 0.0 < args.keep < 1.0:
        print(f'loc-calibrate: --keep must be in (0, 1), got {args.keep}', file=sys.stderr)
        return 2
    try:
        loaded = load_checkpoint(args.checkpoint)
        seeds = parse_seeds(args.synthetic_seeds)
    except (CheckpointError, ValueError, OSError) as exc:
        print(f'loc-calibrate: {exc}', file=sys.stderr)
        return 2
    config = loaded.config
    if args.temperature is not None:
        if args.temperature < 0:
            print(f'loc-calibrate: --temperature must be >= 0, got {args.temperature}', file=sys.stderr)
            return 2
        config.inference.unknown_temperature = args.temperature
    if args.norm_weight is not None:
        if not 0.0 <= args.norm_weight <= 1.0:
            print(f'loc-calibrate: --norm-weight must be in [0, 1], got {args.norm_weight}', file=sys.stderr)
            return 2
        config.inference.unknown_norm_weight = args.norm_weight
    if args.occupancy_threshold is not None:
        if not 0.0 < args.occupancy_threshold < 1.0:
            print(f'loc-calibrate: --occupancy-threshold must be in (0, 1), got {args.occupancy_threshold}', file=sys.stderr)
            return 2
        config.inference.occupancy_threshold = args.occupancy_threshold
    if args.prompt_projection is not None:
        config.inference.prompt_projection = args.prompt_projection == 'on'
    if args.templates:
        config.text.templates = tuple(args.templates)
    try:
        config.validate()
    except ConfigError as exc:
        print(f'loc-calibrate: {exc}', file=sys.stderr)
        return 2
    encoder = create_text_encoder(config.text)
    if args.real_cache:
        from loc_core.train.samples import SampleError, SampleFolder

        try:
            folder = SampleFolder(args.real_cache)
        except SampleError as exc:
            print(f'loc-calibrate: {exc}', file=sys.stderr)
            return 2
        samples = [folder[i] for i in range(len(folder))]
    else:
        samples = validation_samples(seeds, args.frames_per_seed, loaded.model.arch['image_size'])
    temperature, norm_weight = config.inference.unknown_temperature, config.inference.unknown_norm_weight
    report = {'seeds': None if args.real_cache else args.synthetic_seeds, 'real_cache': args.real_cache,
              'frames': len(samples), 'keep': args.keep, 'temperature': temperature,
              'norm_weight': norm_weight, 'occupancy_threshold': config.inference.occupancy_threshold,
              'prompt_projection': config.inference.prompt_projection, 'templates': list(config.text.templates),
              'thresholds': {}}
    for name, make in PROMPT_SETS.items():
        prompts, ids = make()
        ordered = [prompts[ids.index(i)] for i in range(len(OCC3D_PROMPTS))]
        report['thresholds'][name] = round(calibrate_unknown_threshold(
            loaded.model, encoder, config.text.templates, samples, args.keep, temperature, ordered, norm_weight), 4)
    config.inference.unknown_threshold = report['thresholds']['standard']
    if args.out:
        save_checkpoint(args.out, loaded.model, config, loaded.step, loaded.text_identity)
        report['written'] = str(args.out)
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
