"""One `Frame` -> the ROS messages that carry it, per the rig calibration.

Per frame: the cloud on the LiDAR topic, world -> base_link on /tf at the LiDAR stamp and at
every camera stamp (nuScenes cameras fire at other instants than the LiDAR), /odom, the boxes
as a MarkerArray, and per camera its JPEG and CameraInfo. The ego pose at a camera's stamp is
recovered from `cam_to_ego` (which folds in the ego motion) and the static camera mount:
ego_to_world(t_cam) = ego_to_world(t_lidar) @ cam_to_ego @ inv(cam_to_base)."""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np

from loc_core.data.calibration import RigCalibration
from loc_core.data.frame import CameraView, Frame
from loc_core.geometry.transforms import compose, invert
from rosbags_tools import conventions as C
from rosbags_tools import messages as M
from rosbags_tools.images import encode_jpeg, looks_like_jpeg
from rosbags_tools.pointcloud import encode_pointcloud

LOG = logging.getLogger(__name__)


@dataclass
class Outgoing:
    """One message to write: topic, type name, stamp (ns) and the message object."""

    topic: str
    msgtype: str
    stamp_ns: int
    message: object


def topics_and_types(calibration: RigCalibration) -> list[tuple[str, str]]:
    """Every (topic, type) a bag of this rig holds, in a stable order."""
    out = [(calibration.lidar_topic, C.POINTCLOUD2)]
    for cam in calibration.cameras:
        out += [(cam.image_topic, C.COMPRESSED_IMAGE), (cam.info_topic, C.CAMERA_INFO)]
    return out + [(C.TF_TOPIC, C.TF_MESSAGE), (C.TF_STATIC_TOPIC, C.TF_MESSAGE),
                  (C.ODOM_TOPIC, C.ODOMETRY), (C.MARKERS_TOPIC, C.MARKER_ARRAY)]


def static_transforms(calibration: RigCalibration, stamp_ns: int) -> Outgoing:
    """base_link -> every sensor frame, for /tf_static."""
    base = calibration.base_frame
    transforms = [M.transform_stamped(calibration.lidar_to_base, stamp_ns, base, calibration.lidar_frame)]
    transforms += [M.transform_stamped(cam.cam_to_base, stamp_ns, base, cam.frame_id)
                   for cam in calibration.cameras]
    return Outgoing(C.TF_STATIC_TOPIC, C.TF_MESSAGE, stamp_ns, M.tf_message(transforms))


class FrameEncoder:
    """Turns Frames into Outgoing messages; keeps the previous ego pose for the odometry twist
    and counts what it had to leave out in `dropped` (camera not in the calibration, image
    bytes that are no JPEG)."""

    def __init__(self, calibration: RigCalibration, world_frame: str = C.WORLD_FRAME):
        self.calibration = calibration
        self.world_frame = world_frame
        self.dropped: Counter = Counter()
        self._previous: tuple[int, np.ndarray] | None = None
        self._mount_inverse = {cam.name: invert(cam.cam_to_base) for cam in calibration.cameras}

    def encode(self, frame: Frame) -> list[Outgoing]:
        cal, stamp = self.calibration, int(frame.timestamp_ns)
        out = [Outgoing(cal.lidar_topic, C.POINTCLOUD2, stamp,
                        encode_pointcloud(frame.points, frame.intensity, frame.ring, stamp, cal.lidar_frame)),
               self._ego_tf(frame.ego_to_world, stamp), self._odometry(frame)]
        if frame.boxes is not None:
            out.append(Outgoing(C.MARKERS_TOPIC, C.MARKER_ARRAY, stamp,
                                M.box_markers(frame.boxes, stamp, cal.base_frame)))
        tf_stamps = {stamp}
        for cam in frame.cameras:
            out += self._camera(frame, cam, tf_stamps)
        return out

    def _ego_tf(self, ego_to_world, stamp_ns: int) -> Outgoing:
        tf = M.transform_stamped(ego_to_world, stamp_ns, self.world_frame, self.calibration.base_frame)
        return Outgoing(C.TF_TOPIC, C.TF_MESSAGE, stamp_ns, M.tf_message([tf]))

    def _odometry(self, frame: Frame) -> Outgoing:
        stamp = int(frame.timestamp_ns)
        prev_stamp, prev_pose = self._previous or (stamp, None)
        linear, angular = M.ego_twist(prev_pose, frame.ego_to_world, (stamp - prev_stamp) / 1e9)
        self._previous = (stamp, frame.ego_to_world)
        return Outgoing(C.ODOM_TOPIC, C.ODOMETRY, stamp,
                        M.odometry(frame.ego_to_world, stamp, linear, angular, self.world_frame,
                                   self.calibration.base_frame))

    def _camera(self, frame: Frame, cam: CameraView, tf_stamps: set) -> list[Outgoing]:
        try:
            cal = self.calibration.camera(cam.name)
        except KeyError:
            self._drop('camera_not_in_calibration', f'camera {cam.name} is not in the calibration')
            return []
        payload = cam.jpeg if cam.jpeg is not None else encode_jpeg(cam.image)
        if not looks_like_jpeg(payload):
            self._drop('corrupt_images', f'{cam.name} at {cam.timestamp_ns}: image bytes are no complete JPEG')
            return []
        stamp = int(cam.timestamp_ns) or int(frame.timestamp_ns)
        width, height = cam.image_size
        out = [Outgoing(cal.image_topic, C.COMPRESSED_IMAGE, stamp, M.compressed_image(payload, stamp, cal.frame_id)),
               Outgoing(cal.info_topic, C.CAMERA_INFO, stamp,
                        M.camera_info(cam.intrinsics, width, height, stamp, cal.frame_id))]
        if stamp not in tf_stamps:
            tf_stamps.add(stamp)
            out.append(self._ego_tf(compose(frame.ego_to_world, cam.cam_to_ego, self._mount_inverse[cam.name]),
                                    stamp))
        return out

    def _drop(self, reason: str, detail: str):
        if not self.dropped[reason]:
            LOG.warning('%s (further ones only counted)', detail)
        self.dropped[reason] += 1
