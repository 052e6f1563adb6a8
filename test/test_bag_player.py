"""`loc-bag play` into a live ROS 2 graph (real rclpy/DDS in this process): a subscriber receives
every message of the bag, /tf and /tf_static included, byte for byte and in order; topics whose
type is not importable are reported and counted;
rate, loop and topic filters work; damaged bags are clear errors."""
import os
import shutil
import threading
import time
from collections import defaultdict

import numpy as np
import pytest

from bag_test_frames import toy_calibration, toy_frames
from rosbags_tools.bag_access import BagError
from rosbags_tools.cli import main
from rosbags_tools.player import BagPlayer, message_class, qos_for
from rosbags_tools.writer import write_frames_to_bag
from ros_test_utils import ros_domain

pytestmark = pytest.mark.ros


@pytest.fixture(scope='module')
def rclpy_context():
    """A context of this module's own (domain 43, localhost only), whatever other tests hold."""
    saved = {k: os.environ.get(k) for k in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE')}
    os.environ.update(ROS_DOMAIN_ID=str(ros_domain(43)), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope='module')
def toy_bag(tmp_path_factory):
    out = tmp_path_factory.mktemp('play') / 'toy'
    write_frames_to_bag(toy_frames(5), toy_calibration(), out, progress=False)
    return out


def _bag_messages(bag) -> dict:
    from rosbags.rosbag2 import Reader

    expected = defaultdict(list)
    with Reader(bag) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        for connection, _, raw in reader.messages():
            expected[connection.topic].append(bytes(raw))
    return expected, types


class Recorder:
    """A real subscriber node (raw bytes) on every typed topic, spun in a background thread."""

    def __init__(self, context, types: dict, on_message=None):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        self.received = defaultdict(list)
        self.node = rclpy.create_node('bag_play_recorder', context=context)
        qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        for topic, msgtype in types.items():
            self.node.create_subscription(message_class(msgtype), topic, self._callback(topic, on_message),
                                          qos, raw=True)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _callback(self, topic, on_message):
        def record(raw):
            self.received[topic].append(bytes(raw))
            if on_message:
                on_message(topic, self.received)
        return record

    def wait_for(self, counts: dict, timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(len(self.received[t]) >= n for t, n in counts.items()):
                return True
            time.sleep(0.02)
        return False

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        self.thread.join(timeout=5)


@pytest.fixture
def player_node(rclpy_context):
    import rclpy

    node = rclpy.create_node('bag_player_under_test', context=rclpy_context)
    yield node
    node.destroy_node()


def test_subscriber_receives_every_message_in_order(rclpy_context, player_node, toy_bag):
    expected, types = _bag_messages(toy_bag)
    recorder = Recorder(rclpy_context, types)
    try:
        report = BagPlayer(toy_bag, rate=10.0, node=player_node, wait_for_subscribers_s=10.0).play()
        counts = {t: len(v) for t, v in expected.items()}
        assert recorder.wait_for(counts), {t: len(recorder.received[t]) for t in counts}
    finally:
        recorder.close()
    assert set(counts) == {'/lidar_top/points', '/cam_front/image_rect/compressed', '/cam_front/camera_info',
                           '/odom', '/annotations/markers', '/tf', '/tf_static'}
    for topic in counts:
        assert recorder.received[topic] == expected[topic], topic
    assert dict(report.published) == counts and not report.unplayable and not report.skipped
    assert counts['/tf'] == 10 and counts['/tf_static'] == 1  # LiDAR and camera stamps; the sensor mounts


def test_topics_of_types_not_importable_are_reported_and_skipped(rclpy_context, player_node, tmp_path):
    """shape_msgs is in the bag's type store but has no Python package in this environment."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    from rosbags_tools.conventions import typestore
    from rosbags_tools.messages import odometry

    store = typestore()
    bag = tmp_path / 'plane'
    with Writer(bag, version=Writer.VERSION_LATEST, storage_plugin=StoragePlugin.MCAP) as writer:
        plane = writer.add_connection('/plane', 'shape_msgs/msg/Plane', typestore=store)
        odom = writer.add_connection('/odom', 'nav_msgs/msg/Odometry', typestore=store)
        for k in range(3):
            writer.write(plane, k * 10**8, store.serialize_cdr(
                store.types['shape_msgs/msg/Plane'](coef=np.array([0.0, 0.0, 1.0, float(k)])), 'shape_msgs/msg/Plane'))
        writer.write(odom, 10**8, store.serialize_cdr(
            odometry(np.eye(4), 10**8, np.zeros(3), np.zeros(3), 'world', 'base_link'), 'nav_msgs/msg/Odometry'))
    report = BagPlayer(bag, rate=50.0, node=player_node).play()
    assert report.published == {'/odom': 1} and report.skipped == {'/plane': 3}
    assert 'shape_msgs' in report.unplayable['/plane'] and 'skipped /plane: 3 messages' in report.summary()


@pytest.mark.sample_data
def test_the_nuscenes_scene_bag_plays_completely(rclpy_context, player_node, tmp_path, nuscenes_dataroot,
                                                 nuscenes_source):
    from rosbags_tools.nuscenes2bag import nuscenes_to_bag

    bag = tmp_path / 'scene'
    nuscenes_to_bag(nuscenes_dataroot, 'v1.0-mini', None, bag, progress=False, nusc=nuscenes_source.nusc)
    expected, types = _bag_messages(bag)
    recorder = Recorder(rclpy_context, types)
    try:
        report = BagPlayer(bag, rate=20.0, node=player_node, wait_for_subscribers_s=10.0).play()
        counts = {t: len(v) for t, v in expected.items()}
        assert recorder.wait_for(counts, timeout_s=20.0), {t: len(recorder.received[t]) for t in counts}
    finally:
        recorder.close()
    assert len(counts) == 17 and sum(counts.values()) == 615 + counts['/tf'] + 1 and dict(report.published) == counts
    for topic in counts:
        assert recorder.received[topic] == expected[topic], topic


def test_rate_factor_paces_playback(rclpy_context, player_node, toy_bag):
    report = BagPlayer(toy_bag, rate=2.0, node=player_node, topics=['/lidar_top/points']).play()
    assert report.published == {'/lidar_top/points': 5}
    assert 0.4 / 2 * 0.95 <= report.seconds < 2.0  # 5 scans 100 ms apart, at twice real time


def test_loop_and_topic_filter(rclpy_context, player_node, toy_bag):
    player = BagPlayer(toy_bag, rate=20.0, loop=True, node=player_node, topics=['/odom'],
                       wait_for_subscribers_s=10.0)

    def stop_after_two_passes(topic, received):
        if len(received['/odom']) >= 10:
            player.stop()

    recorder = Recorder(rclpy_context, {'/odom': 'nav_msgs/msg/Odometry',
                                        '/lidar_top/points': 'sensor_msgs/msg/PointCloud2'}, stop_after_two_passes)
    try:
        report = player.play()
        assert recorder.wait_for({'/odom': 10})
    finally:
        recorder.close()
    expected, _ = _bag_messages(toy_bag)
    assert report.loops >= 2 and set(report.published) == {'/odom'}
    assert recorder.received['/odom'][:10] == expected['/odom'] * 2
    assert recorder.received['/lidar_top/points'] == []


def test_clock_carries_the_bag_time(rclpy_context, player_node, toy_bag):
    """/clock ticks at the requested rate with the playback time, reaches each message's log time
    before the message, and starts over with each pass of a loop (a jump back, as ros2 bag does)."""
    from rclpy.serialization import deserialize_message
    from rosgraph_msgs.msg import Clock

    player = BagPlayer(toy_bag, rate=1.0, node=player_node, topics=['/odom'], clock=50, loop=True,
                       wait_for_subscribers_s=10.0)

    def stop_after_two_passes(topic, received):
        if len(received['/odom']) >= 10:
            player.stop()

    recorder = Recorder(rclpy_context, {'/clock': 'rosgraph_msgs/msg/Clock', '/odom': 'nav_msgs/msg/Odometry'},
                        stop_after_two_passes)
    try:
        report = player.play()
        assert recorder.wait_for({'/odom': 10})
    finally:
        recorder.close()
    assert report.loops >= 2
    clocks = [(lambda c: c.sec * 10**9 + c.nanosec)(deserialize_message(raw, Clock).clock)
              for raw in recorder.received['/clock']]
    stamps = [frame.timestamp_ns for frame in toy_frames(5)]
    first_pass = clocks[:clocks.index(stamps[0], 1)]  # the second pass starts the clock over
    assert first_pass == sorted(first_pass) and set(stamps) <= set(first_pass)
    assert first_pass[0] == stamps[0] and first_pass[-1] == stamps[-1]
    ticks = [t for t in first_pass if t not in stamps]
    assert 8 <= len(ticks) <= 25  # 0.4 s of bag at 1x and 50 Hz: about 20 ticks between the messages
    with pytest.raises(ValueError, match='clock rate must be positive'):
        BagPlayer(toy_bag, clock=-1.0)
    assert BagPlayer(toy_bag, clock=True).clock_hz == 40.0 and BagPlayer(toy_bag, clock=0).clock_hz == 0.0


def test_latched_topics_are_offered_transient_local(toy_bag):
    from rclpy.qos import DurabilityPolicy
    from rosbags.rosbag2 import Reader

    with Reader(toy_bag) as reader:
        qos = {c.topic: qos_for(c, 100) for c in reader.connections}
    assert qos['/tf_static'].durability == DurabilityPolicy.TRANSIENT_LOCAL and qos['/tf_static'].depth == 100
    assert qos['/lidar_top/points'].durability == DurabilityPolicy.VOLATILE and qos['/lidar_top/points'].depth == 100


def test_bad_bags_and_filters_are_clear_errors(rclpy_context, player_node, toy_bag, tmp_path, capsys):
    damaged = tmp_path / 'damaged'
    shutil.copytree(toy_bag, damaged)
    (storage,) = damaged.glob('*.mcap')
    storage.write_bytes(storage.read_bytes()[: storage.stat().st_size // 2])
    with pytest.raises(BagError, match='truncated or not a ROS 2 bag'):
        BagPlayer(damaged, node=player_node).play()
    published = {name for name, _ in player_node.get_publisher_names_and_types_by_node('bag_player_under_test', '/')}
    assert published <= {'/parameter_events', '/rosout'}  # nothing of the bag was advertised
    with pytest.raises(BagError, match=r"no topic\(s\) \['/nope'\]"):
        BagPlayer(toy_bag, node=player_node, topics=['/nope']).play()
    with pytest.raises(ValueError, match='rate must be positive'):
        BagPlayer(toy_bag, rate=0)
    assert main(['play', str(damaged)]) == 2
    assert main(['play', str(tmp_path / 'missing')]) == 2
    assert 'bag not found' in capsys.readouterr().err
    assert main(['play', str(toy_bag), '--rate', '50', '--topics', '/odom']) == 0
    assert '/odom: 5' in capsys.readouterr().out


def test_start_and_stop_offsets_play_a_window_of_the_bag(rclpy_context, player_node, toy_bag, capsys):
    from rosbags.rosbag2 import Reader

    with Reader(toy_bag) as reader:
        first = reader.start_time
        odom = [(t - first) / 1e9 for c, t, _ in reader.messages() if c.topic == '/odom']
    expected, _ = _bag_messages(toy_bag)
    start, stop = (odom[0] + odom[1]) / 2, (odom[3] + odom[4]) / 2  # the 2nd to 4th of 5
    recorder = Recorder(rclpy_context, {'/odom': 'nav_msgs/msg/Odometry'})
    try:
        report = BagPlayer(toy_bag, rate=20.0, node=player_node, topics=['/odom'], wait_for_subscribers_s=10.0,
                           start_offset_s=start, stop_offset_s=stop).play()
        assert recorder.wait_for({'/odom': 3})
        time.sleep(0.2)
    finally:
        recorder.close()
    assert report.published == {'/odom': 3}
    assert recorder.received['/odom'] == expected['/odom'][1:4]
    with pytest.raises(ValueError, match='start offset < stop offset'):
        BagPlayer(toy_bag, start_offset_s=0.3, stop_offset_s=0.2)
    assert main(['play', str(toy_bag), '--rate', '50', '--topics', '/odom', '--stop-offset', str(stop)]) == 0
    assert '/odom: 4' in capsys.readouterr().out
    assert main(['play', str(toy_bag), '--start-offset', '-1']) == 2


def test_sigint_mid_playback_exits_0_quietly(rclpy_context, toy_bag):
    """`loc-bag play --loop --clock` stopped by Ctrl-C while publishing: status 0, its summary marked
    interrupted, no traceback (before: RCLError 'publisher's context is invalid', status 1 or 130)."""
    import signal
    import subprocess
    import sys

    recorder = Recorder(rclpy_context, {'/odom': 'nav_msgs/msg/Odometry', '/clock': 'rosgraph_msgs/msg/Clock'})
    env = dict(os.environ, ROS_DOMAIN_ID=str(ros_domain(43)), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    proc = subprocess.Popen([sys.executable, '-m', 'rosbags_tools.cli', 'play', str(toy_bag), '--loop', '--clock',
                             '--topics', '/odom', '--wait-for-subscribers', '30'], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert recorder.wait_for({'/odom': 7}, timeout_s=60)  # past the first pass: looping
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        recorder.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert 'Traceback' not in out + err and 'context is invalid' not in err
    assert '; interrupted' in out and 'loc-bag play: stopped by a signal' in err
