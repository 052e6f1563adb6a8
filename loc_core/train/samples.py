"""Training samples: a Frame reduced to what training needs (ego points, images at the model's
size with their calibration, dense labels), cached as one .npz per frame (written atomically,
read with allow_pickle=False)."""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loc_core.data.frame import Frame
from loc_core.data.occ3d_io import atomic_write_bytes
from loc_core.data.vocabulary import FREE_ID, UNLABELLED_ID
from loc_core.models.inputs import CameraRig, prepare_images

log = logging.getLogger(__name__)
IGNORE = -1


class SampleError(ValueError):
    """A cached sample that cannot be used."""


@dataclass
class TrainingSample:
    """`points` (N,3) float32 ego metres; `images` (C,H,W,3) uint8; `intrinsics` (C,3,3),
    `cam_to_ego` (C,4,4) float64 for those images; `semantics` (X,Y,Z) uint8 Occ3D ids (255 =
    unlabelled); `known` (X,Y,Z) bool voxels whose label counts (camera mask); `novel` (X,Y,Z) bool."""

    points: np.ndarray
    images: np.ndarray
    intrinsics: np.ndarray
    cam_to_ego: np.ndarray
    semantics: np.ndarray
    known: np.ndarray
    novel: np.ndarray

    @property
    def rig(self) -> CameraRig:
        return CameraRig(self.intrinsics, self.cam_to_ego, (self.images.shape[2], self.images.shape[1]))

    def occupied(self) -> np.ndarray:
        """(X,Y,Z) bool: labelled, not free."""
        return (self.semantics != FREE_ID) & (self.semantics != UNLABELLED_ID)

    def class_targets(self) -> np.ndarray:
        """(X,Y,Z) int64 prompt index (= Occ3D id 0-16) of occupied known voxels, IGNORE elsewhere and
        for novel objects (never trained: they are the open-set unknowns)."""
        targets = self.semantics.astype(np.int64)
        bad = ~self.occupied() | ~self.known | self.novel
        targets[bad] = IGNORE
        return targets

    @classmethod
    def from_frame(cls, frame: Frame, image_size: tuple) -> 'TrainingSample':
        if frame.occupancy is None:
            raise SampleError(f'frame {frame.token or frame.timestamp_ns} has no dense labels')
        images, rig = prepare_images(frame, image_size)
        occ = frame.occupancy
        known = occ.mask_camera.astype(bool)
        if not known.any():
            known = occ.mask_lidar.astype(bool)
        novel = occ.novel_mask if occ.semantics_open is not None else np.zeros(occ.shape, bool)
        return cls(frame.points_ego().astype(np.float32), images, rig.intrinsics, rig.cam_to_ego,
                   occ.semantics.copy(), known, novel)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, points=self.points, images=self.images, intrinsics=self.intrinsics,
                            cam_to_ego=self.cam_to_ego, semantics=self.semantics,
                            known=np.packbits(self.known), novel=np.packbits(self.novel))
        return buffer.getvalue()

    @classmethod
    def load(cls, path) -> 'TrainingSample':
        try:
            with np.load(path, allow_pickle=False) as data:
                semantics = data['semantics']
                count = semantics.size
                unpack = lambda key: np.unpackbits(data[key])[:count].reshape(semantics.shape).astype(bool)  # noqa: E731
                sample = cls(data['points'], data['images'], data['intrinsics'], data['cam_to_ego'], semantics,
                             unpack('known'), unpack('novel'))
        except (OSError, KeyError, ValueError, EOFError) as exc:
            raise SampleError(f'cannot read training sample {path}: {exc}') from exc
        if sample.images.ndim != 4 or len(sample.images) != len(sample.intrinsics):
            raise SampleError(f'training sample {path}: images and calibration disagree')
        return sample


def cache_frames(frames, folder, image_size: tuple, prefix: str = 'frame') -> list[Path]:
    """Write each frame with dense labels as `<prefix>_<scene>_<timestamp>_<n>.npz`; frames without labels are logged and
    skipped. Returns the written paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written, skipped = [], 0
    for n, frame in enumerate(frames):
        try:
            sample = TrainingSample.from_frame(frame, image_size)
        except SampleError as exc:
            skipped += 1
            log.warning('skipping frame: %s', exc)
            continue
        path = folder / f'{prefix}_{frame.scene or "frame"}_{frame.timestamp_ns}_{n:05d}.npz'
        atomic_write_bytes(path, sample.to_bytes())
        written.append(path)
    log.info('cached %d frames in %s (%d skipped without labels)', len(written), folder, skipped)
    return written


class SampleFolder:
    """The cached samples of one or more folders, in sorted order."""

    def __init__(self, *folders):
        self.paths = sorted(p for folder in folders for p in Path(folder).glob('*.npz'))
        if not self.paths:
            raise SampleError(f'no training samples (*.npz) in {[str(f) for f in folders]}')

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> TrainingSample:
        return TrainingSample.load(self.paths[index])

