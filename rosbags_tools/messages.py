"""Frame pieces <-> rosbags message objects (Kilted typestore): headers, transforms, compressed
images, camera info, odometry and box markers. Point clouds live in `pointcloud.py`.

All transforms are (4,4) float64 `a_to_b` matrices (see loc_core.geometry.transforms); a ROS
TransformStamped with header.frame_id=parent and child_frame_id=child carries child_to_parent."""
from __future__ import annotations

import numpy as np

from loc_core.data.boxes import Boxes
from loc_core.data.vocabulary import OCC3D_CLASS_NAMES, OCC3D_COLORS
from loc_core.geometry.transforms import make_transform, split_transform
from rosbags_tools.conventions import TF_MESSAGE, typestore

NS_PER_S = 1_000_000_000


def _t(name: str):
    return typestore().types[name]


def ros_time(stamp_ns: int):
    """Integer nanoseconds -> builtin_interfaces/Time."""
    sec, nanosec = divmod(int(stamp_ns), NS_PER_S)
    return _t('builtin_interfaces/msg/Time')(sec=sec, nanosec=nanosec)


def time_ns(stamp) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def header(stamp_ns: int, frame_id: str):
    return _t('std_msgs/msg/Header')(stamp=ros_time(stamp_ns), frame_id=frame_id)


# -- transforms ------------------------------------------------------------------------------
def _vector3(values, name='geometry_msgs/msg/Vector3'):
    x, y, z = (float(v) for v in values)
    return _t(name)(x=x, y=y, z=z)


def _quaternion(q_wxyz):
    w, x, y, z = (float(v) for v in q_wxyz)
    return _t('geometry_msgs/msg/Quaternion')(x=x, y=y, z=z, w=w)


def _wxyz(q) -> list[float]:
    return [q.w, q.x, q.y, q.z]


def pose_msg(transform):
    """(4,4) transform -> geometry_msgs/Pose (the child frame's pose in the parent)."""
    translation, rotation = split_transform(transform)
    return _t('geometry_msgs/msg/Pose')(position=_vector3(translation, 'geometry_msgs/msg/Point'),
                                        orientation=_quaternion(rotation))


def pose_to_matrix(pose) -> np.ndarray:
    p = pose.position
    return make_transform([p.x, p.y, p.z], _wxyz(pose.orientation))


def transform_stamped(child_to_parent, stamp_ns: int, parent: str, child: str):
    translation, rotation = split_transform(child_to_parent)
    transform = _t('geometry_msgs/msg/Transform')(translation=_vector3(translation),
                                                  rotation=_quaternion(rotation))
    return _t('geometry_msgs/msg/TransformStamped')(header=header(stamp_ns, parent),
                                                    child_frame_id=child, transform=transform)


def transform_to_matrix(transform) -> np.ndarray:
    """geometry_msgs/Transform -> (4,4) child_to_parent."""
    t = transform.translation
    return make_transform([t.x, t.y, t.z], _wxyz(transform.rotation))


def tf_message(transforms: list):
    return _t(TF_MESSAGE)(transforms=list(transforms))


# -- cameras ---------------------------------------------------------------------------------
def compressed_image(jpeg: bytes, stamp_ns: int, frame_id: str):
    """JPEG bytes, passed through untouched -> sensor_msgs/CompressedImage."""
    return _t('sensor_msgs/msg/CompressedImage')(header=header(stamp_ns, frame_id), format='jpeg',
                                                 data=np.frombuffer(jpeg, dtype=np.uint8))


def camera_info(intrinsics, width: int, height: int, stamp_ns: int, frame_id: str):
    """(3,3) K of a rectified (undistorted) image -> sensor_msgs/CameraInfo (plumb_bob, d = 0)."""
    k = np.asarray(intrinsics, dtype=np.float64).reshape(3, 3)
    projection = np.zeros((3, 4))
    projection[:, :3] = k
    roi = _t('sensor_msgs/msg/RegionOfInterest')(x_offset=0, y_offset=0, height=0, width=0,
                                                 do_rectify=False)
    return _t('sensor_msgs/msg/CameraInfo')(
        header=header(stamp_ns, frame_id), height=int(height), width=int(width),
        distortion_model='plumb_bob', d=np.zeros(5), k=k.reshape(-1).copy(), r=np.eye(3).reshape(-1),
        p=projection.reshape(-1), binning_x=0, binning_y=0, roi=roi)


def intrinsics_from_camera_info(info) -> np.ndarray:
    """sensor_msgs/CameraInfo -> (3,3) float64 K; ValueError when K is unset or not finite."""
    k = np.asarray(info.k, dtype=np.float64).reshape(3, 3)
    if not np.all(np.isfinite(k)) or k[0, 0] <= 0 or k[1, 1] <= 0:
        raise ValueError(f'camera_info of frame {info.header.frame_id!r} has no usable K: {k.tolist()}')
    return k


# -- odometry --------------------------------------------------------------------------------
def odometry(ego_to_world, stamp_ns: int, linear_velocity, angular_velocity, parent: str, child: str):
    """Ego pose in the world plus its twist (m/s, rad/s, in the child (ego) frame)."""
    twist = _t('geometry_msgs/msg/Twist')(linear=_vector3(linear_velocity),
                                          angular=_vector3(angular_velocity))
    return _t('nav_msgs/msg/Odometry')(
        header=header(stamp_ns, parent), child_frame_id=child,
        pose=_t('geometry_msgs/msg/PoseWithCovariance')(pose=pose_msg(ego_to_world), covariance=np.zeros(36)),
        twist=_t('geometry_msgs/msg/TwistWithCovariance')(twist=twist, covariance=np.zeros(36)))


def ego_twist(previous_ego_to_world, ego_to_world, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Finite-difference twist between two ego poses -> (linear (3,) m/s, angular (3,) rad/s), both
    in the later ego frame; zeros when there is no previous pose or no elapsed time."""
    if previous_ego_to_world is None or dt_s <= 0:
        return np.zeros(3), np.zeros(3)
    rot = ego_to_world[:3, :3]
    linear = rot.T @ (ego_to_world[:3, 3] - previous_ego_to_world[:3, 3]) / dt_s
    delta = previous_ego_to_world[:3, :3].T @ rot  # rotation over the interval, in the earlier frame
    angle = np.arccos(np.clip((np.trace(delta) - 1) / 2, -1.0, 1.0))
    axis = np.array([delta[2, 1] - delta[1, 2], delta[0, 2] - delta[2, 0], delta[1, 0] - delta[0, 1]])
    norm = np.linalg.norm(axis)
    angular = axis / norm * angle / dt_s if norm > 1e-12 else np.zeros(3)
    return linear, angular


# -- boxes -----------------------------------------------------------------------------------
def _marker(stamp_ns, frame_id, ns, marker_id, action, pose=None, scale=(0, 0, 0), rgba=(0, 0, 0, 0), text=''):
    m = _t('visualization_msgs/msg/Marker')
    r, g, b, a = (float(v) for v in rgba)
    return m(header=header(stamp_ns, frame_id), ns=ns, id=int(marker_id), type=m.CUBE, action=action,
             pose=pose if pose is not None else pose_msg(np.eye(4)), scale=_vector3(scale),
             color=_t('std_msgs/msg/ColorRGBA')(r=r, g=g, b=b, a=a),
             lifetime=_t('builtin_interfaces/msg/Duration')(sec=0, nanosec=0), frame_locked=False,
             points=[], colors=[], texture_resource='',
             texture=_t('sensor_msgs/msg/CompressedImage')(header=header(0, ''), format='',
                                                           data=np.zeros(0, np.uint8)),
             uv_coordinates=[], text=text, mesh_resource='',
             mesh_file=_t('visualization_msgs/msg/MeshFile')(filename='', data=np.zeros(0, np.uint8)),
             mesh_use_embedded_materials=False)


def box_markers(boxes: Boxes | None, stamp_ns: int, frame_id: str):
    """Boxes -> MarkerArray: a DELETEALL first, then one CUBE per box; ns = Occ3D class name,
    text = instance id, scale = (length, width, height) along the box's own x y z."""
    m = _t('visualization_msgs/msg/Marker')
    markers = [_marker(stamp_ns, frame_id, '', 0, m.DELETEALL)]
    if boxes is not None:
        for k in range(len(boxes)):
            class_id = int(boxes.class_ids[k])
            width, length, height = boxes.sizes[k]
            rgb = OCC3D_COLORS[class_id] / 255.0 if class_id < len(OCC3D_COLORS) else (1.0, 1.0, 1.0)
            markers.append(_marker(stamp_ns, frame_id, _class_name(class_id), k, m.ADD,
                                   pose_msg(boxes.poses[k]), (length, width, height), (*rgb, 0.5),
                                   str(boxes.instance_ids[k])))
    return _t('visualization_msgs/msg/MarkerArray')(markers=markers)


def _class_name(class_id: int) -> str:
    return OCC3D_CLASS_NAMES[class_id] if class_id < len(OCC3D_CLASS_NAMES) else f'class_{class_id}'


def boxes_from_markers(marker_array) -> Boxes:
    """MarkerArray written by `box_markers` -> Boxes in the markers' frame; non-CUBE markers and
    markers whose ns is no Occ3D class name are ignored."""
    m = _t('visualization_msgs/msg/Marker')
    poses, sizes, classes, instances = [], [], [], []
    for marker in marker_array.markers:
        if marker.type != m.CUBE or marker.action != m.ADD or marker.ns not in OCC3D_CLASS_NAMES:
            continue
        poses.append(pose_to_matrix(marker.pose))
        sizes.append((marker.scale.y, marker.scale.x, marker.scale.z))
        classes.append(OCC3D_CLASS_NAMES.index(marker.ns))
        instances.append(marker.text)
    if not poses:
        return Boxes.empty()
    return Boxes(np.stack(poses), sizes, classes, instances)
