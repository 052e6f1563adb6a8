"""RayIoU: occupancy scored along query rays, as SparseOcc (Liu et al., "Fully Sparse 3D Occupancy
Prediction", arXiv 2312.17118; MCG-NJU/SparseOcc, loaders/ray_metrics.py) defines it, re-implemented
here in numpy for one (X,Y,Z) uint8 grid at a time.

The definition, in our words:

* Query rays imitate a LiDAR sweep. From each origin rays leave in a fixed fan of directions: one
  every degree of azimuth, times a list of
  pitch angles. SparseOcc's pitches start with -(90 deg - atan(k)) for k = 1..10 (-45 deg,
  -26.6 deg, ... -5.7 deg: dense near the horizon, sparse towards the ground) and then keep the last
  spacing (about 0.63 deg) upwards until about +12 deg (0.21 rad, the top of the nuScenes LiDAR's
  field of view). `ray_directions` builds that fan (39 pitches x 360 azimuths = 14040 rays).
* The origins (SparseOcc's loaders/ego_pose_dataset.py, `EgoPoseDataset`): the LiDAR positions of
  every keyframe of the frame's scene, past and future, the frame's own included, expressed in the
  frame's ego coordinates; those with |x| < 39 m and |y| < 39 m are kept (in time order), and when
  more than 8 remain, 8 evenly spread ones are chosen, indices round(linspace(0, n - 1, 8)). The
  rays of every origin are pooled with the frame's. `sequence_origins` does this selection.
* Each ray is marched through the grid to the first occupied voxel (anything but free), separately
  in the ground truth and in the prediction; the hit gives a depth (distance from the origin) and
  a class (the voxel's id). A ray that leaves the grid without a hit has no class.
* Rays whose ground truth hits nothing are dropped (SparseOcc keeps only rays whose rendered ground
  truth label is not free); visibility masks play no part: the ray itself decides what is seen.
* Per class c and distance threshold t (1, 2 and 4 m): a ray is a true positive when both the ground
  truth and the prediction give class c and |depth_pred - depth_gt| < t. With G_c the rays whose
  ground truth class is c and P_c the rays whose predicted class is c (counted over the kept rays,
  all frames together), IoU_c(t) = TP / (G_c + P_c - TP), i.e. TP / (TP + FP + FN), where a ray of
  the right class at the wrong depth is both a false positive and a false negative.
* RayIoU@t is the mean of IoU_c(t) over the classes 0-16 with G_c + P_c > 0 (SparseOcc's nanmean:
  a class seen only in the prediction counts, with IoU 0); RayIoU is the mean of the three.

Where the scene's poses come from (loc-eval): nuScenes and the lidarseg sequence, every keyframe of
the scene, as SparseOcc; the synthetic world, the poses of its sequence's frames 0 ..
max(frames, 40) - 1 (a town is built for at least 40 frames, 20 s like a nuScenes scene), computed
from the town's motion without rendering them. A frame of a scene without known poses falls back to
its own LiDAR origin.

Our adaptations: the march is an exact voxel traversal (Amanatides-Woo DDA) rather than SparseOcc's
CUDA renderer, the depth is the distance at which the ray enters the hit voxel (the origin's own
voxel gives 0), and ground truth 255 (occupied but unlabelled, our extension; Occ3D has none) stops
a ray like any occupied voxel but the ray is then dropped, since its class is unknown - the ray
analogue of metrics.PROTOCOL, where 255 counts for geometry only. A prediction of 255 stops the
prediction's ray with no class. Values are percent, like the voxel metrics.
"""
from __future__ import annotations

import numpy as np

from loc_core.data.vocabulary import FREE_ID, OCC3D_CLASS_NAMES, UNLABELLED_ID

THRESHOLDS = (1.0, 2.0, 4.0)
NUM_RAY_CLASSES = 17  # ids 0-16
LIDAR_ORIGIN = (0.944, 0.0, 1.84)  # nuScenes LIDAR_TOP in the ego frame, metres (our default origin)


def sparseocc_pitches() -> np.ndarray:
    """SparseOcc's pitch angles (radians, ascending from -45 deg to just above +12 deg)."""
    pitches = [-(np.pi / 2 - np.arctan(k)) for k in range(1, 11)]
    while pitches[-1] < 0.21:
        pitches.append(2 * pitches[-1] - pitches[-2])
    return np.asarray(pitches)


def ray_directions(pitches=None, azimuth_step_deg: float = 1.0) -> np.ndarray:
    """(N,3) float64 unit vectors: every pitch (radians; default `sparseocc_pitches`) times
    azimuths 0, step, ... < 360 degrees."""
    pitches = sparseocc_pitches() if pitches is None else np.asarray(pitches, dtype=np.float64)
    azimuths = np.deg2rad(np.arange(0.0, 360.0, azimuth_step_deg))
    p, a = np.meshgrid(pitches, azimuths, indexing='ij')
    return np.stack([np.cos(p) * np.cos(a), np.cos(p) * np.sin(a), np.sin(p)], axis=-1).reshape(-1, 3)


def sparseocc_directions() -> np.ndarray:
    return ray_directions()


def first_hits(volumes, grid, origin, directions) -> list[tuple[np.ndarray, np.ndarray]]:
    """March rays from `origin` (3,) metres along `directions` (N,3) through `grid` and find, for each
    (X,Y,Z) uint8 volume, the first voxel that is not free. -> per volume (depth (N,) float64
    metres, inf without a hit; label (N,) int64 voxel id, -1 without a hit). The traversal is the
    same for all volumes, so it runs once (vectorised over rays, one step per voxel crossed)."""
    shape = np.asarray(grid.shape)
    size = float(grid.voxel_size)
    d = np.asarray(directions, dtype=np.float64)
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    n = len(d)
    p = (np.asarray(origin, dtype=np.float64) - grid.lower) / size  # origin in voxel units
    occupied = [np.asarray(v) != FREE_ID for v in volumes]
    flats = [np.asarray(v).reshape(-1) for v in volumes]
    depth = [np.full(n, np.inf) for _ in volumes]
    hit_flat = [np.full(n, -1, dtype=np.int64) for _ in volumes]

    # entry / exit of the box [0, shape] (slab test); t in voxel units along the unit direction
    with np.errstate(divide='ignore', invalid='ignore'):
        inv = 1.0 / d
        t1 = (0.0 - p) * inv
        t2 = (shape - p) * inv
    t1 = np.where(d == 0, np.where((p >= 0) & (p < shape), -np.inf, np.inf), t1)
    t2 = np.where(d == 0, np.where((p >= 0) & (p < shape), np.inf, -np.inf), t2)
    t_in = np.maximum(np.minimum(t1, t2).max(axis=1), 0.0)
    t_out = np.maximum(t1, t2).min(axis=1)
    rays = np.nonzero(t_out > t_in)[0]
    t = t_in[rays]
    start = p + d[rays] * (t[:, None] + 1e-9)
    idx = np.clip(np.floor(start).astype(np.int64), 0, shape - 1)
    dr = d[rays]
    step = np.sign(dr).astype(np.int64)
    with np.errstate(divide='ignore', invalid='ignore'):
        t_delta = np.where(dr != 0, np.abs(1.0 / dr), np.inf)
        boundary = idx + (step > 0)
        t_max = np.where(dr != 0, (boundary - p) / dr, np.inf)
    pending = np.ones((len(volumes), len(rays)), dtype=bool)
    strides = np.array([shape[1] * shape[2], shape[2], 1])
    while len(rays):
        flat = idx @ strides
        for g, occ in enumerate(occupied):
            new = pending[g] & occ.reshape(-1)[flat]
            if new.any():
                depth[g][rays[new]] = t[new] * size
                hit_flat[g][rays[new]] = flat[new]
                pending[g] &= ~new
        axis = np.argmin(t_max, axis=1)
        rows = np.arange(len(rays))
        t = t_max[rows, axis]
        idx[rows, axis] += step[rows, axis]
        t_max[rows, axis] += t_delta[rows, axis]
        keep = pending.any(axis=0) & np.all((idx >= 0) & (idx < shape), axis=1)
        if not keep.all():
            rays, t, idx, step, t_max, t_delta, pending = (
                rays[keep], t[keep], idx[keep], step[keep], t_max[keep], t_delta[keep], pending[:, keep])
    out = []
    for g, values in enumerate(flats):
        label = np.full(n, -1, dtype=np.int64)
        hit = hit_flat[g] >= 0
        label[hit] = values[hit_flat[g][hit]]
        out.append((depth[g], label))
    return out


class RayMetrics:
    """Accumulates SparseOcc's RayIoU counts over frames (see the module docstring)."""

    def __init__(self, directions=None, thresholds=THRESHOLDS):
        self.directions = sparseocc_directions() if directions is None else np.asarray(directions, dtype=np.float64)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.gt_count = np.zeros(NUM_RAY_CLASSES, dtype=np.int64)
        self.pred_count = np.zeros(NUM_RAY_CLASSES, dtype=np.int64)
        self.tp = np.zeros((len(self.thresholds), NUM_RAY_CLASSES), dtype=np.int64)
        self.rays = 0
        self.frames = 0

    def add(self, prediction: np.ndarray, ground_truth: np.ndarray, grid, origins=None) -> int:
        """Score one frame: `prediction`, `ground_truth` (X,Y,Z) uint8 ids on `grid`; `origins` (3,) or
        (T,3) ray origins in this frame's ego frame, metres (default: LIDAR_ORIGIN). -> rays kept."""
        if prediction.shape != tuple(grid.shape) or ground_truth.shape != tuple(grid.shape):
            raise ValueError(f'rayiou: prediction {prediction.shape} and ground truth {ground_truth.shape} '
                             f'must both have the grid shape {tuple(grid.shape)}')
        origins = np.atleast_2d(np.asarray(LIDAR_ORIGIN if origins is None else origins, dtype=np.float64))
        kept = 0
        for origin in origins:
            (d_gt, c_gt), (d_pred, c_pred) = first_hits((ground_truth, prediction), grid, origin, self.directions)
            valid = (c_gt >= 0) & (c_gt != UNLABELLED_ID)  # GT hit with a known class (free never hits)
            c_gt, d_gt, c_pred, d_pred = c_gt[valid], d_gt[valid], c_pred[valid], d_pred[valid]
            known = c_gt < NUM_RAY_CLASSES
            self.gt_count += np.bincount(c_gt[known], minlength=NUM_RAY_CLASSES)
            semantic = (c_pred >= 0) & (c_pred < NUM_RAY_CLASSES)
            self.pred_count += np.bincount(c_pred[semantic], minlength=NUM_RAY_CLASSES)
            same = semantic & (c_pred == c_gt)
            error = np.abs(d_pred - d_gt)
            for j, threshold in enumerate(self.thresholds):
                self.tp[j] += np.bincount(c_gt[same & (error < threshold)], minlength=NUM_RAY_CLASSES)
            kept += int(valid.sum())
        self.rays += kept
        self.frames += 1
        return kept

    def merge(self, other: RayMetrics) -> None:
        self.gt_count += other.gt_count
        self.pred_count += other.pred_count
        self.tp += other.tp
        self.rays += other.rays
        self.frames += other.frames

    def per_class_iou(self) -> np.ndarray:
        """(thresholds, 17) float64 IoU, NaN where a class is in neither the GT nor the prediction rays."""
        union = self.gt_count + self.pred_count - self.tp
        with np.errstate(divide='ignore', invalid='ignore'):
            return np.where(union > 0, self.tp / union, np.nan)

    def summary(self, names=None) -> dict:
        """{'rayiou', 'rayiou_1m', 'rayiou_2m', 'rayiou_4m' (percent, None without any scored class),
        'per_class' {name: {'rayiou_1m', ...} percent or None}, 'rays' (kept rays), 'frames'}."""
        names = list(names or OCC3D_CLASS_NAMES[:NUM_RAY_CLASSES])
        iou = self.per_class_iou() * 100.0
        keys = [f'rayiou_{t:g}m' for t in self.thresholds]
        per_threshold = [_nanmean(row) for row in iou]
        present = [v for v in per_threshold if v is not None]
        out = {'rayiou': float(np.mean(present)) if len(present) == len(per_threshold) and present else None}
        out.update(dict(zip(keys, per_threshold)))
        out['per_class'] = {name: {k: _none(iou[j, c]) for j, k in enumerate(keys)} for c, name in enumerate(names)}
        out['rays'] = int(self.rays)
        out['frames'] = int(self.frames)
        return out


def _none(value) -> float | None:
    return None if np.isnan(value) else float(value)


def _nanmean(row) -> float | None:
    return None if np.isnan(row).all() else float(np.nanmean(row))


SEQUENCE_ORIGIN_REACH = 39.0  # metres, |x| and |y| in the frame's ego coordinates (SparseOcc)
SEQUENCE_ORIGIN_COUNT = 8


def sequence_origins(ego_to_world, lidar_to_worlds, reach: float = SEQUENCE_ORIGIN_REACH,
                     count: int = SEQUENCE_ORIGIN_COUNT) -> np.ndarray:
    """SparseOcc's ray origins for one frame: `ego_to_world` (4,4) the frame's ego pose, `lidar_to_worlds`
    (T,4,4) the LiDAR poses of every keyframe of its scene in time order (its own included). -> (K,3)
    float64 LiDAR positions in the frame's ego coordinates with |x| < reach and |y| < reach, in time
    order, thinned to `count` evenly spread ones (indices round(linspace(0, n - 1, count))) when more."""
    poses = np.asarray(lidar_to_worlds, dtype=np.float64).reshape(-1, 4, 4)
    world_to_ego = np.linalg.inv(np.asarray(ego_to_world, dtype=np.float64))
    origins = poses[:, :3, 3] @ world_to_ego[:3, :3].T + world_to_ego[:3, 3]
    origins = origins[(np.abs(origins[:, 0]) < reach) & (np.abs(origins[:, 1]) < reach)]
    if len(origins) > count:
        origins = origins[np.round(np.linspace(0, len(origins) - 1, count)).astype(np.int64)]
    return origins


def lidar_origin(frame) -> np.ndarray:
    """(3,) the frame's LiDAR origin in its ego frame (translation of frame.lidar_to_ego)."""
    return np.asarray(frame.lidar_to_ego, dtype=np.float64)[:3, 3].copy()
