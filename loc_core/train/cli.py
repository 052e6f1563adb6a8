"""`loc-train`: train a LOC model. Single process, or data-parallel through torchrun:

    python -m loc_core.train.cli --config cfg.yaml --synthetic-seeds 0-19 --frames-per-seed 15 \\
        --cache out/cache_train --out out/run
    torchrun --nproc_per_node 2 -m loc_core.train.cli --config cfg.yaml --cache out/cache_train --out out/run

Frames are first cached as training samples (`--cache`, reused when already filled); `--resume`
continues from `<out>/last.safetensors`; `--init` starts from another checkpoint's weights;
`--export` copies the final weights to a checkpoint file. On many machines, train on a packed
shard folder instead (`--shards`, see loc_core/train/shards.py): each process reads its own shards.

Real scans (LOC's self-supervised labels from `loc-gt`) go into `--real-cache` and train together
with the synthetic cache (`train.real_fraction` sets the mix):

    python -m loc_core.train.cli --config cfg.yaml --cache out/cache_synth --real-cache out/cache_real \
        --nuscenes-dataroot DATA --labels-dir out/gt --init loc_core/checkpoints/loc_demo_fusion.safetensors \
        --out out/run"""
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
    parser.add_argument('--cache', help='folder of cached training samples (*.npz)')
    parser.add_argument('--shards', help='train on a packed shard folder (`loc-train-shards pack`) instead of '
                        '--cache: each process reads its own shards only')
    parser.add_argument('--out', required=True, help='run folder: checkpoints and train_log.jsonl')
    parser.add_argument('--synthetic-seeds', help="fill the cache from the synthetic world, e.g. '0-19'")
    parser.add_argument('--frames-per-seed', type=int, default=10)
    parser.add_argument('--sim-config', help='SimConfig YAML for the synthetic frames (e.g. '
                        'loc_core/sim/presets/nuscenes_look.yaml; default: the simulator defaults)')
    parser.add_argument('--nuscenes-dataroot', help='fill the cache from a nuScenes dataroot...')
    parser.add_argument('--nuscenes-version', default='v1.0-mini')
    parser.add_argument('--labels-dir', help='...with dense labels from this folder (also for --lidarseg)')
    parser.add_argument('--lidarseg', help='fill the real cache from the lidarseg frame folder (LiDAR only)')
    parser.add_argument('--semantickitti', metavar='DIR',
                        help='fill the real cache from a SemanticKITTI root (with --labels-dir from `loc-gt --semantickitti`)')
    parser.add_argument('--sequences', default='00-06',
                        help='SemanticKITTI sequences for --semantickitti (default %(default)s; 07 is the validation one)')
    parser.add_argument('--real-cache', help='folder of cached real samples (filled from --nuscenes-dataroot / '
                        '--lidarseg; default: --cache)')
    parser.add_argument('--earlier-frames', type=int, default=0, metavar='K',
                        help='cache each frame with the points of up to K frames before it in its scene, moved by '
                             'the ego poses (sources with real poses; see train.history_cut; default 0)')
    parser.add_argument('--pixel-teacher', metavar='MODEL.onnx',
                        help='store the 2D teacher\'s per-pixel class probabilities of every camera image in each real '
                             'sample (a path, or one under $LOC_MODELS as `loc-gt --teacher` takes it; for '
                             'train.w_pixel_distill)')
    parser.add_argument('--init', help='start from the weights of this checkpoint (fine-tuning)')
    parser.add_argument('--steps', type=int, help='override train.steps')
    parser.add_argument('--resume', action='store_true')
    parser.add_argument('--threads', type=int, help='torch threads per process (default: cores / processes)')
    parser.add_argument('--export', help='copy the final checkpoint here')
    parser.add_argument('--prepare-only', action='store_true', help='fill the cache, do not train')
    parser.add_argument('--ray', nargs='?', const='', metavar='ADDRESS',
                        help="fill the synthetic cache with Ray tasks, one per seed, on the cluster at ADDRESS "
                        "('auto', host:port; none: a local Ray instance); --cache must be storage every node "
                        'sees (optional package ray; see loc_core/train/ray_cache.py)')
    parser.add_argument('--calibrate-unknown', type=float, metavar='KEEP',
                        help='after training, set inference.unknown_threshold so that KEEP (e.g. 0.95) of '
                             'known voxels of the validation towns (--calibrate-seeds) stay known')
    parser.add_argument('--calibrate-seeds', default='500-507',
                        help='synthetic validation towns for --calibrate-unknown, one frame each (default %(default)s; '
                             'never training or held-out towns)')
    args = parser.parse_args(argv)
    if args.ray is not None:
        from importlib.util import find_spec

        if find_spec('ray') is None:
            parser.error("--ray needs the optional package ray: pip install -r requirements/ray.txt (or '.[ray]')")
    if args.earlier_frames < 0:
        parser.error(f'--earlier-frames must be >= 0, got {args.earlier_frames}')
    if args.earlier_frames and args.ray is not None:
        parser.error('--earlier-frames is not available with --ray (its tasks cache frames one by one)')
    if bool(args.cache) == bool(args.shards):
        parser.error('give --cache (a folder of samples) or --shards (a packed shard folder), one of them')
    if args.shards and (args.real_cache or args.synthetic_seeds or args.nuscenes_dataroot or args.lidarseg
                        or args.semantickitti):
        parser.error('--shards trains on packed samples only: fill a cache with --cache, then pack it '
                     '(loc-train-shards pack)')
    return args


def fill_cache(args, config: LocConfig) -> None:
    """Synthetic frames go to --cache, real ones (nuScenes, lidarseg, SemanticKITTI) to --real-cache (or --cache);
    a folder that already holds samples is used as it is."""
    from loc_core.data.frame_sources import lidarseg_frames, nuscenes_frames, parse_seeds, sim_config, synthetic_frames
    from loc_core.models.factory import architecture
    from loc_core.train.samples import cache_frames

    real = [('nuscenes', args.nuscenes_dataroot), ('lidarseg', args.lidarseg), ('semantickitti', args.semantickitti)]
    if not (args.synthetic_seeds or any(folder for _, folder in real)):
        return
    image_size = tuple(architecture(config.model)['image_size'])
    teacher = pixel_teacher(args.pixel_teacher, args.threads) if args.pixel_teacher else None
    real_cache = args.real_cache or args.cache
    cache_empty = _empty(args.cache)
    real_empty = cache_empty if real_cache == args.cache else _empty(real_cache)
    if args.synthetic_seeds and cache_empty and args.ray is not None:  # one Ray task per seed, same files
        from loc_core.train.ray_cache import fill_synthetic_cache

        fill_synthetic_cache(parse_seeds(args.synthetic_seeds), args.frames_per_seed, sim_config(args.sim_config),
                             args.cache, image_size, args.ray)
    elif args.synthetic_seeds and cache_empty:
        cache_frames(synthetic_frames(parse_seeds(args.synthetic_seeds), args.frames_per_seed,
                                      config=sim_config(args.sim_config)), args.cache,
                     image_size, prefix='synthetic', earlier_frames=args.earlier_frames)
    if real_empty:
        for prefix, folder in real:
            if not folder:
                continue
            if prefix == 'nuscenes':
                frames = nuscenes_frames(folder, args.nuscenes_version, args.labels_dir)
            elif prefix == 'lidarseg':
                frames = lidarseg_frames(folder, args.labels_dir)
            else:
                from loc_core.data.semantickitti_source import sequences_frames

                frames = sequences_frames(folder, args.sequences, args.labels_dir)
            # nuScenes labels come from boxes alone here: 255 voxels are stuff (lidarseg labels name them)
            cache_frames(frames, real_cache, image_size, prefix=prefix, source='real',
                         geometry_mask='camera_or_lidar', unlabelled_is_stuff=prefix == 'nuscenes',
                         earlier_frames=args.earlier_frames, pixel_teacher=teacher)


def pixel_teacher(path, threads=None):
    """The `OnnxSegmenter` of `--pixel-teacher` (a path or a name under $LOC_MODELS)."""
    from loc_core.teacher.segmenter import OnnxSegmenter, resolve_model_path

    return OnnxSegmenter(resolve_model_path(path), threads=threads or 2)


def _empty(folder) -> bool:
    from pathlib import Path

    if any(Path(folder).glob('*.npz')):
        log.info('cache %s already holds samples: training on them, not adding the requested frames '
                 '(use an empty folder to build a new cache)', folder)
        return False
    return True


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

        dist.init_process_group('nccl' if config.inference.device.startswith('cuda') else 'gloo')  # GPUs: nccl
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
        from loc_core.teacher.classes import ClassTableError
        from loc_core.teacher.segmenter import TeacherModelError

        try:
            fill_cache(args, config)
        except (FileNotFoundError, TeacherModelError, ClassTableError) as exc:
            print(f'loc-train: {exc}', file=sys.stderr)
            return 2
    if args.prepare_only:
        return 0
    if world > 1:
        torch.distributed.barrier()
    try:
        if args.shards:  # this process's part of the shard folder (shards rank, rank + world, ...)
            from loc_core.train.shards import ShardedSamples

            dataset = ShardedSamples(args.shards, rank, world)
        else:
            folders = [args.cache] + ([args.real_cache] if args.real_cache and args.real_cache != args.cache else [])
            dataset = SampleFolder(*folders)
    except SampleError as exc:
        print(f'loc-train: {exc}', file=sys.stderr)
        dataset = None
    if world > 1:  # a process without its data (e.g. a node lacking its shards) stops all, none waits in DDP
        dist = torch.distributed  # a CPU flag: on nccl it goes through a gloo group
        group = None if dist.get_backend() == 'gloo' else dist.new_group(backend='gloo')
        failed = torch.tensor([float(dataset is None)])
        dist.all_reduce(failed, group=group)
        if failed.item() and dataset is not None:
            print(f'loc-train: rank {rank}: another process could not load its training data', file=sys.stderr)
            dataset = None
    if dataset is None:
        return 2
    trainer = Trainer(config, dataset, args.out, rank=rank, world=world)
    if args.init and not (args.resume and trainer.resume()):
        from loc_core.models.checkpoint import CheckpointError

        try:
            trainer.initialise_from(args.init)
        except CheckpointError as exc:
            print(f'loc-train: {exc}', file=sys.stderr)
            return 2
    elif args.resume:
        trainer.resume()
    log.info('training %s on %d samples, %d steps, %d process(es)', config.model.name, len(dataset),
             config.train.steps, world)
    trainer.run()
    if rank == 0:
        if args.calibrate_unknown:
            from loc_core.data.frame_sources import parse_seeds
            from loc_core.models.factory import architecture
            from loc_core.train.calibrate import calibrate_unknown_threshold, validation_samples

            samples = validation_samples(parse_seeds(args.calibrate_seeds), 1, architecture(config.model)['image_size'])
            threshold = calibrate_unknown_threshold(trainer.model, trainer.text_encoder, config.text.templates,
                                                    samples, args.calibrate_unknown,
                                                    config.inference.unknown_temperature,
                                                    norm_weight=config.inference.unknown_norm_weight)
            config.inference.unknown_threshold = round(threshold, 4)
            log.info('calibrated unknown threshold: %.4f', threshold)
        last = trainer.save_last()
        if args.export:
            shutil.copyfile(last, args.export)
            log.info('exported %s', args.export)
    return 0


if __name__ == '__main__':
    sys.exit(main())
