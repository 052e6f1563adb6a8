"""Small, fully known Frames and rig for the rosbags_tools tests (no sample data needed)."""
from __future__ import annotations

import numpy as np

from loc_core.data.boxes import Boxes
from loc_core.data.calibration import CameraCalibration, RigCalibration
from loc_core.data.frame import CameraView, Frame
from loc_core.geometry.transforms import compose, invert, make_transform, yaw_transform

T0_NS = 1_700_000_000_000_000_000
FRAME_PERIOD_NS = 100_000_000
CAMERA_LAG_NS = 20_000_000  # cameras fire 20 ms before the LiDAR stamp
LIDAR_MOUNT = make_transform([0.9, 0.0, 1.8], [0.7071068, 0.0, 0.0, -0.7071068])
# optical frame (x right, y down, z forward) looking along the ego's +x
CAMERA_MOUNT = make_transform([1.5, 0.1, 1.6], [0.5, -0.5, 0.5, -0.5])
K = np.array([[50.0, 0.0, 32.0], [0.0, 50.0, 24.0], [0.0, 0.0, 1.0]])


def ego_pose(stamp_ns: int) -> np.ndarray:
    """The ego drives along a gentle left curve at 5 m/s."""
    t = (stamp_ns - T0_NS) / 1e9
    return yaw_transform(100.0 + 5.0 * t, -20.0 + 0.2 * t * t, 0.3, 0.1 * t)


def toy_calibration(camera_name: str = 'CAM_FRONT') -> RigCalibration:
    cam = CameraCalibration(name=camera_name, frame_id=camera_name.lower(),
                            image_topic=f'/{camera_name.lower()}/image_rect/compressed',
                            info_topic=f'/{camera_name.lower()}/camera_info', width=64, height=48,
                            intrinsics=K, cam_to_base=CAMERA_MOUNT)
    return RigCalibration(base_frame='base_link', lidar_frame='lidar_top', lidar_topic='/lidar_top/points',
                          lidar_to_base=LIDAR_MOUNT, cameras=[cam])


def toy_frames(count: int = 3, points: int = 500, seed: int = 0) -> list[Frame]:
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(count):
        stamp = T0_NS + k * FRAME_PERIOD_NS
        cam_stamp = stamp - CAMERA_LAG_NS
        ego_to_world = ego_pose(stamp)
        cam_to_ego = compose(invert(ego_to_world), ego_pose(cam_stamp), CAMERA_MOUNT)
        rows, cols = np.mgrid[0:48, 0:64]  # smooth, so a JPEG re-encode stays close
        image = np.stack([rows * 5, cols * 4, np.full_like(rows, 40 * k)], axis=-1).astype(np.uint8)
        boxes = Boxes.from_xyzwlhyaw([[10.0, 2.0, 0.5, 1.9, 4.5, 1.6, 0.3], [5.0, -3.0, 0.8, 0.6, 0.7, 1.7, -1.2]],
                                     [4, 7], [f'car-{seed}', f'ped-{seed}'])
        frames.append(Frame(
            timestamp_ns=stamp, points=rng.normal(0, 10, size=(points, 3)).astype(np.float32),
            intensity=rng.uniform(0, 255, points).astype(np.float32),
            ring=rng.integers(0, 32, points).astype(np.uint8), lidar_to_ego=LIDAR_MOUNT,
            ego_to_world=ego_to_world, boxes=boxes, scene='toy', token=str(k),
            cameras=[CameraView(name='CAM_FRONT', image=image, intrinsics=K, cam_to_ego=cam_to_ego,
                                timestamp_ns=cam_stamp)]))
    return frames
