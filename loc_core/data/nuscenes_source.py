"""`NuScenesSource`: Frames from a nuScenes dataroot through nuscenes-devkit.

Missing blobs (partial downloads often lack `sweeps/`) are counted, logged and skipped; a
keyframe whose LiDAR blob is missing or corrupt is skipped, a missing camera image leaves that
camera out of the Frame. `report` holds the counts."""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from loc_core.data.boxes import Boxes
from loc_core.data.frame import CameraView, Frame
from loc_core.data.vocabulary import nuscenes_category_to_occ3d
from loc_core.geometry.transforms import compose, invert, make_transform

LOG = logging.getLogger(__name__)
CAMERA_NAMES = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_BACK_RIGHT', 'CAM_BACK', 'CAM_BACK_LEFT',
                'CAM_FRONT_LEFT')
LIDAR_NAME = 'LIDAR_TOP'
LIDAR_COLUMNS = 5  # x y z intensity ring, float32


class BlobError(RuntimeError):
    """A sensor blob that is missing or unreadable."""


def read_lidar_blob(path) -> np.ndarray:
    """A nuScenes `.pcd.bin` -> (N,5) float32 [x y z intensity ring]; BlobError when missing or
    truncated (size not a whole number of points)."""
    path = Path(path)
    if not path.is_file():
        raise BlobError(f'missing LiDAR blob {path}')
    size = path.stat().st_size
    if size % (LIDAR_COLUMNS * 4):
        raise BlobError(f'corrupt LiDAR blob {path}: {size} bytes is not a whole number of '
                        f'{LIDAR_COLUMNS * 4}-byte points')
    return np.fromfile(path, dtype=np.float32).reshape(-1, LIDAR_COLUMNS)


def decode_jpeg(payload: bytes) -> np.ndarray:
    """JPEG bytes -> (H,W,3) uint8 RGB; BlobError when undecodable."""
    import io

    try:
        with Image.open(io.BytesIO(payload)) as img:
            return np.asarray(img.convert('RGB'))
    except Exception as exc:  # PIL raises several types for bad data
        raise BlobError(f'undecodable image ({exc})') from exc


def load_tables(dataroot, version: str = 'v1.0-mini'):
    """The devkit's `NuScenes` of a dataroot: every table in memory (FileNotFoundError without them)."""
    if not (Path(dataroot) / version).is_dir():
        raise FileNotFoundError(f'no nuScenes tables at {Path(dataroot) / version} (check --dataroot and --version)')
    from nuscenes.nuscenes import NuScenes

    return NuScenes(version=version, dataroot=str(dataroot), verbose=False)


class SceneTables:
    """The records `NuScenesSource` reads for the keyframes of one scene (no sweeps), copied out of a
    loaded `NuScenes`: it stands in for it (`scene`, `get`) where the whole tables are not wanted,
    e.g. in a Ray task. scene-0916 (41 keyframes, 2,424 annotations): 1.27 MB pickled; the
    annotations are most of it. `blob_report` and `with_sweeps` need the whole tables."""

    def __init__(self, nusc, scene_name: str):
        self.scene = [s for s in nusc.scene if s['name'] == scene_name]
        if not self.scene:
            raise ValueError(f'unknown scene {scene_name!r}')
        self.records = {name: {} for name in ('sample', 'sample_data', 'ego_pose', 'calibrated_sensor',
                                               'sample_annotation')}
        token = self.scene[0]['first_sample_token']
        while token:
            sample = self._copy(nusc, 'sample', token)
            for data_token in sample['data'].values():
                data = self._copy(nusc, 'sample_data', data_token)
                self._copy(nusc, 'ego_pose', data['ego_pose_token'])
                self._copy(nusc, 'calibrated_sensor', data['calibrated_sensor_token'])
            for annotation in sample['anns']:
                self._copy(nusc, 'sample_annotation', annotation)
            token = sample['next']

    def _copy(self, nusc, table: str, token: str) -> dict:
        record = self.records[table][token] = nusc.get(table, token)
        return record

    def get(self, table: str, token: str) -> dict:
        try:
            return self.records[table][token]
        except KeyError:
            raise KeyError(f'{table} {token} is not among the keyframe records of {self.scene[0]["name"]}') from None


class NuScenesSource:
    """Iterates the keyframes of one scene (optionally with the LiDAR sweeps between them)."""

    def __init__(self, dataroot, version: str = 'v1.0-mini', scene: str | None = None,
                 with_sweeps: bool = False, load_images: bool = True, nusc=None):
        self.dataroot = Path(dataroot)
        self.nusc = nusc = load_tables(self.dataroot, version) if nusc is None else nusc
        self.with_sweeps = with_sweeps
        self.load_images = load_images
        names = [s['name'] for s in nusc.scene]
        if scene is None:
            if len(names) != 1:
                raise ValueError(f'dataroot has {len(names)} scenes; choose one of {names}')
            scene = names[0]
        if scene not in names:
            raise ValueError(f'unknown scene {scene!r}; this dataroot has {names}')
        self.scene = nusc.scene[names.index(scene)]
        self.report: Counter = Counter()

    @property
    def scene_name(self) -> str:
        return self.scene['name']

    def sample_tokens(self) -> list[str]:
        """The scene's keyframe (sample) tokens in time order."""
        tokens, token = [], self.scene['first_sample_token']
        while token:
            tokens.append(token)
            token = self.nusc.get('sample', token)['next']
        return tokens

    def __len__(self) -> int:
        return self.scene['nbr_samples']

    def __iter__(self):
        for sample_token in self.sample_tokens():
            frame = self._keyframe_or_none(sample_token)
            if frame is not None:
                yield frame
            if self.with_sweeps:
                yield from self._sweeps_after(sample_token)
        if self.report:
            LOG.warning('scene %s: skipped blobs %s', self.scene_name, dict(self.report))

    def blob_report(self) -> dict:
        """Counts of the scene's sample_data blobs on disk: total, missing, missing among keyframes
        and among sweeps, per channel."""
        counts = Counter()
        per_channel = Counter()
        sample_tokens = set(self.sample_tokens())
        for sd in self.nusc.sample_data:
            if sd['sample_token'] not in sample_tokens:
                continue
            counts['total'] += 1
            if not (self.dataroot / sd['filename']).is_file():
                counts['missing'] += 1
                counts['missing_keyframes' if sd['is_key_frame'] else 'missing_sweeps'] += 1
                per_channel[sd['channel']] += 1
        return {**{k: counts[k] for k in ('total', 'missing', 'missing_keyframes', 'missing_sweeps')},
                'missing_by_channel': dict(per_channel)}

    def frame(self, sample_token: str) -> Frame:
        """The keyframe of `sample_token`; BlobError if its LiDAR blob is missing or corrupt."""
        sample = self.nusc.get('sample', sample_token)
        lidar_sd = self.nusc.get('sample_data', sample['data'][LIDAR_NAME])
        frame = self._lidar_frame(lidar_sd)
        frame.token = sample_token
        ego_to_world = frame.ego_to_world
        frame.cameras = [cam for cam in (self._camera(sample['data'][name], ego_to_world)
                                         for name in CAMERA_NAMES if name in sample['data'])
                         if cam is not None]
        frame.boxes = self._boxes(sample['anns'], invert(ego_to_world))
        return frame

    # -- internals -------------------------------------------------------------------------
    def _keyframe_or_none(self, sample_token):
        try:
            return self.frame(sample_token)
        except BlobError as exc:
            self.report['skipped_keyframes'] += 1
            LOG.warning('skipping keyframe %s: %s', sample_token, exc)
            return None

    def _sweeps_after(self, sample_token):
        sample = self.nusc.get('sample', sample_token)
        sd = self.nusc.get('sample_data', sample['data'][LIDAR_NAME])
        while sd['next']:
            sd = self.nusc.get('sample_data', sd['next'])
            if sd['is_key_frame']:
                return
            try:
                frame = self._lidar_frame(sd)
            except BlobError:
                self.report['missing_sweeps'] += 1
                continue
            frame.is_keyframe = False
            yield frame

    def _pose(self, sample_data) -> tuple[np.ndarray, np.ndarray]:
        """(sensor_to_ego, ego_to_world) of a sample_data record."""
        calib = self.nusc.get('calibrated_sensor', sample_data['calibrated_sensor_token'])
        ego = self.nusc.get('ego_pose', sample_data['ego_pose_token'])
        return (make_transform(calib['translation'], calib['rotation']),
                make_transform(ego['translation'], ego['rotation']))

    def _lidar_frame(self, sample_data) -> Frame:
        cloud = read_lidar_blob(self.dataroot / sample_data['filename'])
        lidar_to_ego, ego_to_world = self._pose(sample_data)
        return Frame(
            timestamp_ns=int(sample_data['timestamp']) * 1000,
            points=cloud[:, :3], intensity=cloud[:, 3], ring=cloud[:, 4].astype(np.uint8),
            lidar_to_ego=lidar_to_ego, ego_to_world=ego_to_world,
            scene=self.scene_name, token=sample_data['sample_token'],
        )

    def _camera(self, sample_data_token, lidar_ego_to_world) -> CameraView | None:
        sd = self.nusc.get('sample_data', sample_data_token)
        path = self.dataroot / sd['filename']
        try:
            if not path.is_file():
                raise BlobError(f'missing image {path}')
            payload = path.read_bytes()
            image = decode_jpeg(payload) if self.load_images else _blank(sd)
        except BlobError as exc:
            self.report['missing_images'] += 1
            LOG.warning('camera %s left out: %s', sd['channel'], exc)
            return None
        cam_to_cam_ego, cam_ego_to_world = self._pose(sd)
        calib = self.nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
        # camera -> ego at the LiDAR's time: through the world, folding in the ego motion
        cam_to_ego = compose(invert(lidar_ego_to_world), cam_ego_to_world, cam_to_cam_ego)
        return CameraView(name=sd['channel'], image=image, intrinsics=calib['camera_intrinsic'],
                          cam_to_ego=cam_to_ego, jpeg=payload, timestamp_ns=int(sd['timestamp']) * 1000)

    def _boxes(self, annotation_tokens, world_to_ego) -> Boxes:
        poses, sizes, classes, instances = [], [], [], []
        for token in annotation_tokens:
            ann = self.nusc.get('sample_annotation', token)
            class_id = nuscenes_category_to_occ3d(ann['category_name'])
            if class_id is None:
                continue
            poses.append(compose(world_to_ego, make_transform(ann['translation'], ann['rotation'])))
            sizes.append(ann['size'])
            classes.append(class_id)
            instances.append(ann['instance_token'])
        if not poses:
            return Boxes.empty()
        return Boxes(np.stack(poses), sizes, classes, instances)


def _blank(sample_data) -> np.ndarray:
    return np.zeros((int(sample_data['height']), int(sample_data['width']), 3), dtype=np.uint8)
