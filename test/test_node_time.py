"""loc_node as ROS users run it: a bag looped with `loc-bag play --loop`, a player killed and
started again, `--clock` with `use_sim_time`, a camera that goes silent and comes back, LiDAR
without cameras, the `ros2 param dump` -> `--params-file` round trip and the QoS of the outputs
as `ros2 topic info -v` reports them. Real rclpy/DDS; tiny synthetic bags (6 frames)."""
import array
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from bag_test_frames import T0_NS, toy_calibration, toy_frames
from ros_test_utils import (calibration_for_frame, frame_to_messages, isolate_ros, ros_module_context, start_node,
                            synthetic_frame)

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[1]
FRAMES, PERIOD_NS, LAG_NS = 6, 300_000_000, 20_000_000  # a 1.5 s bag: each loop jumps back 1.5 s
SENSOR_TOPICS = ['/lidar_top/points', '/cam_front/image_rect/compressed', '/cam_front/camera_info']


@pytest.fixture(scope='module', autouse=True)
def ros():
    yield from ros_module_context('test_node_time')


def _frames():
    frames = []
    for k, frame in enumerate(toy_frames(FRAMES)):
        stamp = T0_NS + k * PERIOD_NS
        cameras = [replace(c, timestamp_ns=stamp - LAG_NS) for c in frame.cameras]
        frames.append(replace(frame, timestamp_ns=stamp, cameras=cameras))
    return frames


BAG_STAMPS = [f.timestamp_ns for f in _frames()]


@pytest.fixture(scope='module')
def bag(tmp_path_factory):
    from rosbags_tools.writer import write_frames_to_bag

    out = tmp_path_factory.mktemp('time') / 'toy'
    write_frames_to_bag(_frames(), toy_calibration(), out, progress=False)
    return out


def _start(tmp_path, outputs=('grid', 'voxels', 'legend'), **params):
    params.setdefault('input_qos', 'reliable')  # a played bag is a recording: take every message
    return start_node(tmp_path, toy_calibration(), outputs=outputs, **params)


def _stamp_ns(msg) -> int:
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def _wait(condition, timeout=30.0, what='condition'):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f'timed out waiting for {what}'
        time.sleep(0.02)


def _settle(count, quiet_s=1.0, timeout=15.0):
    """Wait until count() has not changed for quiet_s seconds."""
    deadline, last, since = time.monotonic() + timeout, count(), time.monotonic()
    while time.monotonic() - since < quiet_s:
        assert time.monotonic() < deadline, 'the count never settled'
        time.sleep(0.05)
        if count() != last:
            last, since = count(), time.monotonic()


def _drops(node) -> dict:
    return {k: v for k, v in node.stats.snapshot().items() if k.startswith(('drop.', 'error.'))}


def _passes(stamps) -> list[list[int]]:
    """Split output stamps into runs that increase (a new run starts where the stamps go back)."""
    runs = []
    for stamp in stamps:
        if not runs or stamp <= runs[-1][-1]:
            runs.append([])
        runs[-1].append(stamp)
    return runs


def test_a_looped_bag_is_served_in_every_pass(bag, tmp_path):
    from rosbags_tools.player import BagPlayer

    class ThreePasses(BagPlayer):  # `loc-bag play --loop`, stopped after its third pass
        passes = 0

        def _one_pass(self, *args):
            super()._one_pass(*args)
            self.passes += 1
            if self.passes == 3:
                self.stop()

    harness, _ = _start(tmp_path)
    try:
        report = ThreePasses(bag, loop=True, topics=SENSOR_TOPICS, wait_for_subscribers_s=10.0).play()
        assert report.loops == 3 and report.published['/lidar_top/points'] == 3 * FRAMES
        _wait(lambda: harness.node.stats.counts.get('lidar_in', 0) == 3 * FRAMES, what='every scan')
        _wait(harness.node.idle, what="the workers")
        time.sleep(0.2)
        stamps = [_stamp_ns(m) for m in harness.received['voxels']]
        runs = _passes(stamps)
        assert len(runs) == 3 and all(len(run) >= FRAMES - 1 for run in runs), runs
        assert all(set(run) <= set(BAG_STAMPS) for run in runs)
        counts = harness.node.stats.snapshot()
        assert counts['sync_resets'] == 2 and counts['time_jump_back'] == 2, counts
        assert _drops(harness.node) == {}, counts  # no out_of_order, no timeouts
        # at most the last scan of a pass can be lost: still in flight when the next pass jumped back
        assert counts['published'] + counts.get('time_jump_discarded', 0) >= 3 * FRAMES, counts
        diagnostics = harness.wait_for('diagnostics', lambda m: any(
            kv.key == 'sync_resets' and kv.value == '2' for kv in m.status[0].values), timeout=10)
        assert diagnostics.status[0].values
    finally:
        harness.close()


def _player(bag, *args):
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    cmd = [sys.executable, '-m', 'rosbags_tools.cli', 'play', str(bag), '--topics', *SENSOR_TOPICS,
           '--wait-for-subscribers', '20', *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_a_killed_and_restarted_player_is_served_again_within_2_s(bag, tmp_path):
    harness, _ = _start(tmp_path)
    node = harness.node
    player = _player(bag, '--loop')
    try:
        # kill it once the node served a scan more than 1 s into the bag (so the restart jumps back)
        harness.wait_for('voxels', lambda m: _stamp_ns(m) >= BAG_STAMPS[4], timeout=60)
        player.send_signal(signal.SIGKILL)
        player.wait(timeout=10)
        _settle(lambda: node.stats.counts['lidar_in'])  # scans already received may still be queued
        scans, served = node.stats.counts['lidar_in'], harness.count('voxels')
        resets = node.stats.counts.get('sync_resets', 0)
        player = _player(bag)
        _wait(lambda: node.stats.counts['lidar_in'] > scans, timeout=60, what='the restarted player')
        first_input = time.monotonic()
        _wait(lambda: harness.count('voxels') > served, timeout=10, what='an output after the restart')
        assert time.monotonic() - first_input < 2.0
        assert player.wait(timeout=30) == 0, player.stderr.read()
        _wait(lambda: node.stats.counts['lidar_in'] >= scans + FRAMES, what='every scan of the restart')
        time.sleep(0.3)
        assert node.stats.counts['lidar_in'] == scans + FRAMES, (scans, node.stats.snapshot())
        _wait(lambda: node.stats.counts['published'] >= served + FRAMES - 1, what='the restart served')
        assert node.stats.counts['sync_resets'] == resets + 1
        assert _drops(node) == {}, node.stats.snapshot()
    finally:
        if player.poll() is None:
            player.kill()
            player.wait()
        harness.close()


def test_clock_and_use_sim_time_outputs_carry_the_bag_stamps(bag, tmp_path):
    from rosbags_tools.player import BagPlayer

    harness, _ = _start(tmp_path, outputs=('grid', 'voxels', 'markers', 'legend'), use_sim_time=True,
                        diagnostics_period_s=0.2)
    node = harness.node
    try:
        assert node.get_clock().ros_time_is_active
        report = BagPlayer(bag, topics=SENSOR_TOPICS, clock=True, wait_for_subscribers_s=10.0).play()
        assert report.published['/lidar_top/points'] == FRAMES
        _wait(lambda: node.stats.counts.get('published', 0) == FRAMES, what='every frame')
        # each output topic arrives on its own: wait for the last frame on both before comparing
        harness.wait_for('markers', lambda m: m.markers and _stamp_ns(m.markers[-1]) == BAG_STAMPS[-1])
        harness.wait_for('voxels', lambda m: _stamp_ns(m) == BAG_STAMPS[-1])
        assert [_stamp_ns(m) for m in harness.received['voxels']] == BAG_STAMPS
        # the node's clock is the bag's /clock: it stopped at the end of the bag
        assert BAG_STAMPS[-1] <= node.get_clock().now().nanoseconds < BAG_STAMPS[-1] + 10**9
        # /diagnostics still comes (steady-clock timer), stamped with the stopped sim time; the
        # latency is the node's own (steady clock), not a difference of bag and wall time
        after = harness.count('diagnostics')
        time.sleep(0.5)
        late = harness.wait_for('diagnostics', after=after + 1, timeout=10)
        assert BAG_STAMPS[0] <= _stamp_ns(late) < BAG_STAMPS[-1] + 10**9
        values = {kv.key: kv.value for kv in late.status[0].values}
        assert 0 < float(values['latency_p50_ms']) < 5000
        assert _drops(node) == {}, node.stats.snapshot()
    finally:
        harness.close()


FRONT, LEFT = '/cam_front/image_rect', '/cam_left/image_rect'


def _publish_without(harness, calibration, frame, stamp_ns, skip=()):
    harness.publish(frame_to_messages(frame, calibration, stamp_ns), skip=skip)


def test_a_silent_camera_is_counted_then_served_again_without_a_reset(tmp_path):
    frame = synthetic_frame()
    calibration = calibration_for_frame(frame, compressed=False)
    harness, predictor = start_node(tmp_path, calibration, outputs=('voxels', 'legend'))
    node = harness.node
    try:
        _publish_without(harness, calibration, frame, 10**9)
        harness.wait_for('voxels')
        for k in range(1, 9):  # CAM_LEFT silent for 8 s of stamps (more than time_jump_forward_s)
            _publish_without(harness, calibration, frame, 10**9 + k * 10**9, skip=(LEFT,))
            _wait(lambda k=k: node.stats.counts['lidar_in'] == 1 + k, what='the scan')  # best effort: no burst
        _publish_without(harness, calibration, frame, 10 * 10**9)  # it comes back
        harness.wait_for('voxels', lambda m: _stamp_ns(m) == 10 * 10**9)
        _wait(lambda: sum(v for k, v in _drops(node).items()) >= 8, what='8 counted drops')
        assert set(_drops(node)) <= {'drop.unmatched', 'drop.timeout'} and sum(_drops(node).values()) == 8
        assert node.stats.counts.get('sync_resets', 0) == 0
        assert [len(cams) for cams in predictor.camera_sets] == [2, 2]
    finally:
        harness.close()


def test_lidar_without_cameras_gives_lidar_only_frames_when_allowed(tmp_path):
    frame = synthetic_frame()
    calibration = calibration_for_frame(frame, compressed=False)
    harness, predictor = start_node(tmp_path, calibration, outputs=('voxels', 'legend'), allow_missing_cameras=True,
                                    sync_max_wait_s=0.1)
    node = harness.node
    try:
        _publish_without(harness, calibration, frame, 10**9)
        harness.wait_for('voxels')
        cameras = (FRONT, LEFT, '/cam_front/camera_info', '/cam_left/camera_info')
        for k in range(1, 5):  # LiDAR only: a scan goes out when the next message comes after sync_max_wait_s
            sent = time.monotonic()
            _publish_without(harness, calibration, frame, 10**9 + k * 10**8, skip=cameras)
            if k > 1:  # the previous scan went out now; let it through (a newer one would replace it)
                harness.wait_for('voxels', lambda m, k=k: _stamp_ns(m) == 10**9 + (k - 1) * 10**8)
            time.sleep(max(0.0, sent + 0.15 - time.monotonic()))
        back = frame_to_messages(frame, calibration, 2 * 10**9)  # the cameras are back
        harness.publish({FRONT: back.pop(FRONT)})  # it lets the last LiDAR-only scan go
        harness.wait_for('voxels', lambda m: _stamp_ns(m) == 14 * 10**8)
        harness.publish(back)
        harness.wait_for('voxels', lambda m: _stamp_ns(m) == 2 * 10**9)
        assert [len(cams) for cams in predictor.camera_sets] == [2, 0, 0, 0, 0, 2]
        counts = node.stats.snapshot()
        assert counts['frames_lidar_only'] == 4 and _drops(node) == {}, counts
    finally:
        harness.close()


def _call(node, service_type, name, request, timeout=10.0):
    client = node.create_client(service_type, name)
    assert client.wait_for_service(timeout_sec=timeout)
    future = client.call_async(request)
    _wait(future.done, timeout, f'{name} to answer')
    node.destroy_client(client)
    return future.result()


def _python_value(value):
    from rclpy.parameter import parameter_value_to_python

    value = parameter_value_to_python(value)
    return list(value) if isinstance(value, (array.array, tuple, list)) else value


def ros2_param_dump(node, target: str) -> str:
    """What `ros2 param dump <target>` prints: ListParameters, GetParameters of the sorted names,
    dotted names nested, `{<full node name>: {ros__parameters: ...}}` as block YAML."""
    from rcl_interfaces.srv import GetParameters, ListParameters

    names = sorted(_call(node, ListParameters, f'{target}/list_parameters', ListParameters.Request()).result.names)
    values = _call(node, GetParameters, f'{target}/get_parameters', GetParameters.Request(names=names)).values
    params = {}
    for name, value in zip(names, values):
        *groups, leaf = name.split('.')
        place = params
        for group in groups:
            place = place.setdefault(group, {})
        place[leaf] = _python_value(value)
    return yaml.dump({target: {'ros__parameters': params}}, default_flow_style=False)


def test_param_dump_loads_back_with_params_file(tmp_path):
    from rcl_interfaces.msg import Parameter as ParameterMsg
    from rcl_interfaces.msg import ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters
    from ros_test_utils import HeightBandPredictor

    from loc_ros.node import LocNode

    harness, _ = _start(tmp_path, sync_slop_s=0.08, allow_missing_cameras=True, time_jump_threshold_s=0.5,
                        camera_names=['CAM_FRONT'], prompts=['road', 'car'])
    try:
        changed = ParameterValue(type=ParameterType.PARAMETER_STRING_ARRAY, string_array_value=['car', 'stroller'])
        result = _call(harness.io, SetParameters, '/loc_node/set_parameters',
                       SetParameters.Request(parameters=[ParameterMsg(name='prompts', value=changed)]))
        assert result.results[0].successful
        dumped = ros2_param_dump(harness.io, '/loc_node')
        live = {name: _python_value(p.get_parameter_value()) for name, p in harness.node._parameters.items()}
    finally:
        harness.close()
    path = tmp_path / 'dump.yaml'
    path.write_text(dumped)
    params = yaml.safe_load(dumped)['/loc_node']['ros__parameters']
    assert params['prompts'] == ['car', 'stroller'] and params['sync_slop_s'] == 0.08
    node = LocNode(predictor=HeightBandPredictor(), cli_args=['--ros-args', '--params-file', str(path)])
    try:
        loaded = {name: _python_value(p.get_parameter_value()) for name, p in node._parameters.items()}
        assert loaded == live
        assert node.prompts == ('car', 'stroller') and node.sync.jump_back_ns == 500_000_000
        assert node.settings['calibration_file'] == params['calibration_file']
    finally:
        node.destroy_node()


def test_a_wrongly_typed_params_file_value_is_one_line(tmp_path):
    from loc_core.data.calibration import save_calibration

    calibration_file = save_calibration(tmp_path / 'calibration.yaml', toy_calibration())
    params = tmp_path / 'params.yaml'
    params.write_text(f'/loc_node:\n  ros__parameters:\n    calibration_file: {calibration_file}\n'
                      '    sync_slop_s: 1\n')  # an integer for a double parameter
    isolate_ros('test_node_time')
    proc = subprocess.run([sys.executable, '-m', 'loc_ros.node_main', '--ros-args', '--params-file', str(params)],
                          cwd=ROOT, env={**os.environ, 'PYTHONPATH': str(ROOT)}, capture_output=True, text=True,
                          timeout=120)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith('loc_node: bad parameter: sync_slop_s'), lines[0]


def test_output_qos_is_what_ros2_topic_info_shows_and_fits_common_subscribers(tmp_path):
    from rclpy.qos import (DurabilityPolicy, LivelinessPolicy, QoSCompatibility, QoSProfile, ReliabilityPolicy,
                           qos_check_compatible)

    harness, _ = _start(tmp_path, outputs=('grid', 'voxels', 'markers', 'bev', 'legend'))
    try:
        io = harness.io
        for topic in ('markers', 'voxels', 'grid', 'bev', 'legend'):
            (info,) = io.get_publishers_info_by_topic(f'/loc_node/{topic}')
            qos = info.qos_profile
            assert info.node_name == 'loc_node' and qos.reliability == ReliabilityPolicy.RELIABLE, topic
            latched = topic == 'legend'
            assert qos.durability == (DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)
            # RViz's default (reliable, volatile), a sensor-data (best effort) subscriber and, for the
            # legend, a latched (transient local) subscriber all connect without a QoS warning
            subscribers = [QoSProfile(depth=10, reliability=reliability, durability=durability,
                                      liveliness=LivelinessPolicy.AUTOMATIC)
                           for reliability in (ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT)
                           for durability in (DurabilityPolicy.VOLATILE, DurabilityPolicy.TRANSIENT_LOCAL)
                           if latched or durability == DurabilityPolicy.VOLATILE]
            for subscriber in subscribers:
                compatible, reason = qos_check_compatible(qos, subscriber)
                assert compatible == QoSCompatibility.OK, (topic, reason)
        (info,) = io.get_publishers_info_by_topic('/diagnostics')
        assert info.qos_profile.reliability == ReliabilityPolicy.RELIABLE
    finally:
        harness.close()
