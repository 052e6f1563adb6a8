"""Point painting: LiDAR points take class distributions from a 2D teacher's segmentation of the
camera images, where the camera sees them.

For every frame f and each of its cameras, the points of frames f-window..f+window (held in the
world frame) are moved into frame f's ego frame and projected into the image. A point takes a
vote only where it is the nearest surface at its pixel: a per-camera depth buffer at reduced
resolution holds the nearest projected point (the painted points and any extra occluders, e.g.
the objects of that frame), and points deeper than it by more than a tolerance get nothing, so a
tree's class does not land on the wall behind it. Votes are summed probabilities in the Occ3D
columns (ids 0-16, then one column for ignored classes such as sky); a point's label is the
column with the highest mean probability over its votes, 255 when that is the ignored column,
below `min_confidence`, or backed by fewer than `min_votes` views. Probabilities are summed rather
than log-probabilities multiplied so that one confident wrong view (a misaligned camera, a
reflection) cannot veto every other view. Points painted terrain high above the local ground then
become vegetation (`rules.py`). Every image is segmented once per painter (cached)."""
from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from loc_core.data.frame import CameraView
from loc_core.data.vocabulary import UNLABELLED_ID
from loc_core.geometry.camera import nearest_depth_buffer, project_to_camera
from loc_core.geometry.transforms import apply_transform, invert
from loc_core.teacher.classes import IGNORE_COLUMN, NUM_COLUMNS
from loc_core.teacher.config import TeacherConfig
from loc_core.teacher.rules import raised_terrain_to_vegetation
from loc_core.teacher.segmenter import SegmentationMap, camera_rgb

LOG = logging.getLogger(__name__)
NEAR = 0.5  # metres: closer points are the camera's own mount or noise


@dataclass
class PaintedPoints:
    """Painting of N points: `labels` (N,) uint8 Occ3D ids (255 = none), `confidence` (N,) float32
    mean probability of the label over its votes (0 without votes), `votes` (N,) int32 views that
    voted; `stats` counts (images, votes, painted points)."""

    labels: np.ndarray
    confidence: np.ndarray
    votes: np.ndarray
    stats: dict = field(default_factory=dict)


def depth_test(pixels, depth, occluder_pixels, occluder_depth, image_size, focal: float,
               config: TeacherConfig) -> np.ndarray:
    """(N,) bool: which of N points projected at `pixels` (N,2) with `depth` (N,) metres are the
    nearest surface there, against themselves and M occluders (`occluder_pixels` (M,2),
    `occluder_depth` (M,)), in an image of `image_size` (width, height) whose focal length is
    `focal` pixels. The buffer runs at 1/`depth_stride` resolution (see `TeacherConfig`)."""
    stride = config.depth_stride
    width, height = image_size
    size = (int(np.ceil(width / stride)), int(np.ceil(height / stride)))
    all_pixels = np.concatenate([pixels, occluder_pixels]) / stride
    all_depth = np.concatenate([depth, occluder_depth])
    buffer = nearest_depth_buffer(all_pixels, all_depth, size, focal / stride, config.point_footprint,
                                  config.max_splat_radius)
    u = np.clip(np.floor(pixels[:, 0] / stride).astype(np.int64), 0, size[0] - 1)
    v = np.clip(np.floor(pixels[:, 1] / stride).astype(np.int64), 0, size[1] - 1)
    tolerance = config.depth_tolerance + config.depth_tolerance_relative * depth
    return depth <= buffer[v, u] + tolerance


def camera_votes(points_ego, occluders_ego, camera: CameraView, segmentation: SegmentationMap,
                 config: TeacherConfig) -> tuple[np.ndarray, np.ndarray]:
    """One image's votes: (indices (M,) of the `points_ego` (N,3) it paints, (M, 18) float32 class
    distributions). `occluders_ego` (K,3) hide points but are not painted; all in the ego frame
    of the camera's frame, metres."""
    ego_to_cam = invert(camera.cam_to_ego)
    pixels, depth, visible = project_to_camera(points_ego, ego_to_cam, camera.intrinsics, camera.image_size, NEAR)
    index = np.flatnonzero(visible & (depth <= config.max_depth))
    if config.depth_test and len(index):
        occ_pixels, occ_depth, occ_visible = project_to_camera(occluders_ego, ego_to_cam, camera.intrinsics,
                                                               camera.image_size, NEAR)
        index = index[depth_test(pixels[index], depth[index], occ_pixels[occ_visible], occ_depth[occ_visible],
                                 camera.image_size, camera.intrinsics[0, 0], config)]
    return index, segmentation.lookup(pixels[index])


class PointPainter:
    """A segmenter (anything with `segment(rgb) -> SegmentationMap`, e.g. `OnnxSegmenter`) and the
    painting settings. `cache_images` segmentations are kept (keyed by frame and camera), so an
    image painted twice is segmented once."""

    def __init__(self, segmenter, config: TeacherConfig | None = None, cache_images: int = 32):
        self.segmenter = segmenter
        self.config = config or TeacherConfig()
        self.cache_images = cache_images
        self._cache: OrderedDict = OrderedDict()
        self.images_segmented = 0
        self.blank_images = 0

    def segmentation(self, key, camera: CameraView) -> SegmentationMap | None:
        """The segmentation of `camera`'s image, cached under `key` (frame identity, camera name);
        None for an all-black image (a source that left the pixels out: logged, counted)."""
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        rgb = camera_rgb(camera)
        if not rgb.any():
            self.blank_images += 1
            LOG.warning('camera %s of %s: all-black image (a source without pixels?); it paints nothing',
                        camera.name, key[0])
            return None
        result = self.segmenter.segment(rgb)
        self.images_segmented += 1
        self._cache[key] = result
        while len(self._cache) > self.cache_images:
            self._cache.popitem(last=False)
        return result

    def paint(self, points_world, frame_index, frames, occluders=None) -> PaintedPoints:
        """Paint N points. `points_world` (N,3) float64 world frame, metres; `frame_index` (N,) the
        index into `frames` (time-ordered Frames, their cameras and `ego_to_world`) of the frame
        that measured each point; `occluders(f)` -> (K,3) ego-frame points of frame f that hide
        but are not painted (None: none)."""
        cfg = self.config
        points_world = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
        frame_index = np.asarray(frame_index, dtype=np.int64)
        sums = np.zeros((len(points_world), NUM_COLUMNS), np.float32)
        votes = np.zeros(len(points_world), np.int32)
        order = np.argsort(frame_index, kind='stable')
        sorted_frames = frame_index[order]
        images = 0
        for f, frame in enumerate(frames):
            if not frame.cameras:
                continue
            low, high = (0, len(frames) - 1) if cfg.window is None else (f - cfg.window, f + cfg.window)
            chosen = order[np.searchsorted(sorted_frames, low, 'left'):np.searchsorted(sorted_frames, high, 'right')]
            points_ego = apply_transform(invert(frame.ego_to_world), points_world[chosen])
            near = np.einsum('ij,ij->i', points_ego[:, :2], points_ego[:, :2]) <= (cfg.max_depth + 5.0) ** 2
            chosen, points_ego = chosen[near], points_ego[near]
            hiding = np.zeros((0, 3)) if occluders is None else np.asarray(occluders(f), dtype=np.float64)
            for camera in frame.cameras:
                segmentation = self.segmentation((frame.token or frame.timestamp_ns, f, camera.name), camera)
                if segmentation is None:
                    continue
                index, probs = camera_votes(points_ego, hiding, camera, segmentation, cfg)
                sums[chosen[index]] += probs  # one vote per point and image: indices are unique
                votes[chosen[index]] += 1
                images += 1
        painted = self._decide(sums, votes, images)
        if cfg.terrain_max_height is not None and len(points_world):
            painted.labels = raised_terrain_to_vegetation(points_world, painted.labels, cfg.terrain_max_height)
        return painted

    def _decide(self, sums, votes, images: int) -> PaintedPoints:
        cfg = self.config
        mean = sums / np.maximum(votes, 1)[:, None]
        best = np.argmax(mean, axis=1)
        confidence = mean[np.arange(len(mean)), best]
        painted = (votes >= cfg.min_votes) & (best != IGNORE_COLUMN) & (confidence >= cfg.min_confidence)
        labels = np.where(painted, best, UNLABELLED_ID).astype(np.uint8)
        stats = {'images': images, 'blank_images': self.blank_images, 'points': int(len(labels)),
                 'points_with_votes': int((votes > 0).sum()),
                 'painted_points': int(painted.sum()), 'ignored_or_unsure': int(((votes > 0) & ~painted).sum())}
        return PaintedPoints(labels, confidence.astype(np.float32), votes, stats)
