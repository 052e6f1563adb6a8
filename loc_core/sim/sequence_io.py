"""A synthetic sequence on disk, one folder per frame (written atomically: a temporary folder
renamed into place), readable back into the same `Frame`s (`read_frame`, `SequenceFolder`):

    <out>/sequence.json                 seed, frame count, SimConfig, novel classes, frame folders
    <out>/preview.png                   camera mosaic + BEV of one frame (see render.py)
    <out>/frames/<index:04d>/labels.npz Occ3D labels (semantics, mask_lidar, mask_camera, semantics_open)
                            frame.npz   LiDAR (points, intensity, ring, point_labels,
                                        point_instance_ids), poses, boxes, camera calibration
                            CAM_*.png   camera images (RGB); CAM_*_labels.png pixel labels (Occ3D ids)
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from loc_core.data.boxes import Boxes
from loc_core.data.frame import CameraView, Frame
from loc_core.data.occ3d_io import load_occ3d_labels, save_occ3d_labels

LIDAR_KEYS = ('points', 'intensity', 'ring', 'point_labels', 'point_instance_ids')


def write_frame(frame: Frame, folder) -> Path:
    """Write `frame` into `folder` (created; replaced if it exists) without ever leaving a half
    folder behind."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{folder.name}.', dir=folder.parent))
    try:
        save_occ3d_labels(tmp / 'labels.npz', frame.occupancy)
        np.savez_compressed(tmp / 'frame.npz', **_frame_arrays(frame))
        for cam in frame.cameras:
            Image.fromarray(cam.image).save(tmp / f'{cam.name}.png')
            if cam.pixel_labels is not None:
                Image.fromarray(cam.pixel_labels).save(tmp / f'{cam.name}_labels.png')
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _frame_arrays(frame: Frame) -> dict:
    boxes = frame.boxes if frame.boxes is not None else Boxes.empty()
    arrays = {key: getattr(frame, key) for key in LIDAR_KEYS}
    arrays.update(
        lidar_to_ego=frame.lidar_to_ego, ego_to_world=frame.ego_to_world,
        timestamp_ns=np.int64(frame.timestamp_ns), scene=np.str_(frame.scene), token=np.str_(frame.token),
        box_poses=boxes.poses, box_sizes=boxes.sizes, box_class_ids=boxes.class_ids,
        box_instance_ids=boxes.instance_ids.astype(str),
        box_velocities=boxes.velocities if boxes.velocities is not None else np.zeros((len(boxes), 3)),
        camera_names=np.array(frame.camera_names, dtype=str),
        camera_intrinsics=np.array([c.intrinsics for c in frame.cameras]).reshape(-1, 3, 3),
        camera_to_ego=np.array([c.cam_to_ego for c in frame.cameras]).reshape(-1, 4, 4),
        camera_timestamps_ns=np.array([c.timestamp_ns for c in frame.cameras], dtype=np.int64))
    return arrays


def read_frame(folder) -> Frame:
    """The `Frame` written by `write_frame` (no pickles; images decoded from PNG)."""
    folder = Path(folder)
    with np.load(folder / 'frame.npz', allow_pickle=False) as data:
        a = {k: data[k] for k in data.files}
    cameras = []
    for name, k, cam_to_ego, stamp in zip(a['camera_names'], a['camera_intrinsics'], a['camera_to_ego'],
                                          a['camera_timestamps_ns']):
        labels_path = folder / f'{name}_labels.png'
        labels = np.asarray(Image.open(labels_path)) if labels_path.exists() else None
        image = np.asarray(Image.open(folder / f'{name}.png').convert('RGB'))
        cameras.append(CameraView(str(name), image, k, cam_to_ego, None, int(stamp), labels))
    boxes = Boxes(a['box_poses'], a['box_sizes'], a['box_class_ids'], a['box_instance_ids'], a['box_velocities'])
    return Frame(int(a['timestamp_ns']), a['points'], a['intensity'], a['lidar_to_ego'], a['ego_to_world'],
                 cameras, a['ring'], a['point_labels'], a['point_instance_ids'], boxes,
                 load_occ3d_labels(folder / 'labels.npz'), scene=str(a['scene']), token=str(a['token']))


def write_json(path, payload: dict) -> None:
    """Write JSON atomically."""
    from loc_core.data.occ3d_io import atomic_write_bytes

    atomic_write_bytes(path, json.dumps(payload, indent=2).encode())


def frame_folder(out, index: int) -> Path:
    return Path(out) / 'frames' / f'{index:04d}'


class SequenceFolder:
    """The frames of a `loc-sim` output folder as a source: `len`, iteration and `frame(i)`."""

    def __init__(self, folder):
        self.folder = Path(folder)
        meta_path = self.folder / 'sequence.json'
        try:
            self.meta = json.loads(meta_path.read_text())
            self.frame_folders = [self.folder / rel for rel in self.meta['frames']]
        except FileNotFoundError:
            raise FileNotFoundError(f'{meta_path} not found: not a loc-sim output folder') from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f'{meta_path} is not a valid loc-sim sequence description ({exc})') from exc

    def __len__(self) -> int:
        return len(self.frame_folders)

    def __iter__(self):
        for index in range(len(self)):
            yield self.frame(index)

    def frame(self, index: int) -> Frame:
        folder = self.frame_folders[index]
        try:
            return read_frame(folder)
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f'cannot read synthetic frame {folder}: {exc}') from exc
