"""`DenseLabelPipeline`: a time-ordered sequence of Frames -> Occ3D labels per keyframe.

Per keyframe, in its ego frame: fused static + object points (`fusion`), their voxels (optionally
united with a Poisson surface: `densify`), semantics by KNN vote (`semantics`), objects made solid
inside their boxes, ground gaps filled, `mask_lidar` by ray casting and `mask_camera` by casting
camera rays to the first occupied voxel (`masks`). With a 2D teacher (`painter`), the static points are painted first
(`teacher_labels`). Semantics are 17 (free) where nothing is occupied, 0-16 where the vote found a
label, 255 on occupied voxels no labelled point is near."""
from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from loc_core.data.frame import Frame
from loc_core.data.occ3d_io import Occ3DLabels
from loc_core.data.vocabulary import FREE_ID
from loc_core.geometry.transforms import apply_transform, invert
from loc_core.gt.config import DenseLabelConfig
from loc_core.gt.densify import (batched_surface_points, fill_ground_gaps, fill_object_columns, occupied_voxels,
                                 surface_points,
                                 thicken_surfaces)
from loc_core.gt.fusion import FusedSequence, PointSet, fuse_sequence
from loc_core.gt.masks import camera_mask, lidar_mask, unique_rays
from loc_core.gt.semantics import LabelVoter
from loc_core.gt.teacher_labels import paint_static_points

LOG = logging.getLogger(__name__)
CROP_MARGIN = 2.0  # metres of context kept around the grid for normals and Poisson


@dataclass
class PreparedSequence:
    """A fused sequence ready for per-keyframe labelling; `scene_surface` (M,3) world-frame
    Poisson samples of the static world when `scene_mesh` is on, else None; `object_surfaces`
    instance id -> (M,3) Poisson samples of that object in its own box frame."""

    frames: list
    fused: FusedSequence
    scene_surface: np.ndarray | None = None
    object_surfaces: dict = field(default_factory=dict)
    timings_s: dict = field(default_factory=dict)
    teacher_stats: dict = field(default_factory=dict)


@dataclass
class KeyframeLabels:
    """The outcome for one keyframe: `labels` or None with `skipped` saying why; `stats` counts
    (points, voxels) and per-stage seconds."""

    index: int
    scene: str
    token: str
    labels: Occ3DLabels | None
    skipped: str = ''
    stats: dict = field(default_factory=dict)


class DenseLabelPipeline:
    """`config` the label settings; `painter` an optional `teacher.painting.PointPainter` whose
    2D teacher paints the static points before labelling."""

    def __init__(self, config: DenseLabelConfig | None = None, painter=None):
        self.config = config or DenseLabelConfig()
        self.grid = self.config.grid
        self.painter = painter

    def prepare(self, frames) -> PreparedSequence:
        """Fuse the sequence (and reconstruct the scene-level mesh when configured)."""
        frames = list(frames)
        for frame in frames:
            if not isinstance(frame, Frame):
                raise TypeError(f'expected Frame objects, got {type(frame).__name__}')
        start = time.perf_counter()
        fused = fuse_sequence(frames, self.config)
        timings = {'fuse': time.perf_counter() - start}
        prepared = PreparedSequence(frames, fused, timings_s=timings)
        if self.painter is not None:
            start = time.perf_counter()
            prepared.teacher_stats = paint_static_points(self.painter, fused, frames)
            timings['teacher'] = time.perf_counter() - start
        if not self.config.poisson:
            return prepared
        if self.config.object_meshes:
            start = time.perf_counter()
            prepared.object_surfaces = self._object_surfaces(fused)
            timings['object_meshes'] = time.perf_counter() - start
        if self.config.scene_mesh and len(fused.static):
            start = time.perf_counter()
            prepared.scene_surface = self._surface(self._near_keyframes(fused, keyframe_indices(frames)))
            timings['scene_mesh'] = time.perf_counter() - start
        return prepared

    def run(self, frames, indices=None):
        """Yield `KeyframeLabels` for each keyframe (or the given frame indices)."""
        prepared = self.prepare(frames)
        chosen = keyframe_indices(prepared.frames) if indices is None else indices
        for index in chosen:
            yield self.label(prepared, index)

    def label(self, prepared: PreparedSequence, index: int) -> KeyframeLabels:
        """Labels of frame `index` of a prepared sequence."""
        cfg, frame = self.config, prepared.frames[index]
        result = KeyframeLabels(index, frame.scene, frame.token or str(frame.timestamp_ns), None)
        times = {}
        clock = time.perf_counter()
        static, objects = prepared.fused.keyframe_points(index, self._window(prepared, index), self.grid,
                                                         CROP_MARGIN, cfg.box_margin)
        points = PointSet.concatenate([static, objects])
        in_grid = int(self.grid.in_range(points.points).sum())
        result.stats.update(static_points=len(static), object_points=len(objects), points_in_grid=in_grid)
        if in_grid < max(cfg.min_points, 1):
            result.skipped = f'only {in_grid} fused points inside the grid (min_points={cfg.min_points})'
            LOG.warning('keyframe %s skipped: %s', result.token, result.skipped)
            return result
        times['gather'], clock = _lap(clock)
        surface = self._keyframe_surface(prepared, index, static)
        occupied = occupied_voxels(self.grid, points.points, surface, cfg.fill_radius, cfg.fill_radius_xy)
        times['densify'], clock = _lap(clock)
        semantics = self._semantics(points, occupied)
        boxes = prepared.fused.boxes[index]
        if cfg.fill_objects and boxes is not None and len(boxes):
            result.stats['object_fill_voxels'] = fill_object_columns(self.grid, semantics, boxes, cfg.fill_whole_boxes)
        result.stats['ground_fill_voxels'] = fill_ground_gaps(self.grid, semantics, cfg.ground_fill_radius)
        result.stats['thickened_voxels'] = thicken_surfaces(self.grid, semantics, frame.lidar_to_ego[:3, 3],
                                                            cfg.thicken)
        occupied = semantics != FREE_ID
        times['semantics'], clock = _lap(clock)
        seen_lidar = self._lidar_mask(static, objects, index) | occupied
        times['mask_lidar'], clock = _lap(clock)
        seen_camera = camera_mask(self.grid, occupied, frame.cameras, cfg.camera_mask_stride)
        times['mask_camera'], clock = _lap(clock)
        result.labels = Occ3DLabels(semantics, seen_lidar.astype(np.uint8), seen_camera.astype(np.uint8))
        result.stats.update(occupied_voxels=int(occupied.sum()), surface_points=len(surface),
                            unlabelled_voxels=int((semantics == 255).sum()), cameras=len(frame.cameras),
                            seconds={k: round(v, 4) for k, v in times.items()})
        return result

    # -- stages ----------------------------------------------------------------------------
    def _window(self, prepared: PreparedSequence, index: int) -> np.ndarray:
        count = prepared.fused.num_frames
        if self.config.window is None:
            return np.arange(count)
        return np.arange(max(0, index - self.config.window), min(count, index + self.config.window + 1))

    def _object_surfaces(self, fused: FusedSequence) -> dict:
        """instance id -> (M,3) Poisson samples in its box frame, for objects with enough points."""
        meshed = [key for key, points in fused.objects.items() if len(points) >= self.config.object_mesh_min_points]
        clouds = [(fused.objects[key].points, fused.objects[key].origins) for key in meshed]
        return dict(zip(meshed, batched_surface_points(clouds, **self._surface_settings())))

    def _surface_settings(self) -> dict:
        cfg = self.config
        return dict(cell=cfg.poisson_cell, max_depth=cfg.max_poisson_depth, density_quantile=cfg.density_quantile,
                    spacing=cfg.mesh_spacing, thin=cfg.downsample, normal_radius=cfg.normal_radius,
                    normal_max_nn=cfg.normal_max_nn)

    def _surface(self, points: PointSet) -> np.ndarray:
        return surface_points(points.points, points.origins, **self._surface_settings())

    def _near_keyframes(self, fused: FusedSequence, keyframes) -> PointSet:
        """The static points some keyframe's grid (grown by the crop margin) can contain: those
        within the grid's horizontal half-diagonal of a keyframe's ego position."""
        centres = fused.ego_to_world[keyframes][:, :2, 3]
        half = np.max(np.abs(np.concatenate([self.grid.lower[:2], self.grid.upper[:2]])))
        reach = np.sqrt(2.0) * half + CROP_MARGIN
        distance, _ = cKDTree(centres).query(fused.static.points[:, :2], k=1, distance_upper_bound=reach)
        return fused.static.subset(np.isfinite(distance))

    def _keyframe_surface(self, prepared, index, static: PointSet) -> np.ndarray:
        """(M,3) Poisson samples in the keyframe's ego frame: the static world's (reconstructed
        now, or cropped from the scene mesh) and each present object's, placed with its box pose."""
        if not self.config.poisson:
            return np.zeros((0, 3))
        if prepared.scene_surface is None:
            parts = [self._surface(static)]
        else:
            near = apply_transform(invert(prepared.fused.ego_to_world[index]), prepared.scene_surface)
            parts = [near[self.grid.in_range(near)]]
        boxes = prepared.fused.boxes[index]
        for k in range(0 if boxes is None else len(boxes)):
            local = prepared.object_surfaces.get(str(boxes.instance_ids[k]))
            if local is not None and len(local):
                parts.append(apply_transform(boxes.poses[k], local))
        return np.concatenate(parts)

    def _semantics(self, points: PointSet, occupied) -> np.ndarray:
        cfg = self.config
        semantics = np.full(self.grid.shape, FREE_ID, dtype=np.uint8)
        index = np.argwhere(occupied)
        voter = LabelVoter(points.points, points.labels, cfg.knn_k, cfg.knn_max_distance, thin=cfg.downsample)
        semantics[tuple(index.T)] = voter.vote(self.grid.index_to_center(index))
        return semantics

    def _lidar_mask(self, static: PointSet, objects: PointSet, index: int) -> np.ndarray:
        """Rays of the static points from keyframes within `lidar_mask_window` and of the object
        points this keyframe itself measured (other frames' object rays no longer line up)."""
        near = np.abs(static.frame_index - index) <= self.config.lidar_mask_window
        rays = PointSet.concatenate([static.subset(near), objects.subset(objects.frame_index == index)])
        keep = unique_rays(rays.origins, rays.points, rays.frame_index, self.grid.voxel_size)
        return lidar_mask(self.grid, rays.origins[keep], rays.points[keep], self.config.ray_step)


def keyframe_indices(frames) -> list[int]:
    """Indices of the keyframes among `frames` (all frames when none is marked a keyframe)."""
    chosen = [i for i, frame in enumerate(frames) if frame.is_keyframe]
    return chosen or list(range(len(frames)))


def _lap(clock: float) -> tuple[float, float]:
    now = time.perf_counter()
    return now - clock, now


def summarize(results) -> Counter:
    """Counts over `KeyframeLabels`: labelled and skipped keyframes."""
    counts = Counter()
    for result in results:
        counts['labelled' if result.labels is not None else 'skipped'] += 1
    return counts
