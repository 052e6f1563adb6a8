"""The node's publishers: private topics ~/markers, ~/voxels, ~/grid, ~/bev, latched ~/legend, and
/diagnostics. A big message is only built when its topic has subscribers; it is published as CDR
bytes built with numpy (see outputs.py, cdr.py)."""
from __future__ import annotations

import threading
import time
from collections import Counter

from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import OccupancyGrid
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import String, UInt8MultiArray
from visualization_msgs.msg import MarkerArray

from loc_core.inference.result import OccupancyResult
from loc_ros import outputs

OUTPUT_QOS = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)


class OutputPublishers:
    """Publishes results; remembers the class set of the last markers (DELETEALL on change) and
    the last legend (republished when a result's prompts or class ids differ)."""

    def __init__(self, node, frame_id: str):
        self.frame_id = frame_id
        self.markers = node.create_publisher(MarkerArray, '~/markers', OUTPUT_QOS)
        self.voxels = node.create_publisher(PointCloud2, '~/voxels', OUTPUT_QOS)
        self.grid = node.create_publisher(UInt8MultiArray, '~/grid', OUTPUT_QOS)
        self.bev = node.create_publisher(OccupancyGrid, '~/bev', OUTPUT_QOS)
        self.legend = node.create_publisher(String, '~/legend', LATCHED_QOS)
        self.diagnostics = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._marker_classes = None
        self.built: Counter = Counter()
        self._legend_key = None
        self._lock = threading.Lock()
        self.grid_geometry = None

    def publish_legend(self, prompts, class_ids, grid=None) -> None:
        """Publish the legend JSON if it differs from the last one."""
        from loc_core.geometry.voxel_grid import VoxelGrid

        grid = grid or self.grid_geometry or VoxelGrid()
        key = (tuple(prompts), tuple(int(i) for i in class_ids), grid)
        with self._lock:
            if key == self._legend_key:
                return
            self._legend_key = key
        self.legend.publish(String(data=outputs.legend_json(prompts, class_ids, grid, self.frame_id)))

    def publish_grid(self, result: OccupancyResult, update_legend: bool = True) -> float:
        """Publish the dense grid (the product downstream planners wait for) when it has subscribers;
        with `update_legend` the legend follows the result's classes first (the node passes False for
        a frame finished with superseded prompts, so the legend never flips back). Returns
        time.monotonic() right after the grid went out."""
        self.grid_geometry = result.grid
        if update_legend:
            self.publish_legend(result.prompts, result.class_ids, result.grid)
        self._publish_if_wanted(self.grid, 'grid', lambda: outputs.semantic_grid(result))
        return time.monotonic()

    def publish_views(self, result: OccupancyResult) -> None:
        """Publish the views made from a result, each when it has subscribers: BEV, voxels, markers
        (a DELETEALL first when the prompts changed since the last markers)."""
        self._publish_if_wanted(self.bev, 'bev', lambda: outputs.bev_grid(result, self.frame_id))
        self._publish_if_wanted(self.voxels, 'voxels', lambda: outputs.voxel_cloud(result, self.frame_id))
        classes = tuple(result.prompts)
        delete_all = classes != self._marker_classes
        if self._publish_if_wanted(self.markers, 'markers',
                                   lambda: outputs.marker_array(result, self.frame_id, delete_all)):
            self._marker_classes = classes

    def forget_markers(self) -> None:
        """The next marker array starts with DELETEALL (after a time jump: old markers must go)."""
        self._marker_classes = None

    def _publish_if_wanted(self, publisher, name: str, build) -> bool:
        """Build and publish only when someone listens; counts what was built in `built`."""
        if not publisher.get_subscription_count():
            return False
        publisher.publish(build())
        self.built[name] += 1
        return True

    def publish_diagnostics(self, msg) -> None:
        self.diagnostics.publish(msg)
