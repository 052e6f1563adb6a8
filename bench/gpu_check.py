"""GPU check: `LocPredictor.predict` and training steps on one device, fp32 and bf16, and predict
under the onnxruntime backend (CUDA / TensorRT execution providers when installed: the
onnxruntime-gpu wheel in place of onnxruntime; the providers in use are printed).

Usage: bench/gpu_check.sh [--device cuda|cpu] [--seconds N] [--quick] [--threads N] [--json FILE]
Frames come from the synthetic world (seed 2000, as bench/bench_predict.py), the network from the
shipped demo checkpoint with its own inference settings (200x200x16 grid, six cameras). For each
precision: a warm-up, then batch-1 predict calls for `--seconds` (p50 latency, frames/s = calls /
wall time) and training steps of the default model and training config (batch 2, fresh weights)
for `--seconds` (steps/s). Memory: on CUDA `torch.cuda.max_memory_allocated` of each phase; on the
CPU there is no GPU memory, so the host peak resident set (VmHWM) of each phase is printed
instead. On an H200-class GPU the default run takes about 2 minutes; `--device cpu --quick` about
a minute on 2 cores. Prints a table; `--json FILE` also writes the figures."""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE.parent, HERE):  # loc_core and bench_predict, from any working directory
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

PRECISIONS = ('fp32', 'bf16')
SEED = 2000


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='cuda', help="torch device: 'cuda', 'cuda:N' or 'cpu' (default cuda)")
    parser.add_argument('--seconds', type=float, default=None,
                        help='measured seconds per phase (4 phases; default 15, --quick 2)')
    parser.add_argument('--quick', action='store_true', help='2 frames, 2 s per phase, fewest warm-up calls')
    parser.add_argument('--frames', type=int, default=None, help='synthetic frames (default 4, --quick 2)')
    parser.add_argument('--threads', type=int, default=None,
                        help="CPU threads of a CPU run (default: the checkpoint's inference.num_threads)")
    parser.add_argument('--json', type=Path, help='also write the figures to this JSON file')
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 2.0 if args.quick else 15.0
    if args.frames is None:
        args.frames = 2 if args.quick else 4
    if args.seconds <= 0 or args.frames < 1:
        parser.error('--seconds must be positive and --frames at least 1')
    return args


class Memory:
    """Peak memory of a phase: CUDA allocations on a GPU, else the host's peak resident set."""

    def __init__(self, device):
        import torch

        self.device = device
        self.cuda = device.type == 'cuda'
        self.name = 'gpu_memory_peak_mib' if self.cuda else 'host_rss_peak_mib'
        self.what = ('torch.cuda.max_memory_allocated' if self.cuda else
                     'host resident set peak (VmHWM), CPU run: no GPU memory')
        self._torch = torch

    def reset(self) -> None:
        if self.cuda:
            self._torch.cuda.synchronize(self.device)
            self._torch.cuda.reset_peak_memory_stats(self.device)
            return
        try:  # Linux >= 4.0: writing 5 resets the peak resident set of this process
            with open('/proc/self/clear_refs', 'w') as handle:
                handle.write('5')
        except OSError:
            pass  # then the peak is the process's peak so far

    def peak_mib(self) -> float:
        if self.cuda:
            self._torch.cuda.synchronize(self.device)
            return self._torch.cuda.max_memory_allocated(self.device) / 2**20
        try:
            with open('/proc/self/status') as handle:
                for line in handle:
                    if line.startswith('VmHWM:'):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        scale = 1 if platform.system() == 'Darwin' else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def synchronize(device) -> None:
    import torch

    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def timed_calls(call, seconds: float, min_calls: int, max_calls: int, device) -> tuple[list, float]:
    """Run `call` until `seconds` have passed (at least `min_calls`, at most `max_calls` times)
    -> (per-call seconds, total wall seconds)."""
    times = []
    synchronize(device)
    begin = time.perf_counter()
    while len(times) < max_calls and (len(times) < min_calls or time.perf_counter() - begin < seconds):
        start = time.perf_counter()
        call()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times, time.perf_counter() - begin


def measure_predict(predictor, frames, precision: str, args, memory) -> dict:
    import numpy as np

    predictor.config = replace(predictor.config, inference=replace(predictor.config.inference, precision=precision))
    warm_passes = 1 if args.quick else 3  # two frames of one rig build the projection tables
    for _ in range(warm_passes):
        for frame in frames:
            predictor.predict(frame)
    memory.reset()
    counter = iter(range(10**9))
    times, wall = timed_calls(lambda: predictor.predict(frames[next(counter) % len(frames)]), args.seconds,
                              min_calls=3, max_calls=100000, device=predictor.device)
    ms = np.array(times) * 1e3
    return {'predict_p50_ms': float(np.percentile(ms, 50)), 'predict_p95_ms': float(np.percentile(ms, 95)),
            'predict_frames_per_s': len(times) / wall, 'predict_calls': len(times),
            'predict_' + memory.name: memory.peak_mib()}


def measure_train(samples, text_encoder, device, precision: str, args, memory, out_dir) -> dict:
    import torch

    from loc_core.config import LocConfig
    from loc_core.train.trainer import Trainer

    config = LocConfig()  # the default model (fusion_small) and training settings, batch 2
    config.train.precision = precision
    trainer = Trainer(config, samples, out_dir, text_encoder=text_encoder, device=device)
    trainer.model.train()
    for _ in range(1 if args.quick else 3):  # warm-up: allocator, kernels, projection tables
        trainer.train_step()
    memory.reset()
    losses = []
    times, wall = timed_calls(lambda: losses.append(trainer.train_step()['loss']), args.seconds,
                              min_calls=2, max_calls=100000, device=trainer.device)
    finite = all(torch.isfinite(torch.tensor(losses)).tolist())
    return {'train_steps_per_s': len(times) / wall, 'train_steps': len(times), 'train_batch_size':
            config.train.batch_size, 'train_losses_finite': finite, 'train_' + memory.name: memory.peak_mib()}


def measure_onnxruntime(predictor, frames, args, memory) -> dict:
    """The same network under `inference.backend: onnxruntime` on the same device (CUDA / TensorRT
    execution providers when this onnxruntime build has them, else the CPU): predict p50, the
    providers the session really uses, and the label agreement with the torch fp32 predictor."""
    import copy

    import numpy as np

    from loc_core.inference.onnx_backend import OnnxBackend, ensure_export

    predictor.config = replace(predictor.config, inference=replace(predictor.config.inference, precision='fp32'))
    candidate = copy.copy(predictor)
    candidate.onnx = OnnxBackend(predictor.model, ensure_export(predictor.model), predictor.config.inference.num_threads,
                                 str(predictor.device))
    agreement = min(float((predictor.predict(f).labels == candidate.predict(f).labels).mean()) for f in frames)
    memory.reset()
    counter = iter(range(10**9))
    times, wall = timed_calls(lambda: candidate.predict(frames[next(counter) % len(frames)]), args.seconds,
                              min_calls=3, max_calls=100000, device=predictor.device)
    ms = np.array(times) * 1e3
    return {'predict_p50_ms': float(np.percentile(ms, 50)), 'predict_frames_per_s': len(times) / wall,
            'providers': candidate.onnx.providers, 'label_agreement_with_torch': agreement,
            'predict_' + memory.name: memory.peak_mib()}


ROWS = (('predict_p50_ms', '{:.1f}'), ('predict_p95_ms', '{:.1f}'), ('predict_frames_per_s', '{:.2f}'),
        ('predict_{memory}', '{:.0f}'), ('train_steps_per_s', '{:.3f}'), ('train_{memory}', '{:.0f}'))


def table(results: dict, memory_name: str) -> str:
    lines = [f'{"metric":<28}' + ''.join(f'{p:>12}' for p in results)]
    for template, fmt in ROWS:
        name = template.format(memory=memory_name)
        lines.append(f'{name:<28}' + ''.join(f'{fmt.format(r[name]):>12}' for r in results.values()))
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    started = time.perf_counter()
    import torch

    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        print(f'gpu_check: no CUDA device here (torch {torch.__version__}); '
              f'run with --device cpu for the CPU path', file=sys.stderr)
        return 2
    from bench_predict import checkpoint_config, load_frames

    from loc_core.config import ModelConfig
    from loc_core.inference.predictor import LocPredictor
    from loc_core.models.factory import architecture
    from loc_core.train.samples import TrainingSample

    config = checkpoint_config(None)
    config.inference.device = str(device)
    if args.threads:
        config.inference.num_threads = args.threads
    predictor = LocPredictor(config)
    device = predictor.device
    if device.type == 'cuda' and device.index is None:
        device = torch.device('cuda', torch.cuda.current_device())
    frames = load_frames('synthetic', args.frames)
    train_image_size = tuple(architecture(ModelConfig())['image_size'])  # the default model trains
    samples = [TrainingSample.from_frame(f, train_image_size) for f in frames]
    memory = Memory(device)
    setup_s = time.perf_counter() - started
    results = {}
    with tempfile.TemporaryDirectory(prefix='gpu_check_') as out_dir:
        for precision in PRECISIONS:
            results[precision] = measure_predict(predictor, frames, precision, args, memory)
            results[precision].update(measure_train(samples, predictor.text_encoder, device, precision, args,
                                                    memory, Path(out_dir) / precision))
        onnx = measure_onnxruntime(predictor, frames, args, memory)
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else \
        f'{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs'
    info = {'device': str(device), 'device_name': name, 'torch': torch.__version__,
            'cuda': torch.version.cuda, 'threads': torch.get_num_threads(),
            'bf16_supported': bool(torch.cuda.is_bf16_supported()) if device.type == 'cuda' else True,
            'checkpoint': str(predictor.checkpoint_path), 'frames': len(frames), 'seconds_per_phase': args.seconds,
            'memory': memory.what, 'setup_s': setup_s, 'total_s': time.perf_counter() - started,
            'load_average': os.getloadavg()[0]}
    print(f'gpu_check: device {info["device"]} ({name}), torch {info["torch"]}, cuda {info["cuda"]}, '
          f'{info["threads"]} CPU threads, {len(frames)} synthetic frames, batch 1 predict, '
          f'train batch {results["fp32"]["train_batch_size"]}, {args.seconds:g} s per phase')
    print(table(results, memory.name))
    print(f'onnxruntime (fp32, providers {onnx["providers"]}): predict p50 {onnx["predict_p50_ms"]:.1f} ms, '
          f'{onnx["predict_frames_per_s"]:.2f} frames/s, label agreement with torch fp32 '
          f'{100 * onnx["label_agreement_with_torch"]:.3f} %')
    print(f'memory: {memory.what}')
    print(f'train losses finite: {all(r["train_losses_finite"] for r in results.values())}; '
          f'setup {setup_s:.0f} s, total {info["total_s"]:.0f} s, load average {info["load_average"]:.1f}')
    if args.json:
        args.json.write_text(json.dumps({'info': info, 'results': results, 'onnxruntime': onnx}, indent=2) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
