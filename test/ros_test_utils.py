"""Helpers shared by the loc_ros tests: real OccupancyResults and ROS isolation."""
from __future__ import annotations

import os

import numpy as np

from loc_core.geometry.voxel_grid import VoxelGrid
from loc_core.inference.result import FREE_LABEL, OccupancyResult

ROS_DOMAIN_FOR_TESTS = {'test_cdr_outputs': 51, 'test_node_e2e': 52, 'test_node_malformed': 53,
                        'test_node_params': 54, 'test_node_main': 55, 'test_node_bag': 56, 'test_node_model': 57,
                        'test_node_time': 58}
ROS_DOMAIN_FOR_TESTS['test_node_semantickitti_bag'] = 45


def ros_domain(base: int) -> int:
    """The DDS domain of a test whose own domain is `base`, shifted by LOC_TEST_DOMAIN_OFFSET (default 0)
    so that several checkouts on one machine can run their ROS tests at once without seeing each other."""
    return base + int(os.environ.get('LOC_TEST_DOMAIN_OFFSET', '0'))


def isolate_ros(module_name: str) -> None:
    """Put this test module on its own DDS domain (50-69, see ros_domain), localhost only, before rclpy.init."""
    os.environ['ROS_DOMAIN_ID'] = str(ros_domain(ROS_DOMAIN_FOR_TESTS[module_name]))
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'


def result_from_labels(labels: np.ndarray, prompts, class_ids, grid: VoxelGrid | None = None,
                       timestamp_ns: int = 0, feature_dim: int = 8) -> OccupancyResult:
    """An OccupancyResult whose occupancy/scores/features follow from `labels` (X,Y,Z) uint8."""
    grid = grid or VoxelGrid()
    labels = np.asarray(labels, dtype=np.uint8)
    occupied = labels != FREE_LABEL
    index = np.argwhere(occupied)
    scores = np.where(occupied, 0.5, 0.0).astype(np.float32)
    features = np.zeros((len(index), feature_dim), dtype=np.float32)
    features[:, 0] = 1.0
    return OccupancyResult(labels=labels, occupancy=occupied.astype(np.float32), scores=scores,
                           occupied_indices=index, feature_coefficients=features, prompts=tuple(prompts),
                           class_ids=np.asarray(class_ids), grid=grid, timestamp_ns=timestamp_ns)


def random_result(num_occupied: int, prompts, class_ids, seed: int = 0, timestamp_ns: int = 0,
                  unknown_fraction: float = 0.1) -> OccupancyResult:
    """A result on the Occ3D grid with `num_occupied` voxels spread over the prompts and unknown."""
    grid = VoxelGrid()
    rng = np.random.default_rng(seed)
    labels = np.full(grid.shape, FREE_LABEL, dtype=np.uint8)
    flat = rng.choice(grid.num_voxels, size=num_occupied, replace=False)
    values = rng.integers(0, len(prompts), size=num_occupied).astype(np.uint8)
    values[rng.random(num_occupied) < unknown_fraction] = 254
    labels.reshape(-1)[flat] = values
    return result_from_labels(labels, prompts, class_ids, grid, timestamp_ns)


class HeightBandPredictor:
    """Stand-in for loc_core's LocPredictor in node tests (same predict/set_prompts interface): it
    voxelises the ego-frame LiDAR points and gives each occupied voxel the prompt of its height band
    (prompt i covers z layers [i*Z/P, (i+1)*Z/P)); voxels hit by a single point are unknown.
    It also records every camera set it saw."""

    def __init__(self, grid: VoxelGrid | None = None):
        self.grid = grid or VoxelGrid()
        self.prompts: tuple = ()
        self.camera_sets: list = []
        self.set_prompts_calls = 0

    def set_prompts(self, prompts, class_ids=None) -> None:
        self.prompts = tuple(prompts)
        self.set_prompts_calls += 1

    def predict(self, frame) -> OccupancyResult:
        from loc_ros.parameters import prompt_class_ids

        self.camera_sets.append({c.name: c.image.shape for c in frame.cameras})
        points = frame.points_ego()
        points = points[self.grid.in_range(points)]
        index = self.grid.point_to_index(points)
        flat = self.grid.flat_index(index)
        hits = np.bincount(flat, minlength=self.grid.num_voxels).reshape(self.grid.shape)
        labels = np.full(self.grid.shape, FREE_LABEL, dtype=np.uint8)
        z_band = (np.arange(self.grid.shape[2]) * len(self.prompts)) // self.grid.shape[2]
        band = np.broadcast_to(z_band.astype(np.uint8), self.grid.shape)
        labels[hits >= 2] = band[hits >= 2]
        labels[hits == 1] = 254
        return result_from_labels(labels, self.prompts, prompt_class_ids(self.prompts), self.grid,
                                  frame.timestamp_ns)


def frame_to_messages(frame, calibration, stamp_ns: int) -> dict:
    """A loc_core Frame -> {topic: message} as a robot would publish it: PointCloud2 in the LiDAR
    frame, per camera an Image (rgb8) or CompressedImage (JPEG; the frame's own bytes when it has
    them) by topic name, and a CameraInfo."""
    import cv2
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image

    from loc_ros.conversions import ns_to_stamp, xyzi_to_pointcloud2
    from loc_ros.frame_builder import is_compressed_topic

    stamp = ns_to_stamp(stamp_ns, Time)
    out = {calibration.lidar_topic: xyzi_to_pointcloud2(frame.points, frame.intensity, stamp_ns,
                                                        calibration.lidar_frame)}
    for cam in calibration.cameras:
        view = frame.camera(cam.name)
        if is_compressed_topic(cam.image_topic):
            data = view.jpeg or cv2.imencode('.jpg', view.image[:, :, ::-1])[1].tobytes()
            image = CompressedImage(format='jpeg', data=data)
        else:
            h, w = view.image.shape[:2]
            image = Image(height=h, width=w, encoding='rgb8', step=3 * w, data=view.image.tobytes())
        image.header.stamp, image.header.frame_id = stamp, cam.frame_id
        info = CameraInfo(width=view.image.shape[1], height=view.image.shape[0],
                          k=view.intrinsics.reshape(-1).tolist(), distortion_model='plumb_bob')
        info.header.stamp, info.header.frame_id = stamp, cam.frame_id
        out[cam.image_topic] = image
        out[cam.info_topic] = info
    return out


def calibration_for_frame(frame, compressed: bool = True):
    """A RigCalibration matching a Frame's sensors (what `loc-bag` writes beside a bag)."""
    from loc_core.data.calibration import CameraCalibration, RigCalibration

    suffix = 'image_rect/compressed' if compressed else 'image_rect'
    cameras = [CameraCalibration(name=v.name, frame_id=v.name.lower(), image_topic=f'/{v.name.lower()}/{suffix}',
                                 info_topic=f'/{v.name.lower()}/camera_info', width=v.image.shape[1],
                                 height=v.image.shape[0], intrinsics=v.intrinsics, cam_to_base=v.cam_to_ego)
               for v in frame.cameras]
    return RigCalibration(base_frame='base_link', lidar_frame='lidar_top', lidar_topic='/lidar_top/points',
                          lidar_to_base=frame.lidar_to_ego, cameras=cameras)


def synthetic_frame(timestamp_ns: int = 10**9, seed: int = 0):
    """A small synthetic scene: a ground plane, a box-shaped 'car' and a pole, seen by a LiDAR at
    1.8 m and two 64x48 cameras (front, left) whose images are coloured noise."""
    from loc_core.data.frame import CameraView, Frame
    from loc_core.geometry.transforms import make_transform

    rng = np.random.default_rng(seed)
    ground = np.c_[rng.uniform(-20, 20, (4000, 2)), np.full(4000, -1.75)]
    car = np.c_[rng.uniform(5, 9, 3000), rng.uniform(-1, 1, 3000), rng.uniform(-1.7, -0.2, 3000)]
    pole = np.c_[rng.normal(-6, 0.05, 2000), rng.normal(4, 0.05, 2000), rng.uniform(-1.7, 2.5, 2000)]
    points = np.concatenate([ground, car, pole]).astype(np.float32)
    k = np.array([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]])
    optical = np.array([[0, 0, 1, 0], [-1, 0, 0, 0], [0, -1, 0, 1.5], [0, 0, 0, 1]], dtype=float)
    left = make_transform([0, 0, 0], [np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)]) @ optical
    cams = [CameraView(name=n, image=rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), intrinsics=k,
                       cam_to_ego=t, timestamp_ns=timestamp_ns)
            for n, t in (('CAM_FRONT', optical), ('CAM_LEFT', left))]
    return Frame(timestamp_ns=timestamp_ns, points=points, intensity=np.ones(len(points), np.float32),
                 lidar_to_ego=make_transform([0, 0, 1.8], [1, 0, 0, 0]), ego_to_world=np.eye(4), cameras=cams)


def ros_module_context(module_name: str):
    """Generator for a module-scoped fixture: isolated domain, rclpy.init ... rclpy.shutdown."""
    import rclpy

    isolate_ros(module_name)
    rclpy.init()
    try:
        yield
    finally:
        rclpy.try_shutdown()


def start_node(tmp_path, calibration, predictor=None, outputs=None, **params):
    """Write `calibration` to tmp_path, start a LocNode with `predictor` (a HeightBandPredictor by
    default) and `params`, and wrap it in a Harness. Returns (harness, predictor)."""
    from rclpy.parameter import Parameter
    from ros_harness import Harness

    from loc_core.data.calibration import save_calibration
    from loc_ros.node import LocNode

    path = save_calibration(tmp_path / 'calibration.yaml', calibration)
    predictor = predictor or HeightBandPredictor()
    overrides = [Parameter('calibration_file', value=str(path))]
    overrides += [Parameter(name, value=value) for name, value in params.items()]
    node = LocNode(predictor=predictor, parameter_overrides=overrides)
    return (Harness(node, calibration) if outputs is None else Harness(node, calibration, outputs)), predictor


class GroundTruthPredictor:
    """Stand-in predictor that answers with the ground truth of the source frame carrying the same
    timestamp (Occ3D ids as prompt indices for the 17 Occ3D prompts; free -> FREE_LABEL). It checks
    the node's transport of labels and geometry, and keeps the Frames the node built."""

    def __init__(self, frames):
        self.truth = {f.timestamp_ns: f.occupancy for f in frames}
        self.prompts: tuple = ()
        self.frames_seen: list = []

    def set_prompts(self, prompts, class_ids=None) -> None:
        self.prompts = tuple(prompts)

    def predict(self, frame) -> OccupancyResult:
        from loc_core.data.vocabulary import FREE_ID

        self.frames_seen.append(frame)
        semantics = self.truth[frame.timestamp_ns].semantics
        labels = np.where(semantics == FREE_ID, FREE_LABEL, semantics).astype(np.uint8)
        return result_from_labels(labels, self.prompts, np.arange(len(self.prompts)), VoxelGrid(),
                                  frame.timestamp_ns)
