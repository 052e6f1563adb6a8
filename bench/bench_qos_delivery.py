"""What reaches a best-effort and a reliable subscriber on one machine, with Fast DDS's defaults and
with the profile the launch file ships (config/fastdds_large_messages.xml, set on the publishing side).

    python bench/bench_qos_delivery.py                 # both parts, both configurations
    python bench/bench_qos_delivery.py --part sizes    # only the synthetic size sweep
    python bench/bench_qos_delivery.py --part node --seconds 30

Part `sizes`: a publisher process sends 20 std_msgs/UInt8MultiArray of each size at 5 Hz (reliable
writer); this process counts what a best-effort and a reliable subscription receive.
Part `node`: loc_node (checkpoint from config/loc.yaml) and `loc-bag play --loop --clock` of a 4-frame
synthetic bag run as separate processes, as `ros2 launch` starts them; this process subscribes to the
four outputs and the LiDAR input best-effort and reliable (raw CDR, for the sizes) for `--seconds`
once the first output arrived, and reads `lidar_in` (clouds the node itself received at its
`sensor_data` QoS) from /diagnostics. Real rclpy, real DDS, no stand-ins."""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / 'config' / 'fastdds_large_messages.xml'
os.environ.setdefault('ROS_DOMAIN_ID', '62')
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ.pop('FASTDDS_DEFAULT_PROFILES_FILE', None)  # this process (the subscriber) keeps the defaults
SIZES = (100_000, 400_000, 600_000, 700_000, 1_000_000, 3_000_000)
TOPICS = {'/loc_node/markers': 'visualization_msgs/msg/MarkerArray', '/loc_node/voxels': 'sensor_msgs/msg/PointCloud2',
          '/loc_node/grid': 'std_msgs/msg/UInt8MultiArray', '/loc_node/bev': 'nav_msgs/msg/OccupancyGrid',
          '/lidar_top/points': 'sensor_msgs/msg/PointCloud2'}
PUBLISHER = '''
import sys, time, rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import UInt8MultiArray
size, count = int(sys.argv[1]), int(sys.argv[2])
rclpy.init()
node = rclpy.create_node('qos_bench_publisher')
pub = node.create_publisher(UInt8MultiArray, '/qos_bench', QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE))
deadline = time.monotonic() + 20
while pub.get_subscription_count() < 2 and time.monotonic() < deadline:
    time.sleep(0.05)
time.sleep(0.5)
msg = UInt8MultiArray(data=bytes(size))
for _ in range(count):
    pub.publish(msg)
    time.sleep(0.2)
pub.wait_for_all_acked(rclpy.duration.Duration(seconds=5))
time.sleep(0.5)
rclpy.shutdown()
'''


def _env(profile: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if profile:
        env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(PROFILE)
    return env


def _qos(best_effort: bool):
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE)


def sizes_part(node, count: int = 20) -> list[tuple]:
    import rclpy
    from std_msgs.msg import UInt8MultiArray

    rows = []
    for size in SIZES:
        for profile in (False, True):
            got = {'best_effort': 0, 'reliable': 0}
            subs = [node.create_subscription(UInt8MultiArray, '/qos_bench',
                                             lambda _m, k=k: got.__setitem__(k, got[k] + 1), _qos(k == 'best_effort'))
                    for k in got]
            proc = subprocess.Popen([sys.executable, '-c', PUBLISHER, str(size), str(count)], env=_env(profile))
            while proc.poll() is None:
                rclpy.spin_once(node, timeout_sec=0.05)
            for _ in range(20):
                rclpy.spin_once(node, timeout_sec=0.02)
            for sub in subs:
                node.destroy_subscription(sub)
            rows.append((size, 'profile' if profile else 'default', got['best_effort'], got['reliable'], count))
            print(f'{size / 1e3:8.0f} kB  {rows[-1][1]:8s}  best-effort {got["best_effort"]:2d}/{count}  '
                  f'reliable {got["reliable"]:2d}/{count}', flush=True)
    return rows


def _synthetic_bag(folder: Path) -> Path:
    bag = folder / 'bag'
    subprocess.run([sys.executable, '-m', 'rosbags_tools.cli', 'synth2bag', '--seed', '0', '--frames', '4',
                    '--out', str(bag), '--no-progress'], env=_env(False), check=True, capture_output=True)
    return bag


def node_part(node, bag: Path, profile: bool, seconds: float) -> dict:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rosidl_runtime_py.utilities import get_message

    stats = defaultdict(lambda: {'count': 0, 'bytes': 0})
    diagnostics = {}
    subs = [node.create_subscription(DiagnosticArray, '/diagnostics', lambda m: diagnostics.update(
        {v.key: v.value for s in m.status for v in s.values}), 10)]
    for topic, msgtype in TOPICS.items():
        for best_effort in (True, False):
            def record(raw, key=(topic, 'best_effort' if best_effort else 'reliable')):
                stats[key]['count'] += 1
                stats[key]['bytes'] = max(stats[key]['bytes'], len(raw))
            subs.append(node.create_subscription(get_message(msgtype), topic, record, _qos(best_effort), raw=True))
    env = _env(profile)
    node_proc = subprocess.Popen(
        [sys.executable, '-m', 'loc_ros.node_main', '--ros-args', '--params-file', str(ROOT / 'config' / 'loc.yaml'),
         '-p', f'calibration_file:={bag / "calibration.yaml"}', '-p', 'use_sim_time:=true'],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    player = subprocess.Popen([sys.executable, '-m', 'rosbags_tools.cli', 'play', str(bag), '--loop', '--clock',
                               '--wait-for-subscribers', '30'], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not stats[('/loc_node/bev', 'reliable')]['count'] and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
        for value in stats.values():
            value['count'] = 0
        diagnostics.clear()
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        for proc in (player, node_proc):
            proc.send_signal(2)
        for proc in (player, node_proc):
            proc.wait(30)
        for sub in subs:
            node.destroy_subscription(sub)
    return {'stats': dict(stats), 'seconds': seconds, 'diagnostics': dict(diagnostics)}


def print_node(result: dict, label: str) -> None:
    seconds = result['seconds']
    print(f'-- node outputs, {label} ({seconds:.0f} s)')
    for topic in TOPICS:
        be, rel = result['stats'].get((topic, 'best_effort'), {}), result['stats'].get((topic, 'reliable'), {})
        size = max(be.get('bytes', 0), rel.get('bytes', 0))
        print(f'{topic:22s} {size / 1e3:8.0f} kB  best-effort {be.get("count", 0) / seconds:5.2f} Hz  '
              f'reliable {rel.get("count", 0) / seconds:5.2f} Hz', flush=True)
    d = result['diagnostics']
    print(f'node: lidar_in {d.get("lidar_in")} published {d.get("published")} '
          f'input_rate_hz {d.get("input_rate_hz")} output_rate_hz {d.get("output_rate_hz")}', flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--part', choices=('sizes', 'node', 'both'), default='both')
    parser.add_argument('--seconds', type=float, default=30.0, help='node part: measuring time per configuration')
    args = parser.parse_args(argv)
    import rclpy

    rclpy.init()
    node = rclpy.create_node('qos_bench_subscriber')
    try:
        if args.part in ('sizes', 'both'):
            sizes_part(node)
        if args.part in ('node', 'both'):
            folder = Path(tempfile.mkdtemp(prefix='qos_bench_'))
            try:
                bag = _synthetic_bag(folder)
                for profile in (False, True):
                    print_node(node_part(node, bag, profile, args.seconds),
                               'with the shipped profile' if profile else 'Fast DDS defaults')
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
