"""The rig calibration without a calibration file: extrinsics from /tf_static, intrinsics from
CameraInfo, sensor frames from the messages' header.frame_id (the ROS convention: a robot's URDF,
through robot_state_publisher, or a bag's recording publishes the sensor mounts on /tf_static).

`topic_rig` builds the node's rig from its topic parameters (no frames, no extrinsics yet);
`StaticTransforms` subscribes to /tf_static (transient local, so transforms latched before the node
started arrive too) and keeps them in a `TransformTree`; `StaticTransforms.rig_for` completes the
rig for one synchronised frame, or raises `InputError('missing_tf' / 'missing_camera_info')`
naming what is missing: such frames are dropped and counted until the transforms arrive."""
from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np

from loc_core.data.calibration import CameraCalibration, RigCalibration
from loc_core.geometry.pose_track import PoseLookupError, TransformTree
from loc_core.geometry.transforms import make_transform
from loc_ros.conversions import InputError, camera_info_to_k
from loc_ros.predictor_backend import StartupError

TF_STATIC_TOPIC = '/tf_static'
DEFAULT_LIDAR_TOPIC = '/lidar_top/points'
DEFAULT_BASE_FRAME = 'base_link'


def _image_base(image_topic: str) -> list[str]:
    """'/cam_front/image_rect/compressed' -> ['cam_front', 'image_rect'] (transport suffix removed)."""
    parts = [p for p in image_topic.split('/') if p]
    return parts[:-1] if parts and parts[-1] == 'compressed' else parts


def info_topic_for(image_topic: str) -> str:
    """The CameraInfo topic beside an image topic (image_transport's convention):
    '/cam_front/image_rect/compressed' -> '/cam_front/camera_info'."""
    return '/' + '/'.join(_image_base(image_topic)[:-1] + ['camera_info'])


def camera_name_for(image_topic: str) -> str:
    """A camera's name from its image topic: the namespace ('/cam_front/image_rect' -> 'cam_front'),
    or the topic itself when it has none ('/image' -> 'image')."""
    base = _image_base(image_topic)
    return base[-2] if len(base) >= 2 else (base[-1] if base else image_topic)


def topic_rig(lidar_topic: str, camera_topics, base_frame: str) -> RigCalibration:
    """The rig as far as the parameters know it: topics and names; frame ids empty (taken from each
    message's header), extrinsics identity and intrinsics zero until `rig_for` fills them in.
    ValueError for an empty or repeated camera topic or name."""
    cameras, names = [], set()
    for topic in camera_topics:
        name = camera_name_for(topic)
        if not _image_base(topic) or name in names:
            raise ValueError(f'camera_topics: {topic!r} is empty or repeats camera {name!r}')
        names.add(name)
        cameras.append(CameraCalibration(name=name, frame_id='', image_topic=topic, info_topic=info_topic_for(topic),
                                         width=0, height=0, intrinsics=np.zeros((3, 3)), cam_to_base=np.eye(4)))
    return RigCalibration(base_frame=base_frame or DEFAULT_BASE_FRAME, lidar_frame='',
                          lidar_topic=lidar_topic or DEFAULT_LIDAR_TOPIC, lidar_to_base=np.eye(4), cameras=cameras)


def transform_matrix(transform) -> np.ndarray:
    """geometry_msgs/Transform -> (4,4) float64 child_to_parent; ValueError when not finite or the
    quaternion is zero."""
    t, q = transform.translation, transform.rotation
    values = [t.x, t.y, t.z, q.w, q.x, q.y, q.z]
    if not np.isfinite(values).all():
        raise ValueError(f'non-finite transform {values}')
    return make_transform(values[:3], values[3:])


class StaticTransforms:
    """The /tf_static buffer of one node. `on_bad(reason, text)` is told about unusable transforms.
    StartupError when tf2_msgs is not importable."""

    def __init__(self, node, on_bad, callback_group=None):
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        try:
            from tf2_msgs.msg import TFMessage
        except ImportError as exc:
            raise StartupError(f'extrinsics from /tf_static need tf2_msgs, which is not importable ({exc}); '
                               'install it (in a PyPI environment ../shared/ros2cli/ros_tf2_msgs-*.whl) or set '
                               'calibration_file') from exc

        self._tree = TransformTree()
        self._lock = threading.Lock()
        self._on_bad = on_bad
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.subscription = node.create_subscription(TFMessage, TF_STATIC_TOPIC, self._on_message, qos,
                                                     callback_group=callback_group)

    def _on_message(self, msg) -> None:
        for tf in msg.transforms:
            parent, child = tf.header.frame_id, tf.child_frame_id
            try:
                matrix = transform_matrix(tf.transform)
            except ValueError as exc:
                self._on_bad('bad_tf', f'/tf_static {parent!r} -> {child!r}: {exc}')
                continue
            with self._lock:
                self.add(parent, child, matrix)

    def add(self, parent: str, child: str, child_to_parent: np.ndarray) -> None:
        """One static edge (the callback's path; tests and tools may call it directly)."""
        self._tree.add_static(parent, child, child_to_parent)

    def lookup(self, source: str, target: str) -> np.ndarray:
        """(4,4) source_to_target; PoseLookupError naming both frames."""
        with self._lock:
            return self._tree.lookup(source, target)

    def rig_for(self, rig: RigCalibration, cameras: list, lidar_msg, image_msgs: dict, camera_infos: dict):
        """(rig, cameras) with this frame's sensor frames, extrinsics and (from CameraInfo) intrinsics.
        InputError 'missing_tf' listing every sensor frame not connected to the base frame, or
        'missing_camera_info' for cameras whose CameraInfo has not arrived."""
        base, missing = rig.base_frame, []

        def mount(kind: str, frame_id: str):
            if not frame_id:
                missing.append(f'{kind} (its messages have no header.frame_id)')
                return None
            try:
                return self.lookup(frame_id, base)
            except PoseLookupError:
                missing.append(f'{frame_id!r} ({kind})')
                return None

        lidar_frame = lidar_msg.header.frame_id
        lidar_to_base = mount('LiDAR', lidar_frame)
        resolved = []
        for cam in cameras:
            if cam.name not in image_msgs:
                continue
            frame_id = image_msgs[cam.name].header.frame_id
            cam_to_base = mount(f'camera {cam.name}', frame_id)
            resolved.append((cam, frame_id, cam_to_base))
        if missing:
            with self._lock:
                known = sorted(self._tree.frames())
            raise InputError('missing_tf', f'waiting for /tf_static: no transform to {base!r} from '
                                           f'{", ".join(missing)}; known frames {known}')
        no_info = [cam.name for cam, _, _ in resolved if cam.name not in camera_infos]
        if no_info:
            raise InputError('missing_camera_info', f'waiting for CameraInfo of camera(s) {no_info} '
                                                    f'({[c.info_topic for c in cameras if c.name in no_info]})')
        out = []
        for cam, frame_id, cam_to_base in resolved:
            k, width, height = camera_info_to_k(camera_infos[cam.name])
            out.append(replace(cam, frame_id=frame_id, cam_to_base=cam_to_base, intrinsics=k, width=width,
                               height=height))
        return replace(rig, lidar_frame=lidar_frame, lidar_to_base=lidar_to_base, cameras=out), out
