"""loc_node end to end under a 10 Hz stream of LiDAR + six cameras (real rclpy/DDS, in one process).

Latency = LiDAR message received by the node (DDS reception time) -> dense grid published (the
node publishes the grid first, then bev, voxels and markers; the 'publish' stage median covers all
four), p50/p95 over the last 200 frames. The soak mode runs longer
and samples the process RSS and the node's queues (sync queues, one-slot buffer).

    python bench/bench_node.py --source nuscenes --seconds 60                 # latency
    python bench/bench_node.py --source nuscenes --seconds 300 --soak         # 5-minute soak
    options: --predictor loc|ground-truth  --checkpoint PATH|none  --rate 10  --input-qos sensor_data|reliable
             --backend torch|onnxruntime  --hidden-voxels classify|from_above  --precision fp32|bf16|auto

Input messages are serialised once and republished as raw CDR with fresh stamps, so the publisher
costs the node almost nothing. `--predictor ground-truth` answers with a fixed result and measures
the node's own overhead (sync, JPEG decoding, outputs) without the network.
"""
from __future__ import annotations

import argparse
import os
import struct
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / 'test')]
os.environ.setdefault('ROS_DOMAIN_ID', '61')
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')


def load_frames(source: str, count: int):
    if source == 'nuscenes':
        from loc_core.data.nuscenes_source import NuScenesSource
        from loc_core.data.sample_data import NUSCENES_MINI_SCENE, sample_data_root

        root = sample_data_root()
        if root is None:
            raise SystemExit('nuScenes sample data not found (set LOC_SAMPLE_DATA)')
        return [f for _, f in zip(range(count), NuScenesSource(root / NUSCENES_MINI_SCENE, version='v1.0-mini'))]
    from loc_core.sim import SyntheticSource

    return list(SyntheticSource(seed=0, num_frames=count))


class FixedPredictor:
    """Answers every frame with one precomputed result (20k occupied voxels). Its `model.image_size`
    is fusion_small's input size, so the node decodes JPEGs as it would for the real model."""

    def __init__(self):
        from types import SimpleNamespace

        self.prompts = ()
        self._result = None
        self.model = SimpleNamespace(image_size=(352, 128))

    def set_prompts(self, prompts, class_ids=None):
        from loc_ros.parameters import prompt_class_ids
        from ros_test_utils import random_result

        self.prompts = tuple(prompts)
        self._result = random_result(20_000, self.prompts, prompt_class_ids(self.prompts), seed=0)

    def predict(self, frame):
        from dataclasses import replace

        return replace(self._result, timestamp_ns=frame.timestamp_ns)


def serialised_inputs(frames, calibration):
    """Per frame: list of (topic, raw CDR bytes), LiDAR last."""
    from rclpy.serialization import serialize_message
    from ros_test_utils import frame_to_messages

    out = []
    for frame in frames:
        messages = frame_to_messages(frame, calibration, 0)
        ordered = sorted(messages.items(), key=lambda item: item[0] == calibration.lidar_topic)
        out.append([(topic, serialize_message(msg)) for topic, msg in ordered])
    return out


def with_stamp(raw: bytes, stamp_ns: int) -> bytes:
    """Every input message starts with std_msgs/Header: stamp = int32 sec, uint32 nanosec."""
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    return raw[:4] + struct.pack('<iI', sec, nanosec) + raw[12:]


def rss_mb() -> float:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--source', choices=('nuscenes', 'synthetic'), default='nuscenes')
    parser.add_argument('--frames', type=int, default=10, help='distinct frames, replayed in a loop')
    parser.add_argument('--seconds', type=float, default=60.0)
    parser.add_argument('--rate', type=float, default=10.0)
    parser.add_argument('--predictor', choices=('loc', 'ground-truth'), default='loc')
    parser.add_argument('--checkpoint', default='', help="LocPredictor checkpoint ('' = demo, 'none' = untrained)")
    parser.add_argument('--soak', action='store_true', help='sample RSS and queues every 10 s')
    parser.add_argument('--input-qos', choices=('sensor_data', 'reliable'), default='sensor_data')
    parser.add_argument('--backend', choices=('torch', 'onnxruntime'), default='torch')
    parser.add_argument('--hidden-voxels', choices=('classify', 'from_above'), default='from_above',
                        help="the node's hidden_voxels parameter (default: the node's default)")
    parser.add_argument('--precision', choices=('fp32', 'bf16', 'auto'), default=None,
                        help="the node's precision parameter (default: the node's default)")
    parser.add_argument('--threads', type=int, default=0, help="the node's num_threads parameter (0: the checkpoint's)")
    args = parser.parse_args(argv)

    import rclpy
    from rclpy.callback_groups import ReentrantCallbackGroup
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from ros_harness import OUTPUT_TYPES
    from ros_test_utils import calibration_for_frame

    from loc_core.data.calibration import save_calibration
    from loc_ros.node import LocNode

    frames = load_frames(args.source, args.frames)
    calibration = calibration_for_frame(frames[0])
    work = Path(os.environ.get('TMPDIR', '/tmp')) / f'bench_node_{os.getpid()}'
    work.mkdir(parents=True, exist_ok=True)
    path = save_calibration(work / 'calibration.yaml', calibration)
    inputs = serialised_inputs(frames, calibration)

    rclpy.init()
    overrides = [Parameter('calibration_file', value=str(path)), Parameter('checkpoint', value=args.checkpoint),
                 Parameter('input_qos', value=args.input_qos), Parameter('backend', value=args.backend),
                 Parameter('hidden_voxels', value=args.hidden_voxels), Parameter('num_threads', value=args.threads)]
    if args.precision:
        overrides.append(Parameter('precision', value=args.precision))
    predictor = FixedPredictor() if args.predictor == 'ground-truth' else None
    node = LocNode(predictor=predictor, parameter_overrides=overrides)
    io = rclpy.create_node('bench_io')
    for name, msg_type in OUTPUT_TYPES.items():
        # raw: a subscriber like RViz (C++, another process) costs this process nothing; rclpy turning
        # 50k marker points into Python objects would starve the node of the GIL
        io.create_subscription(msg_type, f'/loc_node/{name}', lambda _m: None, 2, raw=True,
                               callback_group=ReentrantCallbackGroup())
    from sensor_msgs.msg import CameraInfo, CompressedImage, PointCloud2

    types = {calibration.lidar_topic: PointCloud2}
    for cam in calibration.cameras:
        types[cam.image_topic], types[cam.info_topic] = CompressedImage, CameraInfo
    pubs = {topic: io.create_publisher(t, topic, 10) for topic, t in types.items()}
    executor = MultiThreadedExecutor(num_threads=3)
    executor.add_node(node)
    executor.add_node(io)
    threading.Thread(target=executor.spin, daemon=True).start()
    while not all(p.get_subscription_count() for p in pubs.values()) or not node.outputs.grid.get_subscription_count():
        time.sleep(0.05)

    print(f'{args.source}: {len(frames)} frames x {len(calibration.cameras)} cameras '
          f'{frames[0].cameras[0].image.shape[1]}x{frames[0].cameras[0].image.shape[0]}, {args.rate} Hz, '
          f'{args.seconds:.0f} s, predictor {args.predictor}')
    samples, period = [], 1.0 / args.rate
    start = time.monotonic()
    next_sample, k = start, 0
    while time.monotonic() - start < args.seconds:
        stamp = time.time_ns()
        for topic, raw in inputs[k % len(inputs)]:
            pubs[topic].publish(with_stamp(raw, stamp))
        k += 1
        now = time.monotonic()
        if args.soak and now >= next_sample:
            with node._sync_lock:
                pending = node.sync.pending()
            samples.append((now - start, rss_mb(), node.slot.occupied + node.frame_slot.occupied + node.view_slot.occupied,
                            max(pending.values())))
            print(f'  t={now - start:5.0f} s  RSS {samples[-1][1]:7.1f} MB  slot {samples[-1][2]}  '
                  f'sync max queue {samples[-1][3]}  published {node.stats.counts["published"]}', flush=True)
            next_sample += 10.0
        time.sleep(max(0.0, start + k * period - time.monotonic()))
    time.sleep(1.0)

    p50, p95 = node.stats.latency_percentiles()
    precision = node.settings['precision']
    counts = node.stats.snapshot()
    drops = {key: value for key, value in counts.items() if key.startswith('drop.')}
    print(f'| loc_node latency, LiDAR received -> grid published ({args.source}, 6 cameras, {args.rate:.0f} Hz, '
          f'predictor {args.predictor}, backend {args.backend}, hidden voxels {args.hidden_voxels}, precision {precision}, threads {args.threads or "default"}) | p50 {p50:.1f} ms, p95 {p95:.1f} ms; '
          f'{counts.get("published", 0)}/{k} frames published, drops {drops}; '
          f'load average {os.getloadavg()[0]:.1f} |')
    print('  stage medians (ms): ' + ', '.join(f'{k} {v:.1f}' for k, v in node.stats.stage_medians().items()))
    if args.soak and len(samples) > 3:
        settled = [s for s in samples if s[0] >= 30.0] or samples
        start_mb = float(np.median([s[1] for s in settled[:3]]))
        end_mb = float(np.median([s[1] for s in settled[-3:]]))
        print(f'| loc_node soak {args.seconds:.0f} s at {args.rate:.0f} Hz | RSS median of first three samples after '
              f'30 s {start_mb:.0f} MB -> last three {end_mb:.0f} MB (growth {end_mb - start_mb:.1f} MB), max '
              f'{max(s[1] for s in settled):.0f} MB; max slot {max(s[2] for s in samples)}, '
              f'max sync queue {max(s[3] for s in samples)} |')
    executor.shutdown()
    node.destroy_node()
    io.destroy_node()
    rclpy.try_shutdown()


if __name__ == '__main__':
    main()
