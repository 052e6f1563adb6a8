"""Training samples: a Frame reduced to what training needs (ego points, images at the model's
size with their calibration, dense labels), cached as one .npz per frame (written atomically,
read with allow_pickle=False).

Labels from real scans (`loc-gt` on nuScenes) hold 255 for voxels that are occupied but carry no
class (stuff without lidarseg): those supervise geometry only. A sample's `source` is 'synthetic'
or 'real', so that training can mix the two at a fixed ratio (`TrainConfig.real_fraction`)."""
from __future__ import annotations

import io
import logging
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from loc_core.data.frame import Frame
from loc_core.data.occ3d_io import atomic_write_bytes
from loc_core.data.vocabulary import FREE_ID, STUFF_IDS, UNLABELLED_ID
from loc_core.models.inputs import DEFAULT_LIDAR_ORIGIN, CameraRig, prepare_images

log = logging.getLogger(__name__)
IGNORE = -1
SOURCES = ('synthetic', 'real')
# geometry masks: which voxels' occupied/free target counts. 'camera' is Occ3D's mask_camera (the
# LiDAR mask when a frame has no cameras); 'camera_or_lidar' adds every voxel the fused LiDAR rays
# observed, for real scans whose camera mask alone leaves most of the measured free space unused.
GEOMETRY_MASKS = ('camera', 'camera_or_lidar')


class SampleError(ValueError):
    """A cached sample that cannot be used."""


@dataclass
class TrainingSample:
    """`points` (N,3) float32 ego metres; `images` (C,H,W,3) uint8; `intrinsics` (C,3,3),
    `cam_to_ego` (C,4,4) float64 for those images; `semantics` (X,Y,Z) uint8 Occ3D ids (255 =
    occupied without a class); `known` (X,Y,Z) bool voxels whose label counts (the geometry mask);
    `novel` (X,Y,Z) bool; `source` 'synthetic' or 'real'; `unlabelled_is_stuff` True when the
    labels come from boxes alone (nuScenes without lidarseg), so that a 255 voxel is known to be
    one of the stuff classes (see loc_core/losses/partial.py); `point_ages` (N,) uint8 or None: for a
    sample whose points include earlier frames' (`cache_frames(..., earlier_frames=K)`), how many
    frames back each point was captured (0: the sample's own sweep); `origin` (3,) float64 the
    LiDAR's position in the ego frame, metres (from the frame's `lidar_to_ego`; caches written before
    it existed hold nuScenes' and the simulator's mount, the default). `teacher_probs` (C,h,w,K) float16
    or None: the 2D teacher's class probabilities over each camera's whole image at low resolution
    (loc_core/teacher/pixel_targets.py), aligned with `images`; `teacher_classes` (K,) int8 the
    Occ3D id each of the teacher's K classes maps to (-1: ignored), with it (both None in caches
    made without `--pixel-teacher`)."""

    points: np.ndarray
    images: np.ndarray
    intrinsics: np.ndarray
    cam_to_ego: np.ndarray
    semantics: np.ndarray
    known: np.ndarray
    novel: np.ndarray
    source: str = 'synthetic'
    unlabelled_is_stuff: bool = False
    point_ages: np.ndarray | None = None
    origin: np.ndarray = field(default_factory=lambda: np.asarray(DEFAULT_LIDAR_ORIGIN, np.float64))
    teacher_probs: np.ndarray | None = None
    teacher_classes: np.ndarray | None = None

    @property
    def rig(self) -> CameraRig:
        return CameraRig(self.intrinsics, self.cam_to_ego, (self.images.shape[2], self.images.shape[1]))

    def occupied(self) -> np.ndarray:
        """(X,Y,Z) bool: not free; occupied-but-unlabelled (255) voxels count as occupied."""
        return self.semantics != FREE_ID

    def stuff_only(self) -> np.ndarray:
        """(X,Y,Z) bool: known voxels whose class is one of the stuff classes, unnamed (255 in
        box-only labels); all False for other samples."""
        if not self.unlabelled_is_stuff:
            return np.zeros(self.semantics.shape, bool)
        return (self.semantics == UNLABELLED_ID) & self.known

    def class_targets(self) -> np.ndarray:
        """(X,Y,Z) int64 prompt index (= Occ3D id 0-16) of occupied known voxels with a class, IGNORE
        elsewhere, for 255 (no class) and for novel objects (never trained: the open-set unknowns)."""
        targets = self.semantics.astype(np.int64)
        bad = (self.semantics == FREE_ID) | (self.semantics == UNLABELLED_ID) | ~self.known | self.novel
        targets[bad] = IGNORE
        return targets

    @classmethod
    def from_frame(cls, frame: Frame, image_size: tuple, source: str = 'synthetic',
                   geometry_mask: str = 'camera', unlabelled_is_stuff: bool = False,
                   point_ages: np.ndarray | None = None) -> 'TrainingSample':
        """A Frame with dense labels -> sample. `geometry_mask` one of GEOMETRY_MASKS;
        `unlabelled_is_stuff` is kept only when the labels name no stuff class (box-only labels);
        `point_ages` (N,) uint8 for a frame with earlier frames' points (see the class)."""
        if frame.occupancy is None:
            raise SampleError(f'frame {frame.token or frame.timestamp_ns} has no dense labels')
        if source not in SOURCES or geometry_mask not in GEOMETRY_MASKS:
            raise ValueError(f'source must be one of {SOURCES} and geometry_mask one of {GEOMETRY_MASKS}')
        images, rig = prepare_images(frame, image_size)
        occ = frame.occupancy
        known = occ.mask_camera.astype(bool)
        if geometry_mask == 'camera_or_lidar' or not known.any():
            known = known | occ.mask_lidar.astype(bool)
        novel = occ.novel_mask if occ.semantics_open is not None else np.zeros(occ.shape, bool)
        if point_ages is not None and len(point_ages) != len(frame.points):
            raise ValueError(f'{len(point_ages)} point ages for {len(frame.points)} points')
        return cls(frame.points_ego().astype(np.float32), images, rig.intrinsics, rig.cam_to_ego,
                   occ.semantics.copy(), known, novel, source,
                   unlabelled_is_stuff and not np.isin(occ.semantics, STUFF_IDS).any(),
                   None if point_ages is None else np.asarray(point_ages, np.uint8),
                   np.asarray(frame.lidar_to_ego, np.float64)[:3, 3].copy())

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        optional = {} if self.point_ages is None else {'point_ages': self.point_ages}
        if self.teacher_probs is not None:
            optional.update(teacher_probs=self.teacher_probs, teacher_classes=self.teacher_classes)
        np.savez_compressed(buffer, points=self.points, images=self.images, intrinsics=self.intrinsics,
                            cam_to_ego=self.cam_to_ego, semantics=self.semantics,
                            known=np.packbits(self.known), novel=np.packbits(self.novel),
                            source=np.array(self.source), unlabelled_is_stuff=np.array(self.unlabelled_is_stuff),
                            origin=np.asarray(self.origin, np.float64), **optional)
        return buffer.getvalue()

    def up_to_age(self, age: int) -> 'TrainingSample':
        """The sample with only the points at most `age` frames old (all of them without ages)."""
        if self.point_ages is None:
            return self
        keep = self.point_ages <= age
        return replace(self, points=self.points[keep], point_ages=self.point_ages[keep])

    @classmethod
    def load(cls, path) -> 'TrainingSample':
        return cls._decode(path, path)

    @classmethod
    def from_bytes(cls, payload: bytes, name: str = 'sample') -> 'TrainingSample':
        """The sample held in the bytes of its .npz file (`to_bytes`, e.g. a member of a tar shard);
        `name` says which sample in errors."""
        return cls._decode(io.BytesIO(payload), name)

    @classmethod
    def _decode(cls, stream, path) -> 'TrainingSample':
        try:
            with np.load(stream, allow_pickle=False) as data:
                semantics = data['semantics']
                count = semantics.size
                unpack = lambda key: np.unpackbits(data[key])[:count].reshape(semantics.shape).astype(bool)  # noqa: E731
                source = str(data['source']) if 'source' in data.files else 'synthetic'  # older caches
                stuff = bool(data['unlabelled_is_stuff']) if 'unlabelled_is_stuff' in data.files else False
                ages = data['point_ages'] if 'point_ages' in data.files else None
                origin = data['origin'] if 'origin' in data.files else np.asarray(DEFAULT_LIDAR_ORIGIN)  # older caches
                teacher = [data[k] if k in data.files else None for k in ('teacher_probs', 'teacher_classes')]
                sample = cls(data['points'], data['images'], data['intrinsics'], data['cam_to_ego'], semantics,
                             unpack('known'), unpack('novel'), source, stuff, ages,
                             np.asarray(origin, np.float64).reshape(3), *teacher)
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise SampleError(f'cannot read training sample {path}: {exc}') from exc
        if sample.images.ndim != 4 or len(sample.images) != len(sample.intrinsics):
            raise SampleError(f'training sample {path}: images and calibration disagree')
        if sample.point_ages is not None and sample.point_ages.shape != (len(sample.points),):
            raise SampleError(f'training sample {path}: point ages and points disagree')
        problem = sample.teacher_problem()
        if problem:
            raise SampleError(f'training sample {path}: {problem}')
        return sample

    def teacher_problem(self) -> str | None:
        """What is wrong with the teacher probabilities (None: nothing, or none held)."""
        probs, classes = self.teacher_probs, self.teacher_classes
        if probs is None and classes is None:
            return None
        if probs is None or classes is None or probs.ndim != 4 or classes.ndim != 1:
            return 'teacher probabilities need (C,h,w,K) probabilities and (K,) class ids together'
        if len(probs) != len(self.images) or probs.shape[3] != len(classes):
            return (f'teacher probabilities {probs.shape} do not match {len(self.images)} cameras and '
                    f'{len(classes)} teacher classes')
        return None


def sample_file_name(prefix: str, frame, n: int) -> str:
    """The cache file name of the `n`-th frame of a run (counted over every frame given, skipped ones
    included): `<prefix>_<scene>_<timestamp>_<n>.npz`. `cache_frames` and the Ray cache share it."""
    return f'{prefix}_{frame.scene or "frame"}_{frame.timestamp_ns}_{n:05d}.npz'


def cache_frames(frames, folder, image_size: tuple, prefix: str = 'frame', source: str = 'synthetic',
                 geometry_mask: str = 'camera', unlabelled_is_stuff: bool = False,
                 earlier_frames: int = 0, pixel_teacher=None) -> list[Path]:
    """Write each frame with dense labels as `<prefix>_<scene>_<timestamp>_<n>.npz` (see
    `TrainingSample.from_frame` for the settings); with `pixel_teacher` (an `OnnxSegmenter`) each
    sample also holds its class probabilities of every camera image (`teacher_probs`, run once per
    image, loc_core/teacher/pixel_targets.py); frames without labels are logged
    and skipped. With `earlier_frames` K > 0 (frames in time order, with real poses) each sample
    also holds the points of up to K frames before it in its scene, with their `point_ages`
    (loc_core/data/accumulate.py). Returns the written paths."""
    from loc_core.data.accumulate import PointAccumulator

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written, skipped = [], 0
    history = PointAccumulator(earlier_frames)
    for n, frame in enumerate(frames):
        frame = history(frame)
        ages = history.last_ages if earlier_frames else None
        try:
            sample = TrainingSample.from_frame(frame, image_size, source, geometry_mask, unlabelled_is_stuff, ages)
        except SampleError as exc:
            skipped += 1
            log.warning('skipping frame: %s', exc)
            continue
        if pixel_teacher is not None:
            sample = with_teacher_probabilities(sample, frame, pixel_teacher)
        path = folder / sample_file_name(prefix, frame, n)
        atomic_write_bytes(path, sample.to_bytes())
        written.append(path)
    log.info('cached %d frames in %s (%d skipped without labels)', len(written), folder, skipped)
    return written


def with_teacher_probabilities(sample: TrainingSample, frame: Frame, segmenter) -> TrainingSample:
    """`sample` (made from `frame`) holding the segmenter's class probabilities of the frame's cameras."""
    from loc_core.teacher.pixel_targets import camera_class_maps

    probs = camera_class_maps(segmenter, frame)
    classes = np.asarray(segmenter.table.occ3d_ids, np.int8)
    return replace(sample, teacher_probs=probs, teacher_classes=classes)


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

    def sources(self) -> list[str]:
        """Each sample's source, read from the file header only (no image decompression)."""
        found = []
        for path in self.paths:
            try:
                with np.load(path, allow_pickle=False) as data:
                    found.append(str(data['source']) if 'source' in data.files else 'synthetic')
            except (OSError, ValueError, EOFError) as exc:
                raise SampleError(f'cannot read training sample {path}: {exc}') from exc
        return found


def dataset_sources(dataset) -> list[str]:
    """The source of every sample of a SampleFolder or a list of TrainingSamples."""
    if hasattr(dataset, 'sources'):
        return dataset.sources()
    return [sample.source for sample in dataset]

