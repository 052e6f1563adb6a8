"""The live part of the demo: `loc_node` as a child process (as a user runs it), a recorder node in
this process that subscribes to its outputs, the bag played into the graph, and the prompt change
through the node's SetParameters service (what `ros2 param set` calls)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

NODE_NAME = 'loc_node'


@dataclass
class RecordedOutput:
    """One published frame: stamp (ns), occupied voxels (VOXEL_CLOUD_DTYPE records, ego frame) and
    the legend (parsed JSON) in force when it arrived, plus the wall time it arrived (s)."""

    stamp_ns: int
    voxels: np.ndarray
    legend: dict
    received_s: float


@dataclass
class SessionLog:
    outputs: list = field(default_factory=list)
    diagnostics: dict = field(default_factory=dict)  # the node's last pipeline status values
    prompt_change_s: float | None = None
    prompt_change_reply: str = ''
    played: dict = field(default_factory=dict)


def isolated_ros_env(domain_id: int) -> dict:
    """Environment for this process and the node: own domain, discovery on this machine only."""
    os.environ['ROS_DOMAIN_ID'] = str(domain_id)
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    return dict(os.environ)


def start_node(calibration: Path, checkpoint: str, log_path: Path, env: dict) -> subprocess.Popen:
    """loc_node as a child process. Inputs are taken reliably: a ~0.7 MB PointCloud2 between two
    processes is fragmented, and best-effort delivery (the sensor_data default) tends to lose it."""
    command = [sys.executable, '-m', 'loc_ros.node_main', '--ros-args', '-r', f'__node:={NODE_NAME}',
               '-p', f'calibration_file:={calibration}',
               '-p', 'sync_slop_s:=0.1', '-p', 'input_qos:=reliable',
               '-p', 'sync_max_wait_s:=1.0']
    if checkpoint:  # empty: the node's default, the shipped demo checkpoint
        command += ['-p', f'checkpoint:={checkpoint}']
    log = open(log_path, 'w')
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)


def legend_prompts(legend: dict | None) -> list[str]:
    """The prompts of a parsed ~/legend message, in label order ([] for None)."""
    return [c['prompt'] for c in legend['classes']] if legend else []


class Recorder:
    """Subscribes to ~/voxels, ~/legend and /diagnostics of the node; calls its SetParameters."""

    def __init__(self, node):
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import PointCloud2
        from std_msgs.msg import String

        self.node = node
        self.log = SessionLog()
        self.legend: dict | None = None
        self._lock = threading.Lock()
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        node.create_subscription(String, f'/{NODE_NAME}/legend', self._on_legend, latched)
        node.create_subscription(PointCloud2, f'/{NODE_NAME}/voxels', self._on_voxels, reliable)
        node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, reliable)

    def _on_legend(self, msg) -> None:
        with self._lock:
            self.legend = json.loads(msg.data)

    def _on_voxels(self, msg) -> None:
        from loc_ros.outputs import VOXEL_CLOUD_DTYPE

        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        voxels = np.frombuffer(bytes(msg.data), dtype=VOXEL_CLOUD_DTYPE).copy()
        with self._lock:
            self.log.outputs.append(RecordedOutput(stamp, voxels, self.legend, time.monotonic()))

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.hardware_id == NODE_NAME:
                with self._lock:
                    self.log.diagnostics = {kv.key: kv.value for kv in status.values}

    def legend_prompts(self) -> list:
        """The prompts of the last legend received ([] before the first)."""
        with self._lock:
            return legend_prompts(self.legend)

    @property
    def output_count(self) -> int:
        with self._lock:
            return len(self.log.outputs)

    def set_prompts(self, prompts, timeout_s: float = 30.0) -> tuple[bool, str]:
        from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
        from rcl_interfaces.srv import SetParameters

        client = self.node.create_client(SetParameters, f'/{NODE_NAME}/set_parameters')
        if not client.wait_for_service(timeout_sec=timeout_s):
            return False, 'the node offers no set_parameters service'
        value = ParameterValue(type=ParameterType.PARAMETER_STRING_ARRAY, string_array_value=list(prompts))
        future = client.call_async(SetParameters.Request(parameters=[Parameter(name='prompts', value=value)]))
        end = time.monotonic() + timeout_s
        while not future.done() and time.monotonic() < end:
            time.sleep(0.02)
        if not future.done():
            return False, 'set_parameters did not answer'
        result = future.result().results[0]
        return result.successful, result.reason


def wait_until(predicate, timeout_s: float, process: subprocess.Popen | None = None, what: str = '') -> None:
    end = time.monotonic() + timeout_s
    while not predicate():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f'loc_node exited with status {process.returncode} while waiting for {what}')
        if time.monotonic() > end:
            raise TimeoutError(f'timed out after {timeout_s:.0f} s waiting for {what}')
        time.sleep(0.05)


def split_offset_s(bag: Path, lidar_topic: str, index: int) -> float:
    """Seconds after the bag's first message, half way between LiDAR scans `index` - 1 and `index`:
    playing [0, offset) and then [offset, end) splits the bag into whole frames."""
    from rosbags_tools.bag_access import open_bag

    with open_bag(bag) as reader:
        scans = [c for c in reader.connections if c.topic == lidar_topic]
        times = [t for _, t, _ in reader.messages(connections=scans)]
        first = reader.start_time
    if not 0 < index < len(times):
        raise ValueError(f'cannot split {len(times)} LiDAR scans before scan {index}')
    return ((times[index - 1] + times[index]) / 2 - first) / 1e9


def wait_for_outputs(recorder: Recorder, count: int, process, quiet_s: float = 3.0, timeout_s: float = 120.0):
    """Until `count` outputs have arrived, or none has for `quiet_s` (the node dropped a frame)."""
    end = time.monotonic() + timeout_s
    seen, last_change = -1, time.monotonic()
    while recorder.output_count < count and time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f'loc_node exited with status {process.returncode} while waiting for outputs')
        if recorder.output_count != seen:
            seen, last_change = recorder.output_count, time.monotonic()
        elif seen > 0 and time.monotonic() - last_change > quiet_s:
            return
        time.sleep(0.05)


def run_session(data, new_prompts, checkpoint: str, workdir: Path, rate: float = 1.0,
                domain_id: int = 77, progress=print) -> SessionLog:
    """Play `data.bag` into a fresh loc_node: its first half, then the prompt change to
    `new_prompts` (through the parameter service), then the second half; return the record."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    from rosbags_tools.player import BagPlayer

    env = isolated_ros_env(domain_id)
    node_log = workdir / 'loc_node.log'
    process = start_node(data.calibration, checkpoint, node_log, env)
    rclpy.init()
    node = rclpy.create_node('loc_demo_recorder')
    recorder = Recorder(node)
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        progress('[demo] starting loc_node (loading the checkpoint and the text encoder) ...')
        wait_until(lambda: recorder.legend is not None, 180, process, 'loc_node to start (its legend)')
        half = max(1, data.frame_count // 2)
        split_s = split_offset_s(data.bag, data.lidar_topic, half)
        progress(f'[demo] loc_node is up; playing {half} of {data.frame_count} frames at {rate}x ...')
        play = dict(rate=rate, node=node, topics=data.sensor_topics, wait_for_subscribers_s=10.0)
        first = BagPlayer(data.bag, stop_offset_s=split_s, **play).play()
        wait_for_outputs(recorder, half, process)
        ok, reason = recorder.set_prompts(new_prompts)
        recorder.log.prompt_change_s = time.monotonic()
        recorder.log.prompt_change_reply = 'accepted' if ok else f'refused: {reason}'
        progress(f'[demo] prompts changed after {recorder.output_count} frames: {recorder.log.prompt_change_reply}')
        if ok:  # the rest of the bag is played once the node's outputs carry the new prompts
            wait_until(lambda: recorder.legend_prompts() == list(new_prompts), 60, process, 'the new legend')
        progress(f'[demo] playing the other {data.frame_count - half} frames ...')
        second = BagPlayer(data.bag, start_offset_s=split_s, **play).play()
        settle_end = time.monotonic() + 5.0
        while time.monotonic() < settle_end and recorder.output_count < data.frame_count:
            time.sleep(0.1)
        time.sleep(1.5)  # one more diagnostics period
        recorder.log.played = {
            'lidar_messages': sum(int(r.published.get(data.lidar_topic, 0)) for r in (first, second)),
            'seconds': round(first.seconds + second.seconds, 2),
            'summary': first.summary() + '\n' + second.summary()}
        return recorder.log
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
