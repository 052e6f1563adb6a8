"""Int8 check: static int8 quantisation (QDQ, per-channel weights, onnxruntime.quantization) of the
dense ONNX graph, calibrated on real nuScenes keyframes, against the fp32 graph on held-out ones.

Usage: .venv/bin/python bench/bench_int8.py --checkpoint real|demo [--calibration 6] [--held-out 4] [--threads 1]
Prints per held-out frame the share of voxels whose occupancy (logit >= 0) agrees with fp32 and the
IoU of the two occupied sets, then the dense graph's CPU time p50 for fp32 and int8. The int8 graph
is written to a temporary folder only: the project does not ship it (BENCHMARKS.md)."""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from loc_core.data.nuscenes_source import NuScenesSource
from loc_core.data.sample_data import NUSCENES_MINI_SCENE, sample_data_root
from loc_core.inference.onnx_backend import ensure_export
from loc_core.models.checkpoint import load_checkpoint, resolve_shipped
from loc_core.models.inputs import frame_to_input


def dense_feeds(model, frames) -> list:
    """The dense graph's input dicts of real frames."""
    feeds = []
    for frame in frames:
        sample = frame_to_input(frame, model.image_size)
        model.projections.observe(sample.rig)
        lidar, index, _ = model.column_sampling(sample)
        feeds.append({'images': sample.images.numpy(), 'lidar': lidar.numpy(), 'column_index': index.numpy()})
    return feeds


def main():
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--checkpoint', default='real')
    parser.add_argument('--calibration', type=int, default=6)
    parser.add_argument('--held-out', type=int, default=4)
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args()
    model = load_checkpoint(resolve_shipped(args.checkpoint)).model
    folder = ensure_export(model)
    scene = NuScenesSource(sample_data_root() / NUSCENES_MINI_SCENE, version='v1.0-mini')
    frames = [f for _, f in zip(range(args.calibration + args.held_out), scene)]
    feeds = dense_feeds(model, frames)

    class Reader(CalibrationDataReader):
        def __init__(self, items):
            self.items = iter(items)

        def get_next(self):
            return next(self.items, None)

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    with tempfile.TemporaryDirectory() as work:
        prepared, quantised = Path(work) / 'dense.pre.onnx', Path(work) / 'dense.int8.onnx'
        quant_pre_process(str(folder / 'dense.onnx'), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(quantised), Reader(feeds[:args.calibration]), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        sessions = {name: ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
                    for name, path in (('fp32', folder / 'dense.onnx'), ('int8', quantised))}
        held_out = feeds[args.calibration:]
        for k, feed in enumerate(held_out):
            fp32, int8 = (sessions[name].run(['occupancy_logits'], feed)[0] >= 0 for name in ('fp32', 'int8'))
            print(f'held-out frame {k}: occupancy agreement {100 * (fp32 == int8).mean():.2f} %, '
                  f'IoU of the occupied sets {100 * (fp32 & int8).sum() / max((fp32 | int8).sum(), 1):.1f} %')
        for name, session in sessions.items():
            times = []
            for _ in range(3):
                for feed in held_out:
                    start = time.process_time()
                    session.run(None, feed)
                    times.append((time.process_time() - start) * 1e3)
            print(f'dense graph {name}, {args.threads} thread(s): CPU time p50 {np.median(times):.1f} ms')


if __name__ == '__main__':
    main()
