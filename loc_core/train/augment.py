"""Training-time augmentation of `TrainingSample`s, drawn from the batch's deterministic generator
(so one process and data-parallel processes augment alike):

* camera dropout: every camera removed with probability `camera_dropout` (a LiDAR-only sample, as
  the lidarseg frames and a robot with a failed camera are), else each camera on its own with
  `camera_drop_each`; the network must then predict from the LiDAR, so camera features cannot carry
  everything (and a synthetic camera look cannot become a crutch that fails on real images);
* appearance: per camera, brightness, contrast, saturation and per-channel gains, an optional
  Gaussian blur and pixel noise, so that the image branch does not key on the simulator's colours;
* BEV rotation by a multiple of 90 degrees about the ego z axis: points, labels and camera poses
  rotate together (the grid is square and centred, so voxels map exactly onto voxels);
* height shift by whole voxels: the scene moves up or down, as the ground does on a slope or a hill
  (the synthetic towns and the one real training scene are flat, so without it the network learns
  that the ground sits at one height and fills every voxel below it, which real hilly streets show
  as free). Layers shifted in from outside the grid are left unknown;
* ground warp: the world bends under a smooth height field h(x, y) = gx x + gy y + c (x^2 + y^2)
  that is zero at the ego (a street that rises or falls away from the vehicle, a crowned or dished
  road): every point moves up by h at its own (x, y), every label column by h at its centre in
  whole layers. The vehicle and its cameras stay where they are, so (unlike the height shift) the
  ground's height relative to the sensor changes with distance, as on real streets (the shared
  lidarseg scene's ground points lie 0.5 m below to 2 m above the ego's at 14-35 m; the simulator's
  are flat). The images are not re-rendered, so with cameras the image content of a far voxel is up
  to |h| off its label; LiDAR-only samples stay exact;
* history cut: a sample whose points include earlier frames' (`point_ages`) keeps only those at
  most K' frames old, K' drawn uniformly from 0 to its oldest, so one network serves a single
  sweep (a live robot without odometry) and stacked sweeps alike;
* beam dropout: a 64-beam scan loses every other ring (loc_core/train/beams.py) so that it looks
  like a 32-beam one; applied to the sample as given (its points still in firing order), drawn last.

Inputs stay in the same normalisation for every source: uint8 RGB here, /255 in `make_input`."""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from loc_core.data.vocabulary import FREE_ID
from loc_core.train.beams import drop_alternate_rings
from loc_core.train.samples import TrainingSample


@dataclass(frozen=True)
class AugmentSettings:
    """Probabilities and strengths (see the module docstring); all zero = no augmentation."""

    camera_dropout: float = 0.0
    camera_drop_each: float = 0.0
    appearance: float = 0.0
    rotation: float = 0.0
    height_shift: float = 0.0
    max_shift_voxels: int = 2
    voxel_size: float = 0.4
    ground_warp: float = 0.0
    max_ground_grade: float = 0.03
    history_cut: float = 0.0
    beam_dropout: float = 0.0

    @classmethod
    def from_train_config(cls, train, voxel_size: float = 0.4) -> 'AugmentSettings':
        return cls(train.camera_dropout, train.camera_drop_each, train.appearance_jitter, train.rotation_augment,
                   train.height_shift, train.max_height_shift_voxels, voxel_size, train.ground_warp,
                   train.max_ground_grade, train.history_cut, train.beam_dropout)

    @property
    def active(self) -> bool:
        return any((self.camera_dropout, self.camera_drop_each, self.appearance, self.rotation, self.height_shift,
                    self.ground_warp, self.history_cut, self.beam_dropout))


def augment_sample(sample: TrainingSample, settings: AugmentSettings, rng: np.random.Generator) -> TrainingSample:
    """-> a new sample (the input is not modified). Draws from `rng` in a fixed order."""
    if not settings.active:
        return sample
    drop_all = rng.random() < settings.camera_dropout
    drop_each = rng.random(len(sample.images)) < settings.camera_drop_each
    turns = int(rng.integers(1, 4)) if rng.random() < settings.rotation else 0
    shift = 0
    if rng.random() < settings.height_shift and settings.max_shift_voxels > 0:
        shift = int(rng.choice([k for k in range(-settings.max_shift_voxels, settings.max_shift_voxels + 1) if k]))
    warp = None
    if settings.ground_warp > 0 and rng.random() < settings.ground_warp:
        grade = settings.max_ground_grade
        # the bowl term reaches at most the tilt's height at the grid's half width (40 m)
        half_width = sample.semantics.shape[0] * settings.voxel_size / 2
        warp = (*rng.uniform(-grade, grade, 2), rng.uniform(-grade, grade) / half_width)
    keep = np.zeros(len(sample.images), bool) if drop_all else ~drop_each
    out = select_cameras(sample, keep)
    if settings.appearance > 0 and len(out.images):
        out = replace(out, images=jitter_appearance(out.images, settings.appearance, rng))
    out = rotate_quarter_turns(out, turns) if turns else out
    out = shift_height(out, shift, settings.voxel_size) if shift else out
    out = warp_ground(out, *warp, settings.voxel_size) if warp else out
    # drawn last, so that the other augmentations draw as they did before these existed; the rings
    # are found on the sample as given (points in firing order, before any turn), and no step
    # above reorders or removes points
    if settings.beam_dropout > 0 and rng.random() < settings.beam_dropout:
        keep_points = drop_alternate_rings(sample.points, sample.origin, int(rng.integers(0, 2)))
        if keep_points is not None:
            ages = None if out.point_ages is None else out.point_ages[keep_points]
            out = replace(out, points=out.points[keep_points], point_ages=ages)
    if settings.history_cut > 0 and sample.point_ages is not None and rng.random() < settings.history_cut:
        out = out.up_to_age(int(rng.integers(0, int(sample.point_ages.max(initial=0)) + 1)))
    return out


def select_cameras(sample: TrainingSample, keep: np.ndarray) -> TrainingSample:
    """Keep the cameras where the (C,) bool `keep` is true (none: a LiDAR-only sample); the teacher's
    probabilities, when the sample has them, stay aligned with the images."""
    if keep.all():
        return sample
    probs = None if sample.teacher_probs is None else sample.teacher_probs[keep]
    return replace(sample, images=sample.images[keep], intrinsics=sample.intrinsics[keep],
                   cam_to_ego=sample.cam_to_ego[keep], teacher_probs=probs)


def jitter_appearance(images: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """(C,H,W,3) uint8 RGB -> jittered copy. `strength` 1 gives brightness x[0.6,1.4], contrast
    x[0.6,1.4], saturation x[0.4,1.6], channel gains x[0.85,1.15], blur sigma up to 1.2 px (half
    the cameras) and pixel noise up to 8 grey levels (std)."""
    out = np.empty_like(images)
    for c, image in enumerate(images):
        x = image.astype(np.float32)
        brightness = 1.0 + strength * rng.uniform(-0.4, 0.4)
        contrast = 1.0 + strength * rng.uniform(-0.4, 0.4)
        saturation = 1.0 + strength * rng.uniform(-0.6, 0.6)
        gains = 1.0 + strength * rng.uniform(-0.15, 0.15, 3)
        grey = x.mean(axis=2, keepdims=True)
        x = grey + (x - grey) * saturation
        x = (x - x.mean()) * contrast + x.mean()
        x = x * (brightness * gains)
        if rng.random() < 0.5:
            sigma = strength * rng.uniform(0.3, 1.2)
            x = cv2.GaussianBlur(x, (0, 0), sigmaX=sigma)
        x += rng.normal(0.0, strength * rng.uniform(0.0, 8.0), x.shape).astype(np.float32)
        out[c] = np.clip(x, 0, 255).astype(np.uint8)
    return out


def rotate_quarter_turns(sample: TrainingSample, turns: int) -> TrainingSample:
    """Rotate the whole sample by `turns` x 90 degrees counter-clockwise about the ego z axis (the
    grid must be square and centred on the ego origin, as Occ3D's is). A point (x, y) goes to
    (-y, x) per turn, voxel (i, j) to (N-1-j, i): `np.rot90` on the first two grid axes."""
    turns = turns % 4
    if turns == 0:
        return sample
    angle = turns * np.pi / 2
    c, s = round(np.cos(angle)), round(np.sin(angle))
    rotation = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], np.float64)
    points = (sample.points.astype(np.float64) @ rotation.T).astype(np.float32)
    lift = np.eye(4)
    lift[:3, :3] = rotation
    rot = lambda grid: np.ascontiguousarray(np.rot90(grid, turns, axes=(0, 1)))  # noqa: E731
    return replace(sample, points=points, cam_to_ego=lift @ sample.cam_to_ego, semantics=rot(sample.semantics),
                   known=rot(sample.known), novel=rot(sample.novel), origin=rotation @ sample.origin)


def shift_height(sample: TrainingSample, voxels: int, voxel_size: float) -> TrainingSample:
    """Move the whole sample `voxels` voxels up (> 0) or down (< 0) the ego z axis: points and
    camera poses by voxels * voxel_size metres, labels by whole layers; layers that enter the grid
    from outside are free and unknown (no loss), layers that leave it are dropped."""
    if voxels == 0:
        return sample
    metres = voxels * voxel_size
    points = sample.points.copy()
    points[:, 2] += metres
    lift = np.eye(4)
    lift[2, 3] = metres
    return replace(sample, points=points, cam_to_ego=lift @ sample.cam_to_ego,
                   origin=sample.origin + np.array([0.0, 0.0, metres]),
                   **shifted_labels(sample, np.full(sample.semantics.shape[:2], voxels)))


def ground_height(x, y, grade_x: float, grade_y: float, curvature: float):
    """h(x, y) = grade_x x + grade_y y + curvature (x^2 + y^2), metres (zero at the ego origin)."""
    return grade_x * x + grade_y * y + curvature * (x * x + y * y)


def warp_ground(sample: TrainingSample, grade_x: float, grade_y: float, curvature: float,
                voxel_size: float) -> TrainingSample:
    """Bend the sample under `ground_height`: points (ego frame, metres) move up by h at their own
    (x, y); each label column (the grid square and centred on the ego, as Occ3D's) moves by h at its
    centre rounded to whole layers, layers entering from outside free and unknown. Cameras stay."""
    points = sample.points.copy()
    points[:, 2] += ground_height(points[:, 0].astype(np.float64), points[:, 1].astype(np.float64),
                                  grade_x, grade_y, curvature).astype(np.float32)
    nx, ny, _ = sample.semantics.shape
    x = (np.arange(nx) + 0.5 - nx / 2) * voxel_size
    y = (np.arange(ny) + 0.5 - ny / 2) * voxel_size
    layers = np.rint(ground_height(x[:, None], y[None, :], grade_x, grade_y, curvature) / voxel_size).astype(int)
    return replace(sample, points=points, **shifted_labels(sample, layers))


def shifted_labels(sample: TrainingSample, layers: np.ndarray) -> dict:
    """The sample's labels, known mask and novel mask with column (i, j) moved up by (X,Y) int
    `layers`[i, j] layers: what enters from outside the grid is free and unknown (no loss)."""
    return {'semantics': shift_columns(sample.semantics, layers, FREE_ID),
            'known': shift_columns(sample.known, layers, False), 'novel': shift_columns(sample.novel, layers, False)}


def shift_columns(grid: np.ndarray, layers: np.ndarray, fill) -> np.ndarray:
    """(X,Y,Z) grid with its column (i, j) moved up by (X,Y) int `layers`[i, j] layers (down when
    negative); what enters a column from outside is `fill`."""
    out = np.full_like(grid, fill)
    depth = grid.shape[2]
    for k in np.unique(layers):
        columns = layers == k
        if k == 0:
            out[columns] = grid[columns]
        elif 0 < k < depth:
            out[columns, k:] = grid[columns, :-k]
        elif -depth < k < 0:
            out[columns, :k] = grid[columns, -k:]
    return out
