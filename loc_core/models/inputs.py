"""What the networks consume: a Frame turned into tensors at the model's image size."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from loc_core.data.frame import Frame
from loc_core.evaluation.rayiou import LIDAR_ORIGIN as DEFAULT_LIDAR_ORIGIN  # nuScenes' (and the simulator's) mount


@dataclass(frozen=True)
class CameraRig:
    """Calibration of the cameras as the model sees them: `intrinsics` (C,3,3) float64 in pixels of
    the resized image, `cam_to_ego` (C,4,4) float64, `image_size` (width, height) pixels."""

    intrinsics: np.ndarray
    cam_to_ego: np.ndarray
    image_size: tuple

    @property
    def num_cameras(self) -> int:
        return len(self.intrinsics)

    def key(self) -> str:
        """A digest of the calibration (rounded to 0.1 mm / 1e-4 px): equal rigs share precomputations."""
        digest = hashlib.sha1()
        digest.update(np.round(self.intrinsics, 4).tobytes())
        digest.update(np.round(self.cam_to_ego, 4).tobytes())
        digest.update(repr(tuple(self.image_size)).encode())
        return digest.hexdigest()




@dataclass
class ModelInput:
    """`points` (N,3) float32 ego frame, metres; `images` (C,3,H,W) float32 RGB in [0,1];
    `rig` their calibration; `origin` (3,) float64 the LiDAR's position in the ego frame, metres
    (where the rays of `points` start). `derived`: what networks computed from the sample alone
    (observed free space, BEV columns: `LocNetwork.prepare`), kept so that it is computed once, under
    keys naming everything it depends on (`derived_input`)."""

    points: torch.Tensor
    images: torch.Tensor
    rig: CameraRig
    origin: tuple = DEFAULT_LIDAR_ORIGIN
    derived: dict = field(default_factory=dict)

    def derived_input(self, key: tuple, compute):
        """The value kept under `key` (a hashable tuple: the quantity's name and every setting it
        depends on), computed by `compute()` on first use."""
        if key not in self.derived:
            self.derived[key] = compute()
        return self.derived[key]


def resize_camera(image: np.ndarray, intrinsics: np.ndarray, size: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(H,W,3) uint8 image and its (3,3) K -> image resized to size (width, height) and the scaled K.
    Large reductions are area-averaged by halving while the image stays at least twice the target
    size (OpenCV's 2x2 area path: 0.15 ms for a 1600x900 image against 1.05 ms for a 4x reduction),
    then by one area resize to the exact size."""
    height, width = image.shape[:2]
    sx, sy = size[0] / width, size[1] / height
    if (width, height) != tuple(size):
        if sx < 1 and sy < 1:
            while image.shape[1] >= 2 * size[0] and image.shape[0] >= 2 * size[1]:
                image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
            interp = cv2.INTER_AREA
        else:
            interp = cv2.INTER_LINEAR
        if image.shape[:2] != (size[1], size[0]):
            image = cv2.resize(image, tuple(size), interpolation=interp)
    k = np.asarray(intrinsics, dtype=np.float64).copy()
    k[0] *= sx
    k[1] *= sy
    return image, k


def prepare_images(frame: Frame, image_size: tuple) -> tuple[np.ndarray, CameraRig]:
    """Frame cameras -> ((C,H,W,3) uint8 images at `image_size` (width, height), their CameraRig)."""
    images, ks, poses = [], [], []
    for cam in frame.cameras:
        image, k = resize_camera(cam.image, cam.intrinsics, image_size)
        images.append(image)
        ks.append(k)
        poses.append(cam.cam_to_ego)
    width, height = image_size
    stacked = np.stack(images) if images else np.zeros((0, height, width, 3), np.uint8)
    rig = CameraRig(np.asarray(ks, np.float64).reshape(-1, 3, 3), np.asarray(poses, np.float64).reshape(-1, 4, 4),
                    tuple(image_size))
    return stacked, rig


def make_input(points_ego: np.ndarray, images_uint8: np.ndarray, rig: CameraRig, device='cpu',
               origin=DEFAULT_LIDAR_ORIGIN) -> ModelInput:
    """(N,3) ego points, (C,H,W,3) uint8 images, (3,) LiDAR `origin` in the ego frame, metres ->
    ModelInput. Non-finite points are dropped."""
    points = np.asarray(points_ego, dtype=np.float32).reshape(-1, 3)
    points = points[np.all(np.isfinite(points), axis=1)]
    images = torch.from_numpy(np.ascontiguousarray(images_uint8)).to(device)
    images = images.permute(0, 3, 1, 2).float().div_(255.0)
    return ModelInput(torch.from_numpy(points).to(device), images, rig,
                      tuple(float(v) for v in np.asarray(origin, np.float64).reshape(3)))


def frame_to_input(frame: Frame, image_size: tuple, device='cpu') -> ModelInput:
    """A Frame -> ModelInput; the LiDAR origin from the frame's calibration (`lidar_to_ego`)."""
    images, rig = prepare_images(frame, image_size)
    return make_input(frame.points_ego(), images, rig, device, frame.lidar_to_ego[:3, 3])
