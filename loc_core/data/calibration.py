"""The sensor-rig calibration YAML: written beside every bag by `loc-bag`, read by `loc_node` and
`loc-bag frames` (tf2's Python packages are not installable everywhere, so extrinsics travel in a file).

Format (metres, quaternions w x y z, transforms sensor -> base frame):

    base_frame: base_link
    lidar:
      frame_id: lidar_top
      topic: /lidar_top/points
      to_base: {translation: [x, y, z], rotation_wxyz: [w, x, y, z]}
    cameras:
      - name: CAM_FRONT
        frame_id: cam_front
        image_topic: /cam_front/image_rect/compressed
        info_topic: /cam_front/camera_info
        width: 1600
        height: 900
        K: [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]
        to_base: {translation: [...], rotation_wxyz: [...]}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from loc_core.geometry.transforms import make_transform, split_transform


class CalibrationError(ValueError):
    """A calibration file that cannot be used; the message names the problem."""


@dataclass
class CameraCalibration:
    name: str
    frame_id: str
    image_topic: str
    info_topic: str
    width: int
    height: int
    intrinsics: np.ndarray  # (3,3) float64
    cam_to_base: np.ndarray  # (4,4) float64


@dataclass
class RigCalibration:
    base_frame: str
    lidar_frame: str
    lidar_topic: str
    lidar_to_base: np.ndarray  # (4,4) float64
    cameras: list[CameraCalibration] = field(default_factory=list)

    def camera(self, name: str) -> CameraCalibration:
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise KeyError(f'no camera {name!r} in calibration (have {[c.name for c in self.cameras]})')

    def to_dict(self) -> dict:
        return {
            'base_frame': self.base_frame,
            'lidar': {'frame_id': self.lidar_frame, 'topic': self.lidar_topic,
                      'to_base': _pose_dict(self.lidar_to_base)},
            'cameras': [{'name': c.name, 'frame_id': c.frame_id, 'image_topic': c.image_topic,
                         'info_topic': c.info_topic, 'width': int(c.width), 'height': int(c.height),
                         'K': np.asarray(c.intrinsics, dtype=float).tolist(),
                         'to_base': _pose_dict(c.cam_to_base)} for c in self.cameras],
        }


def _pose_dict(transform) -> dict:
    translation, rotation = split_transform(transform)
    return {'translation': translation.tolist(), 'rotation_wxyz': rotation.tolist()}


def _pose(entry, where: str) -> np.ndarray:
    try:
        translation = [float(v) for v in entry['translation']]
        rotation = [float(v) for v in entry['rotation_wxyz']]
    except (KeyError, TypeError, ValueError) as exc:
        raise CalibrationError(f'{where}: needs to_base.translation (3) and to_base.rotation_wxyz (4)') from exc
    if len(translation) != 3 or len(rotation) != 4:
        raise CalibrationError(f'{where}: translation needs 3 numbers and rotation_wxyz 4')
    try:
        return make_transform(translation, rotation)
    except ValueError as exc:
        raise CalibrationError(f'{where}: {exc}') from exc


def load_calibration(path) -> RigCalibration:
    """Read and validate a calibration YAML (safe loader only)."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f'calibration file not found: {path}')
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CalibrationError(f'{path}: not valid YAML ({exc})') from exc
    if not isinstance(doc, dict) or 'lidar' not in doc:
        raise CalibrationError(f'{path}: expected a mapping with a "lidar" section')
    lidar = doc['lidar']
    cameras = []
    for i, cam in enumerate(doc.get('cameras') or []):
        where = f'{path}: cameras[{i}]'
        try:
            k = np.asarray(cam['K'], dtype=np.float64)
            width, height = int(cam['width']), int(cam['height'])
            name = str(cam['name'])
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f'{where}: needs name, width, height and K') from exc
        if k.shape != (3, 3) or width <= 0 or height <= 0:
            raise CalibrationError(f'{where}: K must be 3x3 and width/height positive')
        cameras.append(CameraCalibration(
            name=name, frame_id=str(cam.get('frame_id', name.lower())),
            image_topic=str(cam.get('image_topic', f'/{name.lower()}/image_rect/compressed')),
            info_topic=str(cam.get('info_topic', f'/{name.lower()}/camera_info')),
            width=width, height=height, intrinsics=k, cam_to_base=_pose(cam.get('to_base'), where)))
    return RigCalibration(
        base_frame=str(doc.get('base_frame', 'base_link')),
        lidar_frame=str(lidar.get('frame_id', 'lidar_top')),
        lidar_topic=str(lidar.get('topic', '/lidar_top/points')),
        lidar_to_base=_pose(lidar.get('to_base'), f'{path}: lidar'), cameras=cameras)


def save_calibration(path, calibration: RigCalibration) -> Path:
    """Write the YAML atomically."""
    from loc_core.data.occ3d_io import atomic_write_bytes

    text = yaml.safe_dump(calibration.to_dict(), sort_keys=False)
    return atomic_write_bytes(path, text.encode())
