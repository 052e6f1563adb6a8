"""An in-process ROS graph for node tests: the node under test plus a test node that publishes its
inputs and records its outputs, all spun by one MultiThreadedExecutor on a background thread."""
from __future__ import annotations

import threading
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import OccupancyGrid
from rclpy.executors import MultiThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import String, UInt8MultiArray
from visualization_msgs.msg import MarkerArray

from loc_ros.frame_builder import is_compressed_topic

OUTPUT_TYPES = {'markers': MarkerArray, 'voxels': PointCloud2, 'grid': UInt8MultiArray,
                'bev': OccupancyGrid, 'legend': String}
INPUT_QOS = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)


class Harness:
    """`node`: a started LocNode; `calibration`: its RigCalibration (for input topics)."""

    def __init__(self, node, calibration, outputs=tuple(OUTPUT_TYPES)):
        self.node = node
        self.io = rclpy.create_node('loc_test_io')
        self.received: dict[str, list] = {name: [] for name in (*outputs, 'diagnostics')}
        self._cond = threading.Condition()
        name = node.get_name()
        for output in outputs:
            qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL if output == 'legend'
                             else DurabilityPolicy.VOLATILE)
            self.io.create_subscription(OUTPUT_TYPES[output], f'/{name}/{output}', self._recorder(output), qos)
        self.io.create_subscription(DiagnosticArray, '/diagnostics', self._recorder('diagnostics'), 10)
        self.publishers = {calibration.lidar_topic: self.io.create_publisher(PointCloud2, calibration.lidar_topic,
                                                                               INPUT_QOS)}
        for cam in calibration.cameras:
            image_type = CompressedImage if is_compressed_topic(cam.image_topic) else Image
            self.publishers[cam.image_topic] = self.io.create_publisher(image_type, cam.image_topic, INPUT_QOS)
            self.publishers[cam.info_topic] = self.io.create_publisher(CameraInfo, cam.info_topic, INPUT_QOS)
        self.executor = MultiThreadedExecutor(num_threads=3)
        self.executor.add_node(node)
        self.executor.add_node(self.io)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()
        self._wait_connected(outputs)

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def _recorder(self, output: str):
        def record(msg):
            with self._cond:
                self.received[output].append(msg)
                self._cond.notify_all()
        return record

    def _wait_connected(self, outputs, timeout: float = 10.0) -> None:
        publishers = {'markers': self.node.outputs.markers, 'voxels': self.node.outputs.voxels,
                      'grid': self.node.outputs.grid, 'bev': self.node.outputs.bev}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            inputs_ok = all(p.get_subscription_count() > 0 for p in self.publishers.values())
            outputs_ok = all(publishers[o].get_subscription_count() > 0 for o in outputs if o in publishers)
            if inputs_ok and outputs_ok:
                return
            time.sleep(0.05)
        raise TimeoutError('test graph did not connect')

    def publish(self, messages: dict, skip=()) -> None:
        """Publish {topic: message}; camera infos and images first, the LiDAR last."""
        for topic, msg in sorted(messages.items(), key=lambda item: isinstance(item[1], PointCloud2)):
            if topic not in skip:
                self.publishers[topic].publish(msg)

    def count(self, output: str) -> int:
        with self._cond:
            return len(self.received[output])

    def wait_for(self, output: str, predicate=lambda msg: True, timeout: float = 20.0, after: int = 0):
        """The first message on `output` (index >= `after`) satisfying `predicate`; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for msg in self.received[output][after:]:
                    if predicate(msg):
                        return msg
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f'no matching message on {output} within {timeout} s '
                                       f'({len(self.received[output])} received)')
                self._cond.wait(left)

    def close(self) -> None:
        """Stop spinning first, then shut the executor down: shutting it down under a spinning
        thread races with its guard conditions (rclpy raises InvalidHandle in that thread)."""
        self._stop.set()
        self._thread.join(5)
        self.executor.shutdown()
        self.node.destroy_node()
        self.io.destroy_node()
