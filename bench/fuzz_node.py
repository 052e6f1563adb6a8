"""Fuzz a running loc_node from another process with structurally mutated sensor messages.

    python bench/fuzz_node.py --seed 0 --messages 2000                  # the real node (loc_node entry point)
    python bench/fuzz_node.py --seed 0 --messages 100 --predictor stand-in   # the node with a fast stand-in model

The node runs in a child process (`python -m loc_ros.node_main` with the packaged checkpoint, or
with `--predictor stand-in` a LocNode around the tests' HeightBandPredictor) on a small synthetic
rig: a LiDAR, a raw `Image` camera and a `CompressedImage` (JPEG) camera, each with CameraInfo.
Each round publishes one synchronised set (both CameraInfos, both images, then the cloud) in which
ONE message is mutated: one of its fields, picked at random (header stamps excepted, so that the
rounds stay in time order), is set to a boundary or random value (integers 0, 1, 2**31 - 1, 2**32 - 1,
..., floats NaN/inf/huge, strings empty/long/unknown), a byte sequence is truncated, extended,
emptied or bit-flipped, a PointField is dropped, duplicated or added. The four message types take
turns, so --messages 2000 mutates 500 of each.

After each round the fuzzer waits for the node's counters on /diagnostics (period 0.1 s) to show
the set's outcome: one frame published, or one frame-level drop/error counted. A round with no
outcome within 10 s is a silent loss; the node process exiting is a crash. `frame_outcomes` sums the
frame-level counts over the rounds: equal to the rounds when every set was counted exactly once. Every 100 rounds, and
10 times at the end, an unmutated set checks that valid frames are still served (its output
seen on ~/bev). The report lists rounds, outcomes by counter, silent losses, crashes, valid frames
served, and how many inputs reached the node's callbacks of those sent (from its lidar_in and
camera_in counters); exit status 1 unless there were no crashes, no silent losses and every final
valid frame was served. Deterministic given --seed (the mutations; timing is the machine's)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / 'test')]
os.environ.setdefault('ROS_DOMAIN_ID', '62')
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')

LIDAR, FRONT, LEFT = '/lidar_top/points', '/cam_front/image_rect', '/cam_left/image_rect/compressed'
INFOS = ('/cam_front/camera_info', '/cam_left/camera_info')
TARGETS = (LIDAR, FRONT, LEFT, INFOS[0])  # PointCloud2, Image, CompressedImage, CameraInfo in turn
MESSAGE_LEVEL = ('drop.bad_camera_info',)  # counted when a CameraInfo arrives, not per frame
WAITING_KEYS = ('sync_waiting_lidar', 'sync_waiting_images', 'slot_occupied', 'lidar_in', 'camera_in')
UINT_VALUES = (0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 255, 256, 65535, 2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1)
FLOAT_VALUES = (float('nan'), float('inf'), -float('inf'), 0.0, -1.0, 1e-300, 1e300, 1e38, -1e38)
STRING_VALUES = ('', 'x' * 5000, '\u00e9\u4e2d\U0001F600', 'rgb8', 'bgr8', 'mono8', 'bgra8', '16UC1', 'yuv422',
                 '8UC3', 'jpeg', 'png', 'tiff', 'rgb8; jpeg compressed bgr8', 'plumb_bob', 'equidistant')


# ---- mutations ---------------------------------------------------------------------------------
def _leaves(msg, prefix=''):
    """(path, type) of every mutable field of a message, header stamps excepted."""
    out = []
    for name, kind in msg.get_fields_and_field_types().items():
        path = f'{prefix}{name}'
        if kind == 'builtin_interfaces/Time':
            continue
        value = getattr(msg, name)
        if '/' in kind and not kind.startswith('sequence<'):
            out += _leaves(value, path + '.')
        else:
            out.append((path, kind))
    return out


def _resolve(msg, path: str):
    *parents, name = path.split('.')
    for part in parents:
        msg = getattr(msg, part)
    return msg, name


def _mutate_bytes(rng, data: bytes) -> tuple[bytes, str]:
    kind = rng.choice(['truncate', 'extend', 'empty', 'flip', 'random', 'zeros', 'one_byte'])
    if kind == 'truncate':
        return data[:int(rng.integers(0, max(len(data), 1)))], kind
    if kind == 'extend':
        return data + rng.bytes(int(rng.integers(1, 4096))), kind
    if kind == 'empty':
        return b'', kind
    if kind == 'flip':
        out = bytearray(data)
        for i in rng.integers(0, max(len(out), 1), size=int(rng.integers(1, 64))):
            if out:
                out[i] ^= 1 << int(rng.integers(0, 8))
        return bytes(out), kind
    if kind == 'random':
        return rng.bytes(len(data)), kind
    if kind == 'zeros':
        return bytes(len(data)), kind
    return b'\xff', kind


def _mutate_fields(rng, fields: list) -> tuple[list, str]:
    from sensor_msgs.msg import PointField

    fields = list(fields)
    kind = rng.choice(['drop', 'duplicate', 'add', 'empty', 'reorder', 'edit'])
    if kind == 'drop' and fields:
        fields.pop(int(rng.integers(0, len(fields))))
    elif kind == 'duplicate' and fields:
        fields.append(fields[int(rng.integers(0, len(fields)))])
    elif kind == 'add':
        fields.append(PointField(name=str(rng.choice(['x', 'z', 'intensity', 'ring', ''])),
                                 offset=int(rng.choice(UINT_VALUES)), datatype=int(rng.integers(0, 12)),
                                 count=int(rng.choice(UINT_VALUES))))
    elif kind == 'empty':
        fields = []
    elif kind == 'reorder':
        fields = fields[::-1]
    elif fields:
        field = fields[int(rng.integers(0, len(fields)))]
        attribute = str(rng.choice(['name', 'offset', 'datatype', 'count']))
        value = (str(rng.choice(['', 'x', 'y', 'z', 'Z', 'intensity'])) if attribute == 'name' else
                 int(rng.integers(0, 256)) if attribute == 'datatype' else int(rng.choice(UINT_VALUES)))
        setattr(field, attribute, value)
        kind = f'edit.{attribute}={value!r}'[:40]
    return fields, kind


def _new_value(rng, kind: str, value):
    """A mutated value of ROS type `kind` and a short description."""
    if kind == 'sequence<uint8>':
        return _mutate_bytes(rng, bytes(value))
    if kind == 'sequence<sensor_msgs/PointField>':
        return _mutate_fields(rng, value)
    if kind.startswith('uint'):
        bits = 8 if kind == 'uint8' else 32
        choices = [v for v in UINT_VALUES if v < 2**bits] + [int(value) + 1, max(int(value) - 1, 0)]
        new = min(int(rng.choice(choices)), 2**bits - 1)
        return new, str(new)
    if kind == 'boolean':
        return not value, 'flip'
    if kind == 'string':
        new = str(rng.choice(STRING_VALUES))
        return new, repr(new[:12])
    if kind.startswith('double['):
        array = np.array(value, dtype=np.float64)
        if rng.random() < 0.2:
            return np.zeros_like(array), 'zeros'
        i, new = int(rng.integers(0, len(array))), float(rng.choice(FLOAT_VALUES))
        array[i] = new
        return array, f'[{i}]={new}'
    if kind == 'sequence<double>':
        length = int(rng.choice([0, 1, 4, 5, 8, 14, 1000]))
        return [float(rng.choice(FLOAT_VALUES)) for _ in range(length)], f'len {length}'
    raise ValueError(f'no mutation for {kind}')


def mutate(rng, msg) -> str:
    """Mutate one random field of `msg` in place (sometimes two or three); returns what was done."""
    done = []
    for _ in range(int(rng.choice([1, 1, 1, 2, 3]))):
        leaves = _leaves(msg)
        path, kind = leaves[int(rng.integers(0, len(leaves)))]
        owner, name = _resolve(msg, path)
        value, text = _new_value(rng, kind, getattr(owner, name))
        setattr(owner, name, value)
        done.append(f'{path}:{text}')
    return f'{type(msg).__name__} ' + ' + '.join(done)


# ---- the node under test ---------------------------------------------------------------------
def rig(tmp: Path):
    """(calibration file, synthetic frame, calibration) for a raw and a JPEG camera."""
    from ros_test_utils import calibration_for_frame, synthetic_frame

    from loc_core.data.calibration import save_calibration

    frame = synthetic_frame()
    calibration = calibration_for_frame(frame, compressed=False)
    calibration.cameras[1].image_topic = LEFT
    return save_calibration(tmp / 'calibration.yaml', calibration), frame, calibration


def start_node(calibration_file: Path, predictor: str, log_file) -> subprocess.Popen:
    """The node in a child process; its output goes to `log_file` (a pipe nobody reads would fill
    up and block the node's logging)."""
    params = ['-p', f'calibration_file:={calibration_file}', '-p', 'input_qos:=reliable',
              '-p', 'diagnostics_period_s:=0.1']
    if predictor == 'real':
        cmd = [sys.executable, '-m', 'loc_ros.node_main', '--ros-args', *params]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), '--serve-stand-in', '--ros-args', *params]
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)


def serve_stand_in(argv: list[str]) -> int:
    """The node with the tests' HeightBandPredictor (child process of --predictor stand-in)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
    from ros_test_utils import HeightBandPredictor

    from loc_ros.node import LocNode

    rclpy.init(args=argv)
    node = LocNode(predictor=HeightBandPredictor())
    executor = MultiThreadedExecutor(num_threads=3)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


# ---- the fuzzer ------------------------------------------------------------------------------
class Probe:
    """The fuzzer's ROS side: input publishers, the node's counters from /diagnostics, ~/bev stamps."""

    def __init__(self, context):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from nav_msgs.msg import OccupancyGrid
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

        self.node = rclpy.create_node('loc_fuzzer', context=context)
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        types = {LIDAR: PointCloud2, FRONT: Image, LEFT: CompressedImage, INFOS[0]: CameraInfo, INFOS[1]: CameraInfo}
        self.publishers = {topic: self.node.create_publisher(kind, topic, qos) for topic, kind in types.items()}
        self.counts: dict = {}
        self.updates = 0
        self.bev_stamps: set = set()
        self.sets_sent = 0
        self._cond = threading.Condition()
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, qos)
        self.node.create_subscription(OccupancyGrid, '/loc_node/bev', self._on_bev, qos)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def _on_diagnostics(self, msg):
        counts = {kv.key: kv.value for status in msg.status if status.name.startswith('loc_node')
                  for kv in status.values}
        with self._cond:
            self.counts = {k: int(v) for k, v in counts.items() if v.isdigit()}
            self.updates += 1
            self._cond.notify_all()

    def _on_bev(self, msg):
        with self._cond:
            self.bev_stamps.add(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)
            self._cond.notify_all()

    def wait(self, predicate, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def fresh_counts(self, timeout: float = 5.0) -> dict:
        """Counters from a /diagnostics message that arrived after this call."""
        with self._cond:
            seen = self.updates
            self._cond.wait_for(lambda: self.updates > seen, timeout)
            return dict(self.counts)

    def publish(self, messages: dict) -> None:
        self.sets_sent += 1
        for topic in (*INFOS, FRONT, LEFT, LIDAR):
            self.publishers[topic].publish(messages[topic])
            time.sleep(0.002)

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()


def frame_outcomes(counts: dict) -> int:
    """Frames the node has finished with: published, or dropped/failed at frame level."""
    return counts.get('published', 0) + sum(v for k, v in counts.items()
                                             if k.startswith(('drop.', 'error.')) and k not in MESSAGE_LEVEL)


def _messages(frame, calibration, stamp_ns: int) -> dict:
    from ros_test_utils import frame_to_messages

    return frame_to_messages(frame, calibration, stamp_ns)


def _serve_valid(probe, frame, calibration, stamp_ns: int, timeout: float = 10.0) -> bool:
    """Publish an unmutated set; True once its output is seen and the node has counted it (so its
    count does not land in the next round)."""
    before = frame_outcomes(probe.fresh_counts())
    probe.publish(_messages(frame, calibration, stamp_ns))
    return probe.wait(lambda: stamp_ns in probe.bev_stamps and frame_outcomes(probe.counts) > before, timeout)


def _first_frame(probe, process, frame, calibration, stamp_ns: int, timeout: float = 300.0) -> bool:
    """Wait for the node (the model loads first) to subscribe to every input and serve a valid frame."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if all(p.get_subscription_count() for p in probe.publishers.values()) and \
                _serve_valid(probe, frame, calibration, stamp_ns, timeout=5.0):
            return True
        time.sleep(0.5)
    return False


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def fuzz(seed: int, messages: int, predictor: str = 'real', tmp: Path | None = None, log=_log) -> dict:
    """Run the fuzz; returns the report (see the module docstring)."""
    import tempfile

    import rclpy

    tmp = Path(tmp or tempfile.mkdtemp(prefix='loc_fuzz_'))
    calibration_file, frame, calibration = rig(tmp)
    log_path = tmp / 'node.log'
    log_file = open(log_path, 'wb')  # noqa: SIM115 - closed in the finally below
    process = start_node(calibration_file, predictor, log_file)
    context = rclpy.Context()  # its own: a caller (a test) may hold the default one
    rclpy.init(context=context)
    probe = Probe(context)
    rng = np.random.default_rng(seed)
    report = {'seed': seed, 'predictor': predictor, 'mutated_messages': 0, 'by_type': Counter(), 'outcomes': Counter(),
              'silent_losses': [], 'crashes': 0, 'valid_during': [0, 0], 'valid_after': [0, 0]}
    stamp = 100 * 10**9
    try:
        start = time.monotonic()
        if not _first_frame(probe, process, frame, calibration, stamp):
            raise RuntimeError(f'the node served no valid frame at start; its log: {_tail(log_path)}')
        log(f'node ready after {time.monotonic() - start:.1f} s')
        first, sets_before = probe.fresh_counts(), probe.sets_sent
        for i in range(messages):
            if process.poll() is not None:
                break
            stamp += 100_000_000
            if i and i % 100 == 0:
                report['valid_during'][1] += 1
                report['valid_during'][0] += _serve_valid(probe, frame, calibration, stamp)
                stamp += 100_000_000
                log(f'{i} rounds, outcomes {dict(report["outcomes"])}')
            before = probe.fresh_counts()
            messages_now = _messages(frame, calibration, stamp)
            target = TARGETS[i % len(TARGETS)]
            what = mutate(rng, messages_now[target])
            report['mutated_messages'] += 1
            report['by_type'][type(messages_now[target]).__name__] += 1
            probe.publish(messages_now)
            if not probe.wait(lambda: frame_outcomes(probe.counts) > frame_outcomes(before), 10.0):
                if process.poll() is None:
                    state = {k: probe.counts.get(k) for k in WAITING_KEYS}
                    report['silent_losses'].append(f'{what} (node: {state})')
                    log(f'silent loss: {what} (node: {state})')
                continue
            after = dict(probe.counts)
            grown = {k: after.get(k, 0) - before.get(k, 0) for k in after if k.startswith(('drop.', 'error.'))
                     or k == 'published'}
            report['outcomes'].update({k: v for k, v in grown.items() if v > 0})
        for _ in range(10):
            stamp += 100_000_000
            report['valid_after'][1] += 1
            report['valid_after'][0] += _serve_valid(probe, frame, calibration, stamp)
        last, sets = probe.fresh_counts(), probe.sets_sent - sets_before
        # what DDS delivered to the node's callbacks of what was sent (a shortfall is lost in transport)
        report['inputs'] = {'lidar sent': sets, 'lidar received': last.get('lidar_in', 0) - first.get('lidar_in', 0),
                            'images sent': 2 * sets,
                            'images received': last.get('camera_in', 0) - first.get('camera_in', 0)}
    finally:
        report['crashes'] = int(process.poll() is not None)
        report['exit_status'] = process.poll()
        if report['crashes']:
            report['log_tail'] = _tail(log_path)
        else:
            process.send_signal(2)  # SIGINT: the node's own clean shutdown
            try:
                report['exit_status'] = process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                report['exit_status'] = 'killed after SIGINT'
        probe.close()
        rclpy.try_shutdown(context=context)
        log_file.close()
        report['node_log'] = str(log_path)
    report['by_type'], report['outcomes'] = dict(report['by_type']), dict(sorted(report['outcomes'].items()))
    report['frame_outcomes'] = frame_outcomes(report['outcomes'])  # = rounds when each set got exactly one
    return report


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors='replace')[-chars:] if path.is_file() else ''


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == '--serve-stand-in':
        return serve_stand_in(argv)
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--messages', type=int, default=2000, help='mutated messages (one per round)')
    parser.add_argument('--predictor', choices=('real', 'stand-in'), default='real')
    args = parser.parse_args(argv)
    start = time.monotonic()
    report = fuzz(args.seed, args.messages, args.predictor)
    report['seconds'] = round(time.monotonic() - start, 1)
    print(json.dumps(report, indent=1))
    ok = not report['crashes'] and not report['silent_losses'] and \
        report['valid_after'][0] == report['valid_after'][1]
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
