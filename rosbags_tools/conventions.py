"""Names, frames, message types and QoS that every bag `loc-bag` writes shares.

Frames (REP 105): `world` (fixed) -> `base_link` (the ego vehicle, per stamp on `/tf`) -> one
frame per sensor (static, on `/tf_static`). Camera frames are optical frames (x right, y down,
z forward), as in nuScenes and `CameraView.cam_to_ego`."""
from __future__ import annotations

from functools import lru_cache

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

WORLD_FRAME = 'world'
BASE_FRAME = 'base_link'
LIDAR_FRAME = 'lidar_top'
LIDAR_TOPIC = '/lidar_top/points'
TF_TOPIC = '/tf'
TF_STATIC_TOPIC = '/tf_static'
ODOM_TOPIC = '/odom'
MARKERS_TOPIC = '/annotations/markers'
CALIBRATION_FILE = 'calibration.yaml'  # inside the bag folder, beside the storage file

POINTCLOUD2 = 'sensor_msgs/msg/PointCloud2'
COMPRESSED_IMAGE = 'sensor_msgs/msg/CompressedImage'
CAMERA_INFO = 'sensor_msgs/msg/CameraInfo'
TF_MESSAGE = 'tf2_msgs/msg/TFMessage'
ODOMETRY = 'nav_msgs/msg/Odometry'
MARKER_ARRAY = 'visualization_msgs/msg/MarkerArray'

STORAGES = ('mcap', 'sqlite3')


def camera_frame(name: str) -> str:
    """'CAM_FRONT' -> 'cam_front'."""
    return name.lower()


def camera_image_topic(name: str) -> str:
    return f'/{camera_frame(name)}/image_rect/compressed'


def camera_info_topic(name: str) -> str:
    return f'/{camera_frame(name)}/camera_info'


@lru_cache(maxsize=1)
def typestore():
    """The rosbags typestore matching the installed ROS 2 messages (Kilted)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def _qos(depth: int, durability: QosDurability) -> Qos:
    unset = QosTime(0, 0)  # rmw "default": no deadline, lifespan or lease
    return Qos(QosHistory.KEEP_LAST, depth, QosReliability.RELIABLE, durability, unset, unset,
               QosLiveliness.AUTOMATIC, unset, False)


SENSOR_QOS = _qos(10, QosDurability.VOLATILE)
# latched: a late subscriber (rviz, the node, `ros2 bag play`'s consumers) still gets the rig
LATCHED_QOS = _qos(1, QosDurability.TRANSIENT_LOCAL)
