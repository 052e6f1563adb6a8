"""`SemanticKittiSource`: Frames from SemanticKITTI's own layout (`<root>/sequences/XX/`).

Frames, all transforms (4,4) float64, metres:
* LiDAR: the Velodyne HDL-64E frame (x forward, y left, z up); `points` (N,3) float32, `intensity`
  (N,) float32 remission.
* Ego: on the ground below the LiDAR, x forward (the LiDAR's x projected onto the ground), z up
  along the ground's normal. The LiDAR's height and tilt come from a plane fitted to the road in
  the sequence's first scans (`fit_ground`): labelled road/parking/lane-marking points where the
  labels exist, else the lowest returns around the car. One `lidar_to_ego` per sequence (a
  rigid mount), so every scan of a sequence shares it.
* World: the ego frame of the sequence's scan 0. LiDAR poses: `inv(Tr) @ inv(pose_0) @ pose_k @ Tr`
  (SemanticKITTI's poses are camera 0's), so `ego_to_world = L2E @ lidar_pose_k @ inv(L2E)`.
* Camera `image_2` (the left colour camera, rectified): `intrinsics` = P2[:, :3]; P2's fourth
  column is K2 @ t2 with t2 the offset of camera 2 from camera 0 (same rotation, rectified), folded
  into `cam_to_ego = L2E @ inv(Tr) @ translate(-t2)`, so K @ inv(cam_to_ego) @ L2E @ x equals
  P2 @ Tr @ x exactly.
* Labels (where `labels/` exists): `point_labels` Occ3D ids via `semantickitti_classes`,
  `point_instance_ids` object keys (-1 for stuff), `point_moving` True on moving-* points.
* `scene` 'semantickitti-XX', `token` 'XX_NNNNNN', `timestamp_ns` from times.txt."""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from loc_core.data.frame import CameraView, Frame
from loc_core.data.semantickitti_classes import decode_labels
from loc_core.data.semantickitti_files import (SemanticKittiError, list_sequences, normalise_sequence,
                                               read_calibration, read_labels, read_poses, read_scan, read_times,
                                               scan_numbers, sequence_dir)
from loc_core.geometry.transforms import compose

LOG = logging.getLogger(__name__)
CAMERA_NAME = 'image_2'
GROUND_RAW_IDS = (40, 44, 60)  # road, parking, lane-marking: the surface the car stands on
GROUND_FIT_SCANS = 3  # the sequence's first scans whose road defines the LiDAR's mount
GROUND_RADIUS = (4.0, 20.0)  # metres around the LiDAR where the road is fitted


def fit_ground(points_list, masks=None) -> np.ndarray:
    """A plane through the road around the LiDAR -> `lidar_to_ego` (4,4): z along the plane's normal,
    the LiDAR at height h above it, x the LiDAR's x projected onto the plane.

    `points_list`: (N,3) LiDAR-frame arrays; `masks`: per array (N,) bool of road points, or None to
    take, per 1 m map cell, the lowest return at least 1 m below the LiDAR (without labels the
    height comes out within about 0.1 m of the labelled road's on sequences 00-07). Least squares
    z = a x + b y + c, refitted twice without points more than 0.10 m off. SemanticKittiError when
    too few points are left."""
    chosen = []
    for i, points in enumerate(points_list):
        points = np.asarray(points, dtype=np.float64)
        radius = np.linalg.norm(points[:, :2], axis=1)
        keep = (radius >= GROUND_RADIUS[0]) & (radius <= GROUND_RADIUS[1]) & np.all(np.isfinite(points), axis=1)
        if masks is not None and masks[i] is not None:
            chosen.append(points[keep & masks[i]])
        else:
            chosen.append(_lowest_per_cell(points[keep & (points[:, 2] < -1.0)]))
    ground = np.concatenate(chosen) if chosen else np.zeros((0, 3))
    for tolerance in (None, 0.25, 0.10):
        if len(ground) < 200:
            raise SemanticKittiError(f'cannot find the ground below the LiDAR: {len(ground)} road points '
                                     f'within {GROUND_RADIUS[1]:g} m')
        design = np.column_stack([ground[:, 0], ground[:, 1], np.ones(len(ground))])
        coeffs, *_ = np.linalg.lstsq(design, ground[:, 2], rcond=None)
        if tolerance is not None:
            residual = np.abs(design @ coeffs - ground[:, 2])
            ground = ground[residual <= tolerance]
    a, b, c = coeffs
    normal = np.array([-a, -b, 1.0]) / np.sqrt(a * a + b * b + 1.0)
    height = -c / np.sqrt(a * a + b * b + 1.0)  # the LiDAR origin's distance above the plane
    x_axis = np.array([1.0, 0.0, 0.0]) - normal[0] * normal
    x_axis /= np.linalg.norm(x_axis)
    lidar_to_ego = np.eye(4)
    lidar_to_ego[:3, :3] = np.stack([x_axis, np.cross(normal, x_axis), normal])
    lidar_to_ego[2, 3] = height
    return lidar_to_ego


def _lowest_per_cell(points, cell: float = 1.0) -> np.ndarray:
    """(N,3) -> the lowest point of each `cell`-metre (x, y) cell."""
    keys = np.floor(points[:, :2] / cell).astype(np.int64)
    order = np.lexsort((points[:, 2], keys[:, 1], keys[:, 0]))
    keys = keys[order]
    first = np.ones(len(keys), dtype=bool)
    first[1:] = np.any(keys[1:] != keys[:-1], axis=1)
    return points[order][first]


def camera_to_cam0(projection) -> np.ndarray:
    """A rectified camera's (3,4) projection P = K @ [I | t] -> (K (3,3), cam_to_cam0 (4,4))."""
    projection = np.asarray(projection, dtype=np.float64)
    intrinsics = projection[:, :3].copy()
    offset = np.linalg.solve(intrinsics, projection[:, 3])  # t: camera-0 coordinates + t = this camera's
    cam_to_cam0 = np.eye(4)
    cam_to_cam0[:3, 3] = -offset
    return intrinsics, cam_to_cam0


class SemanticKittiSource:
    """The scans of one sequence as Frames, in scan order. `scans`: scan numbers (None: every scan
    with a velodyne file); `load_images`: decode image_2 (False: a black image of the right size);
    `with_camera`: False leaves the camera out; `with_labels`: None uses labels where `labels/`
    exists, True requires them, False ignores them. `report` counts unknown label ids."""

    def __init__(self, root, sequence: str, scans=None, load_images: bool = True, with_camera: bool = True,
                 with_labels: bool | None = None):
        self.root = Path(root)
        self.sequence = normalise_sequence(sequence)
        self.folder = sequence_dir(self.root, self.sequence)
        self.calibration = read_calibration(self.folder / 'calib.txt')
        self.poses = read_poses(self.folder / 'poses.txt')
        self.times = read_times(self.folder / 'times.txt')
        available = scan_numbers(self.folder)
        if not available:
            raise SemanticKittiError(f'no scans in {self.folder / "velodyne"}')
        self.scans = available if scans is None else [int(s) for s in scans]
        missing = sorted(set(self.scans) - set(available))
        if missing:
            raise SemanticKittiError(f'sequence {self.sequence} has no velodyne file for scans {missing[:10]}')
        last = max(self.scans)
        if last >= len(self.poses) or last >= len(self.times):
            raise SemanticKittiError(f'sequence {self.sequence}: scan {last} but poses.txt has {len(self.poses)} '
                                     f'lines and times.txt {len(self.times)}')
        has_labels = (self.folder / 'labels').is_dir()
        if with_labels and not has_labels:
            raise SemanticKittiError(f'missing labels folder {self.folder / "labels"}')
        self.with_labels = has_labels if with_labels is None else bool(with_labels)
        self.load_images = load_images
        self.with_camera = with_camera
        self.report: Counter = Counter()
        self.lidar_to_ego = fit_ground(*self._ground_samples(available[:GROUND_FIT_SCANS]))
        self.intrinsics, cam2_to_cam0 = camera_to_cam0(self.calibration['P2'])
        velo_to_cam0 = self.calibration['Tr']
        self.cam_to_ego = compose(self.lidar_to_ego, np.linalg.inv(velo_to_cam0), cam2_to_cam0)
        # LiDAR poses in the LiDAR frame of scan 0, then in the world (the ego frame of scan 0)
        lidar_poses = np.linalg.inv(velo_to_cam0) @ np.linalg.inv(self.poses[0]) @ self.poses @ velo_to_cam0
        self.ego_to_world = self.lidar_to_ego @ lidar_poses @ np.linalg.inv(self.lidar_to_ego)

    @property
    def scene_name(self) -> str:
        return f'semantickitti-{self.sequence}'

    def __len__(self) -> int:
        return len(self.scans)

    def __iter__(self):
        for scan in self.scans:
            yield self.frame(scan)
        if self.report:
            LOG.warning('sequence %s: %s', self.sequence, dict(self.report))

    def frame(self, scan: int) -> Frame:
        """The Frame of scan number `scan`."""
        scan = int(scan)
        cloud = read_scan(self._path('velodyne', scan, '.bin'))
        frame = Frame(timestamp_ns=int(round(self.times[scan] * 1e9)), points=cloud[:, :3], intensity=cloud[:, 3],
                      lidar_to_ego=self.lidar_to_ego, ego_to_world=self.ego_to_world[scan],
                      scene=self.scene_name, token=f'{self.sequence}_{scan:06d}')
        if self.with_labels:
            decoded = decode_labels(read_labels(self._path('labels', scan, '.label'), len(cloud)))
            frame.point_labels = decoded['occ3d']
            frame.point_instance_ids = decoded['instance']
            frame.point_moving = decoded['moving']
            unknown = int(decoded['unknown'].sum())
            if unknown:
                self.report['unknown_label_points'] += unknown
        if self.with_camera:
            frame.cameras = [self._camera(scan, frame.timestamp_ns)]
        return frame

    # -- internals -------------------------------------------------------------------------
    def _path(self, kind: str, scan: int, suffix: str) -> Path:
        return self.folder / kind / f'{scan:06d}{suffix}'

    def _ground_samples(self, scans):
        points, masks = [], []
        for scan in scans:
            cloud = read_scan(self._path('velodyne', scan, '.bin'))
            points.append(cloud[:, :3])
            labels_path = self._path('labels', scan, '.label')
            if self.with_labels and labels_path.is_file():
                raw = read_labels(labels_path, len(cloud)) & 0xFFFF
                masks.append(np.isin(raw, GROUND_RAW_IDS))
            else:
                masks.append(None)
        return points, masks

    def _camera(self, scan: int, timestamp_ns: int) -> CameraView:
        path = self._path(CAMERA_NAME, scan, '.png')
        if not path.is_file():
            raise SemanticKittiError(f'missing image {path} (with_camera=False leaves the camera out)')
        try:
            with Image.open(path) as img:
                if self.load_images:
                    image = np.asarray(img.convert('RGB'))
                else:
                    image = np.zeros((img.height, img.width, 3), dtype=np.uint8)
        except OSError as exc:
            raise SemanticKittiError(f'unreadable image {path} ({exc})') from None
        return CameraView(name=CAMERA_NAME, image=image, intrinsics=self.intrinsics, cam_to_ego=self.cam_to_ego,
                          timestamp_ns=timestamp_ns)


def parse_sequences(text, root=None) -> list[str]:
    """'00,01' or '0-7' or 'all' (needs `root`) -> ['00', '01', ...]."""
    text = str(text).strip()
    if text == 'all':
        if root is None:
            raise SemanticKittiError("'all' sequences needs the dataset root")
        return list_sequences(root)
    chosen = []
    for part in (p.strip() for p in text.split(',')):
        if not part:
            continue
        lo, sep, hi = part.partition('-')
        if sep:
            start, stop = int(normalise_sequence(lo)), int(normalise_sequence(hi))
            if stop < start:
                raise SemanticKittiError(f'sequence range {part!r} is empty')
            chosen.extend(f'{n:02d}' for n in range(start, stop + 1))
        else:
            chosen.append(normalise_sequence(part))
    if not chosen:
        raise SemanticKittiError(f'no sequences in {text!r}')
    return list(dict.fromkeys(chosen))


def sequences_frames(root, sequences, labels_dir=None, **source_options):
    """Frames of several sequences one after another (`sequences`: a list or text for
    `parse_sequences`); with `labels_dir` each frame gets its dense labels where a file exists."""
    from loc_core.data.frame_sources import attach_labels

    names = parse_sequences(sequences, root) if isinstance(sequences, str) else [normalise_sequence(s) for s in sequences]
    for name in names:
        for frame in SemanticKittiSource(root, name, **source_options):
            yield attach_labels(frame, labels_dir)
