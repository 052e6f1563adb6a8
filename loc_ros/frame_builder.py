"""Synchronised ROS messages + the rig calibration -> `loc_core.data.Frame`.

Extrinsics come from the calibration YAML (LiDAR -> base, camera -> base; base = the ego frame of
the Frame, ego_to_world = identity since the node needs no odometry). Intrinsics come from each
camera's latest CameraInfo when one arrived (it must match the image size), else from the YAML.
Any problem raises `conversions.InputError` with a counter key; the frame is then dropped."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loc_core.data.calibration import CameraCalibration, RigCalibration
from loc_core.data.frame import CameraView, Frame
from loc_ros.conversions import (DECODE_REDUCTIONS, InputError, camera_info_to_k, compressed_image_to_rgb,
                                 image_to_rgb, pointcloud2_to_xyzi, stamp_to_ns)


def is_compressed_topic(topic: str) -> bool:
    """Image topics ending in '/compressed' carry sensor_msgs/CompressedImage, others Image."""
    return topic.rstrip('/').endswith('/compressed')


@dataclass
class BuiltFrame:
    frame: Frame
    nan_points_dropped: int


def _check_frame_id(kind: str, got: str, expected: str) -> None:
    if got and expected and got != expected:
        raise InputError('wrong_frame_id', f'{kind} header.frame_id {got!r}, calibration says {expected!r}')


def decode_reduction(image_size: tuple[int, int], needed_size: tuple[int, int] | None) -> int:
    """The largest JPEG decode reduction (1, 2, 4, 8) that keeps an image of `image_size` (width,
    height) at least `needed_size` (the model's input size); 1 when that is unknown."""
    if not needed_size:
        return 1
    fitting = [r for r in DECODE_REDUCTIONS
               if image_size[0] // r >= needed_size[0] and image_size[1] // r >= needed_size[1]]
    return max(fitting, default=1)


def camera_view(cam: CameraCalibration, msg, info_msg, needed_size: tuple[int, int] | None = None) -> CameraView:
    """One image message (Image or CompressedImage) -> CameraView in the base frame. Compressed
    images are decoded directly at a reduced size when `needed_size` (width, height) allows; K is
    scaled to the decoded pixels."""
    _check_frame_id(f'camera {cam.name}', msg.header.frame_id, cam.frame_id)
    if info_msg is not None:
        k, info_w, info_h = camera_info_to_k(info_msg)
    else:
        k, info_w, info_h = cam.intrinsics, cam.width, cam.height
    reduction = 1
    if hasattr(msg, 'format'):
        reduction = decode_reduction((info_w, info_h), needed_size)
        image = compressed_image_to_rgb(msg, reduction)
    else:
        image = image_to_rgb(msg)
    height, width = image.shape[:2]
    expected = (-(-info_w // reduction), -(-info_h // reduction))
    if (width, height) != expected:
        source = 'CameraInfo' if info_msg is not None else 'calibration'
        scale = f' (decoded at 1/{reduction})' if reduction > 1 else ''
        raise InputError('size_mismatch', f'camera {cam.name}: image is {width}x{height}{scale} but its '
                                          f'{source} says {info_w}x{info_h}')
    if reduction > 1:
        k = k.copy()
        k[0] *= width / info_w
        k[1] *= height / info_h
    return CameraView(name=cam.name, image=image, intrinsics=k, cam_to_ego=cam.cam_to_base,
                      timestamp_ns=stamp_to_ns(msg.header.stamp))


def build_frame(calibration: RigCalibration, cameras: list[CameraCalibration], lidar_msg,
                image_msgs: dict, camera_infos: dict, needed_size: tuple[int, int] | None = None,
                pool=None) -> BuiltFrame:
    """`lidar_msg` PointCloud2; `image_msgs` camera name -> image message; `camera_infos` camera name
    -> latest CameraInfo (or absent); `needed_size` the model's image input size (width, height)
    for reduced decoding; `pool` an optional concurrent.futures executor to decode cameras in
    parallel (OpenCV releases the GIL). Points stay in the LiDAR frame (Frame convention)."""
    _check_frame_id('LiDAR', lidar_msg.header.frame_id, calibration.lidar_frame)
    points, intensity, nan_dropped = pointcloud2_to_xyzi(lidar_msg)
    missing = [cam.name for cam in cameras if cam.name not in image_msgs]
    if missing:
        raise InputError('missing_camera', f'no image from camera(s) {missing}')
    jobs = [(cam, image_msgs[cam.name], camera_infos.get(cam.name), needed_size) for cam in cameras]
    views = list(pool.map(lambda job: camera_view(*job), jobs)) if pool else [camera_view(*job) for job in jobs]
    frame = Frame(timestamp_ns=stamp_to_ns(lidar_msg.header.stamp), points=points, intensity=intensity,
                  lidar_to_ego=calibration.lidar_to_base, ego_to_world=np.eye(4), cameras=views,
                  scene='live', token=f'{stamp_to_ns(lidar_msg.header.stamp)}')
    return BuiltFrame(frame, nan_dropped)
