"""`loc-train`: train a LOC model. Single process, or data-parallel through torchrun:

    python -m loc_core.train.cli --config cfg.yaml --synthetic-seeds 0-19 --frames-per-seed 15 \\
        --cache out/cache_train --out out/run
    torchrun --nproc_per_node 2 -m loc_core.train.cli --config cfg.yaml --cache out/cache_train --out out/run

Frames are first cached as training samples (`--cache`, reused when already filled); `--resume`
continues from `<out>/last.safetensors`; `--export` copies the final weights to a checkpoint file."""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys

from loc_core.config import ConfigError, LocConfig

log = logging.getLogger('loc-train')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog='loc-train', description=__doc__.split('\n')[0])
    parser.add_argument('--config', help='LocConfig YAML/JSON (defaults otherwise)')
    parser.add_argument('--cache', required=True, help='folder of cached training samples (*.npz)')
    parser.add_argument('--out', required=True, help='run folder: checkpoints and train_log.jsonl')
    parser.add_argument('--synthetic-seeds', help="fill the cache from the synthetic world, e.g. '0-19'")
    parser.add_argument('--frames-per-seed', type=int, default=10)
    parser.add_argument('--nuscenes-dataroot', help='fill the cache from a nuScenes dataroot...')
    parser.add_argument('--nuscenes-version', default='v1.0-mini')
    parser.add_argument('--labels-dir', help='...with dense labels from this folder')
    parser.add_argument('--steps', type=int, help='override train.steps')
    parser.add_argument('--resume', action='store_true')
    parser.add_argument('--threads', type=int, help='torch threads per process (default: cores / processes)')
    parser.add_argument('--export', help='copy the final checkpoint here')
    parser.add_argument('--prepare-only', action='store_true', help='fill the cache, do not train')
    parser.add_argument('--calibrate-unknown', type=float, metavar='KEEP',
                        help='after training, set inference.unknown_threshold so that KEEP (e.g. 0.95) of '
                             'known voxels of the first 8 samples stay known')
    return parser.parse_args(argv)


def fill_cache(args, config: LocConfig) -> None:
    from pathlib import Path

    from loc_core.data.frame_sources import nuscenes_frames, parse_seeds, synthetic_frames
    from loc_core.models.factory import architecture
    from loc_core.train.samples import cache_frames

    if not (args.synthetic_seeds or args.nuscenes_dataroot):
        return
    if any(Path(args.cache).glob('*.npz')):
        log.info('cache %s already holds samples: training on them, not adding the requested frames '
                 '(use an empty folder to build a new cache)', args.cache)
        return
    image_size = tuple(architecture(config.model)['image_size'])
    if args.synthetic_seeds:
        cache_frames(synthetic_frames(parse_seeds(args.synthetic_seeds), args.frames_per_seed), args.cache,
                     image_size, prefix='synthetic')
    if args.nuscenes_dataroot:
        cache_frames(nuscenes_frames(args.nuscenes_dataroot, args.nuscenes_version, args.labels_dir), args.cache,
                     image_size, prefix='nuscenes')


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s %(levelname)s %(message)s')
    args = parse_args(argv)
    try:
        config = LocConfig.load(args.config) if args.config else LocConfig()
        if args.steps:
            config.train.steps = args.steps
        config.validate()
    except ConfigError as exc:
        print(f'loc-train: {exc}', file=sys.stderr)
        return 2
    rank, world = int(os.environ.get('RANK', 0)), int(os.environ.get('WORLD_SIZE', 1))
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group('gloo')
    try:
        return _train(args, config, rank, world)
    finally:
        if world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()


def _train(args, config: LocConfig, rank: int, world: int) -> int:
    import torch

    from loc_core.train.samples import SampleError, SampleFolder
    from loc_core.train.trainer import Trainer

    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // world))
    if rank == 0:
        fill_cache(args, config)
    if args.prepare_only:
        return 0
    if world > 1:
        torch.distributed.barrier()
    try:
        dataset = SampleFolder(args.cache)
    except SampleError as exc:
        print(f'loc-train: {exc}', file=sys.stderr)
        return 2
    trainer = Trainer(config, dataset, args.out, rank=rank, world=world)
    if args.resume:
        trainer.resume()
    log.info('training %s on %d samples, %d steps, %d process(es)', config.model.name, len(dataset),
             config.train.steps, world)
    trainer.run()
    if rank == 0:
        if args.calibrate_unknown:
            from loc_core.train.calibrate import calibrate_unknown_threshold

            samples = [dataset[i] for i in range(min(8, len(dataset)))]
            threshold = calibrate_unknown_threshold(trainer.model, trainer.text_encoder, config.text.templates,
                                                    samples, args.calibrate_unknown,
                                                    config.inference.unknown_temperature)
            config.inference.unknown_threshold = round(threshold, 4)
            log.info('calibrated unknown threshold: %.4f', threshold)
        last = trainer.save_last()
        if args.export:
            shutil.copyfile(last, args.export)
            log.info('exported %s', args.export)
    return 0


if __name__ == '__main__':
    sys.exit(main())
