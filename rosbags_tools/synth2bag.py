"""Synthetic world -> ROS 2 bag (`loc-bag synth2bag`): the same topics and calibration YAML as
nuscenes2bag. Camera images have no source JPEG, so they are encoded here (quality 90)."""
from __future__ import annotations

import itertools

from loc_core.data.calibration import CameraCalibration, RigCalibration
from loc_core.data.frame import Frame
from rosbags_tools import conventions as C
from rosbags_tools.output import check_destination
from rosbags_tools.writer import WriteReport, write_frames_to_bag


def calibration_from_frame(frame: Frame) -> RigCalibration:
    """The rig as one frame sees it: its LiDAR mount and each camera's K, size and mount
    (exact for sources without ego motion between sensor captures, like the synthetic world)."""
    cameras = [CameraCalibration(name=cam.name, frame_id=C.camera_frame(cam.name),
                                 image_topic=C.camera_image_topic(cam.name), info_topic=C.camera_info_topic(cam.name),
                                 width=cam.image_size[0], height=cam.image_size[1], intrinsics=cam.intrinsics,
                                 cam_to_base=cam.cam_to_ego) for cam in frame.cameras]
    return RigCalibration(base_frame=C.BASE_FRAME, lidar_frame=C.LIDAR_FRAME, lidar_topic=C.LIDAR_TOPIC,
                          lidar_to_base=frame.lidar_to_ego, cameras=cameras)


def synthetic_source(seed: int, frames: int):
    """The synthetic world's Frames (lazy import: the simulator is an optional part)."""
    try:
        from loc_core.sim.source import SyntheticSource
    except ImportError as exc:
        raise ImportError(f'the synthetic world (loc_core.sim) is not available: {exc}') from exc
    return SyntheticSource(seed, frames)


def synthetic_to_bag(seed: int, frames: int, out, storage: str = 'mcap', force: bool = False,
                     progress: bool = True) -> WriteReport:
    if frames <= 0:
        raise ValueError(f'--frames must be positive, got {frames}')
    check_destination(out, force)
    iterator = iter(synthetic_source(seed, frames))
    first = next(iterator, None)
    if first is None:
        raise ValueError('the synthetic source yielded no frames')
    report = write_frames_to_bag(itertools.chain([first], iterator), calibration_from_frame(first), out,
                                 storage=storage, force=force, progress=progress, total=frames,
                                 custom_data={'loc_bag.source': f'synthetic seed {seed}',
                                              'loc_bag.camera_sync': 'nearest'},
                                 description=f'synthetic seed {seed}')
    report.source = {'seed': seed}
    return report
