"""`BagFrameSource`: a ROS 2 bag (ours, or a user's with its calibration YAML) back to `Frame`s.

One Frame per LiDAR scan. The scan's ego pose comes from the tf tree (/tf and /tf_static, the
base frame's chain up to its root, e.g. map -> odom -> base_link) or else odometry; each camera image is attached to one scan (see `camera_sync.py`) and its `cam_to_ego`
is rebuilt as the writer folded it: inv(ego_to_world(t_lidar)) @ ego_to_world(t_cam) @ cam_to_base.
Two passes over the bag: the first reads stamps, poses, camera infos and boxes, the second the
clouds and images. Anything unusable is logged once per kind and counted in `report`."""
from __future__ import annotations

import logging
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from loc_core.data.calibration import RigCalibration, load_calibration
from loc_core.data.frame import CameraView, Frame
from loc_core.data.nuscenes_source import BlobError, decode_jpeg
from loc_core.geometry.transforms import compose, invert
from rosbags_tools import conventions as C
from rosbags_tools import messages as M
from rosbags_tools.bag_access import BagError, connections_for, guarded_messages, header_stamp_ns, open_bag
from rosbags_tools.camera_sync import SYNC_POLICIES, assign_images
from rosbags_tools.images import looks_like_jpeg, raw_image_to_rgb
from rosbags_tools.pointcloud import decode_pointcloud
from loc_core.geometry.pose_track import PoseLookupError, PoseTrack, TransformTree

LOG = logging.getLogger(__name__)


def resolve_calibration(bag, calibration) -> RigCalibration:
    """A RigCalibration, a YAML path, or None = the calibration.yaml inside the bag folder."""
    if isinstance(calibration, RigCalibration):
        return calibration
    path = Path(calibration) if calibration is not None else Path(bag) / C.CALIBRATION_FILE
    if calibration is None and not path.is_file():
        raise BagError(f'{bag} has no {C.CALIBRATION_FILE}; pass the rig calibration YAML (--calibration)')
    return load_calibration(path)


class _Index:
    """First pass: scan stamps, image stamps per camera, ego poses, camera infos, boxes."""

    def __init__(self):
        self.scan_stamps: list[int] = []
        self.image_stamps: dict[str, list[int]] = defaultdict(list)
        self.tf = TransformTree()
        self.odom = PoseTrack()
        self.infos: dict[str, dict[int, object]] = defaultdict(dict)
        self.boxes: dict[int, object] = {}


class BagFrameSource:
    """Iterates the Frames of a bag in time order.

    `calibration`: RigCalibration, YAML path, or None for the bag's own calibration.yaml.
    `camera_sync`: 'nearest' or 'sweep' (None = what the bag's metadata says, else 'nearest').
    `decode_images`: False leaves black images of the right size (JPEG bytes are kept either way).
    `odom_topic`: nav_msgs/Odometry of the base frame, used when the tf tree has no poses of it."""

    def __init__(self, bag, calibration=None, camera_sync: str | None = None,
                 max_camera_offset_ms: float = 100.0, decode_images: bool = True, odom_topic: str = C.ODOM_TOPIC):
        self.bag = Path(bag)
        self.odom_topic = odom_topic
        self.calibration = resolve_calibration(bag, calibration)
        if camera_sync is not None and camera_sync not in SYNC_POLICIES:
            raise ValueError(f'camera_sync must be one of {SYNC_POLICIES}, got {camera_sync!r}')
        self.camera_sync = camera_sync
        self.max_camera_offset_ns = int(max_camera_offset_ms * 1e6)
        self.decode_images = decode_images
        self.report: Counter = Counter()
        self._cameras = {cam.image_topic: cam for cam in self.calibration.cameras}
        self._infos = {cam.info_topic: cam for cam in self.calibration.cameras}

    def __iter__(self):
        with open_bag(self.bag) as reader:
            topics = {c.topic for c in reader.connections}
            if self.calibration.lidar_topic not in topics:
                raise BagError(f'{self.bag} has no topic {self.calibration.lidar_topic}; it has {sorted(topics)}')
            index = self._index(reader)
            stamps = sorted(set(index.scan_stamps))
            if len(stamps) < len(index.scan_stamps):
                self.report['duplicate scans'] += len(index.scan_stamps) - len(stamps)
            index.scan_stamps = stamps
            policy = self.camera_sync or _bag_custom(reader).get('loc_bag.camera_sync', 'nearest')
            wanted = assign_images(index.scan_stamps, index.image_stamps, policy, self.max_camera_offset_ns,
                                   self.report)
            yield from self._frames(reader, index, wanted)
        if self.report:
            LOG.warning('%s: left out %s', self.bag, dict(self.report))

    # -- first pass ------------------------------------------------------------------------
    def _index(self, reader) -> _Index:
        cal, index = self.calibration, _Index()
        topics = [cal.lidar_topic, C.TF_TOPIC, C.TF_STATIC_TOPIC, self.odom_topic, C.MARKERS_TOPIC, *self._cameras, *self._infos]
        for connection, _, raw in guarded_messages(reader, connections_for(reader, topics)):
            topic = connection.topic
            try:
                if topic == cal.lidar_topic:
                    index.scan_stamps.append(header_stamp_ns(raw))
                elif topic in self._cameras:
                    index.image_stamps[self._cameras[topic].name].append(header_stamp_ns(raw))
                else:
                    self._index_message(index, topic, C.typestore().deserialize_cdr(raw, connection.msgtype))
            except Exception as exc:  # a malformed message must not end the whole bag
                self._drop(f'malformed {topic}', f'{topic}: malformed message ({exc})')
        return index

    def _index_message(self, index: _Index, topic: str, msg):
        base = self.calibration.base_frame
        if topic == C.TF_TOPIC:
            for tf in msg.transforms:
                index.tf.add(tf.header.frame_id, tf.child_frame_id, M.time_ns(tf.header.stamp),
                             M.transform_to_matrix(tf.transform))
        elif topic == C.TF_STATIC_TOPIC:
            for tf in msg.transforms:
                index.tf.add_static(tf.header.frame_id, tf.child_frame_id, M.transform_to_matrix(tf.transform))
        elif topic == self.odom_topic:
            if msg.child_frame_id == base:
                index.odom.add(M.time_ns(msg.header.stamp), M.pose_to_matrix(msg.pose.pose))
        elif topic == C.MARKERS_TOPIC:
            index.boxes[M.time_ns(msg.markers[0].header.stamp) if msg.markers else -1] = M.boxes_from_markers(msg)
        elif topic in self._infos:
            index.infos[self._infos[topic].name][M.time_ns(msg.header.stamp)] = msg

    # -- second pass -----------------------------------------------------------------------
    def _frames(self, reader, index: _Index, wanted: dict):
        """wanted: scan index -> {camera name: image stamp}."""
        cal = self.calibration
        scan_of = {stamp: i for i, stamp in enumerate(index.scan_stamps)}
        poses = self._ego_poses(index)
        owner = {(name, image_stamp): i for i, cams in wanted.items() for name, image_stamp in cams.items()}
        clouds, images, next_scan = {}, defaultdict(dict), 0
        topics = [cal.lidar_topic, *self._cameras]
        for connection, _, raw in guarded_messages(reader, connections_for(reader, topics)):
            try:
                stamp = header_stamp_ns(raw)
            except BagError:
                continue  # counted as malformed in the first pass
            if connection.topic == cal.lidar_topic:
                i = scan_of.get(stamp)
                if i is not None and i not in clouds and i >= next_scan:  # duplicates: counted in the first pass
                    clouds[i] = self._cloud(raw, connection.msgtype)
            else:
                name = self._cameras[connection.topic].name
                i = owner.get((name, stamp))
                if i is not None and i >= next_scan:
                    images[i][name] = self._image(raw, connection)
            while next_scan in clouds and len(images[next_scan]) == len(wanted.get(next_scan, {})):
                frame = self._frame(next_scan, clouds.pop(next_scan), images.pop(next_scan), index, poses)
                next_scan += 1
                if frame is not None:
                    yield frame
        for i in sorted(clouds):  # scans whose images never came (the bag's order differs)
            frame = self._frame(i, clouds.pop(i), images.pop(i, {}), index, poses)
            if frame is not None:
                yield frame

    def _cloud(self, raw, msgtype):
        try:
            msg = C.typestore().deserialize_cdr(raw, msgtype)
            return msg.header.frame_id, decode_pointcloud(msg)
        except Exception as exc:  # PointCloudError or a malformed message
            self._drop('unreadable clouds', f'unreadable point cloud ({exc}); scan skipped')
            return None

    def _image(self, raw, connection):
        try:
            return C.typestore().deserialize_cdr(raw, connection.msgtype)
        except Exception as exc:  # a malformed message
            self._drop(f'malformed {connection.topic}', f'{connection.topic}: malformed message ({exc})')
            return None

    def _ego_poses(self, index: _Index):
        """stamp -> (4,4) ego_to_world: the tf chain of the base frame, else odometry, else None."""
        base = self.calibration.base_frame
        if index.tf.conflicts:
            self.report['tf edges with a second parent'] += index.tf.conflicts
        if base in index.tf:
            return lambda stamp: index.tf.to_root(base, stamp)
        if len(index.odom):
            return index.odom.at
        self._drop('no ego poses', f'{self.bag}: no {base} poses on /tf or {self.odom_topic}; ego_to_world = identity')
        return None

    def _frame(self, i: int, cloud, image_msgs: dict, index: _Index, poses) -> Frame | None:
        if cloud is None:
            return None
        stamp = index.scan_stamps[i]
        frame_id, decoded = cloud
        if decoded.dropped_nonfinite:
            self.report['non-finite points'] += decoded.dropped_nonfinite
        if not len(decoded.points):
            self._drop('empty clouds', f'scan at {stamp} has no (finite) points; skipped')
            return None
        try:
            ego_to_world = poses(stamp) if poses else np.eye(4)
        except PoseLookupError as exc:
            self._drop('scans without ego pose', f'scan at {stamp}: {exc}; skipped')
            return None
        cameras = [cam for cam in (self._camera(name, msg, ego_to_world, index, poses)
                                   for name, msg in image_msgs.items() if msg is not None) if cam is not None]
        cameras.sort(key=lambda cam: [c.name for c in self.calibration.cameras].index(cam.name))
        return Frame(timestamp_ns=stamp, points=decoded.points, intensity=decoded.intensity, ring=decoded.ring,
                     lidar_to_ego=self._lidar_to_ego(frame_id), ego_to_world=ego_to_world, cameras=cameras,
                     boxes=index.boxes.get(stamp), scene=self.bag.name, token=str(stamp),
                     is_keyframe=bool(cameras) or not self.calibration.cameras)

    def _lidar_to_ego(self, frame_id: str) -> np.ndarray:
        cal = self.calibration
        if frame_id == cal.base_frame:
            return np.eye(4)
        if frame_id != cal.lidar_frame:
            self._drop('clouds in an unknown frame',
                       f'cloud frame {frame_id!r} is neither {cal.lidar_frame!r} nor {cal.base_frame!r}; '
                       f'using the calibration\'s LiDAR mount')
        return cal.lidar_to_base

    def _camera(self, name, msg, ego_to_world, index: _Index, poses) -> CameraView | None:
        """A CompressedImage (JPEG kept as is) or a raw Image message -> CameraView."""
        cal = self.calibration.camera(name)
        stamp = M.time_ns(msg.header.stamp)
        is_raw = hasattr(msg, 'encoding')  # sensor_msgs/Image
        payload = None if is_raw else msg.data.tobytes()
        intrinsics, width, height = self._intrinsics(name, stamp, index)
        try:
            cam_ego_to_world = poses(stamp) if poses else ego_to_world
            if is_raw:
                image = raw_image_to_rgb(msg)
            else:
                image = decode_jpeg(payload) if self.decode_images else np.zeros((height, width, 3), np.uint8)
        except (PoseLookupError, BlobError, ValueError) as exc:
            self._drop('cameras left out', f'{name} at {stamp}: {exc}; camera left out')
            return None
        cam_to_ego = compose(invert(ego_to_world), cam_ego_to_world, cal.cam_to_base)
        return CameraView(name=name, image=image, intrinsics=intrinsics, cam_to_ego=cam_to_ego,
                          jpeg=payload if looks_like_jpeg(payload) else None, timestamp_ns=stamp)

    def _intrinsics(self, name: str, stamp: int, index: _Index):
        """K, width, height from the CameraInfo at this stamp, else the nearest one, else the YAML."""
        infos = index.infos.get(name)
        if infos:
            info = infos.get(stamp) or infos[min(infos, key=lambda s: abs(s - stamp))]
            try:
                return M.intrinsics_from_camera_info(info), int(info.width), int(info.height)
            except ValueError as exc:
                self._drop('unusable camera_info', f'{exc}; using the calibration YAML')
        cal = self.calibration.camera(name)
        return cal.intrinsics, cal.width, cal.height

    def _drop(self, reason: str, detail: str):
        if not self.report[reason]:
            LOG.warning('%s (further ones only counted)', detail)
        self.report[reason] += 1


def _bag_custom(reader) -> dict:
    metadata = getattr(reader.storage, 'metadata', None)
    return dict(getattr(metadata, 'custom', None) or {})
