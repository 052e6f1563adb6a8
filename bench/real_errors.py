"""Where a checkpoint's geometry errors lie on real frames: inside `mask_lidar`, per height layer and
per range band, the true positives, false positives and false negatives of occupancy per frame; how
many of the false positives lie in voxels that the frame's own LiDAR rays crossed well above their
end point (space this very sweep saw as free) against those it never observed, and the same share
of the labels' occupied voxels (a check of the labels); the false positives of the lowest layers
by what the sweep holds in their column (no return at all, or its lowest return above or below the
voxel); the object voxels predicted at least LABEL_CLEARANCE voxels from every labelled-occupied
voxel, anywhere in the grid (the streaks that image features spread along camera rays leave lie
there); and the IoU
when the previous K keyframes' points are added to the input (no retraining).

Usage: .venv/bin/python bench/real_errors.py [--checkpoint real] [--source lidarseg|scene0916]
           [--labels-dir out/gt] [--accumulate 0,2,4] [--every 1] [--json OUT]
Labels: `loc-gt` output for the source (see docs/benchmarks-history.md, "Real data"). Results computed from the
real data are nuScenes data (Motional), CC BY-NC-SA 4.0."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loc_core.data.accumulate import with_earlier_points  # noqa: E402
from loc_core.data.sample_data import LIDARSEG_FRAMES, NUSCENES_MINI_SCENE, sample_data_root  # noqa: E402
from loc_core.data.vocabulary import FREE_ID, STUFF_IDS  # noqa: E402
from loc_core.geometry.voxel_grid import VoxelGrid  # noqa: E402

RANGE_BANDS = ((0, 10), (10, 20), (20, 30), (30, 60))  # metres from the ego origin, horizontal
FREE_ABOVE_END_M = 0.5   # a ray sample counts as seen-free when this far above the ray's end point...
FREE_BEFORE_END_M = 1.0  # ...and this far before it (no grazing ground voxels, no voxel of the hit)
EGO_BOX = ((-1.1, 3.7), (-1.2, 1.2), (-1.0, 2.6))  # the car's own returns, ego frame, metres


def counts(pred, truth, mask) -> np.ndarray:
    """(3,) true positives, false positives, false negatives of occupancy inside `mask`."""
    return np.array([(pred & truth & mask).sum(), (pred & ~truth & mask).sum(), (~pred & truth & mask).sum()],
                    dtype=np.float64)


def iou(tp_fp_fn) -> float:
    tp, fp, fn = tp_fp_fn
    return float(100.0 * tp / max(tp + fp + fn, 1.0))


def seen_free(frame, grid: VoxelGrid) -> np.ndarray:
    """(X,Y,Z) bool: voxels this frame's LiDAR rays crossed at least FREE_ABOVE_END_M above and
    FREE_BEFORE_END_M before their end point (ego frame, rays sampled every 0.2 m)."""
    points = frame.points_ego()
    (x0, x1), (y0, y1), (z0, z1) = EGO_BOX
    own = (points[:, 0] > x0) & (points[:, 0] < x1) & (points[:, 1] > y0) & (points[:, 1] < y1) & \
        (points[:, 2] > z0) & (points[:, 2] < z1)
    points = points[~own]
    origin = frame.lidar_to_ego[:3, 3]
    offsets = points - origin
    lengths = np.linalg.norm(offsets, axis=1)
    units = offsets / np.maximum(lengths, 1e-6)[:, None]
    free = np.zeros(grid.shape, bool)
    shape = np.asarray(grid.shape)
    for distance in np.arange(0.5, lengths.max(initial=0.0), 0.2):
        active = lengths - FREE_BEFORE_END_M > distance
        if not active.any():
            break
        samples = origin + units[active] * distance
        samples = samples[samples[:, 2] > points[active, 2] + FREE_ABOVE_END_M]
        index = np.floor((samples - grid.lower) / grid.voxel_size).astype(int)
        inside = np.all((index >= 0) & (index < shape), axis=1)
        free[tuple(index[inside].T)] = True
    return free


COLUMN_LAYERS = 5  # the layers up to 1 m above the ego's ground, where the flooding is


def column_evidence(frame, grid: VoxelGrid, false_positive) -> np.ndarray:
    """(COLUMN_LAYERS, 3) false positives of each low layer whose column holds no return of this
    sweep, whose lowest return lies above the voxel, or below it (never in it: a return makes its
    voxel occupied in the labels)."""
    index = np.floor((frame.points_ego() - grid.lower) / grid.voxel_size).astype(int)
    index = index[np.all((index >= 0) & (index < np.asarray(grid.shape)), axis=1)]
    lowest = np.full(grid.shape[:2], grid.shape[2])  # no return
    np.minimum.at(lowest, (index[:, 0], index[:, 1]), index[:, 2])
    out = np.zeros((COLUMN_LAYERS, 3))
    for z in range(COLUMN_LAYERS):
        low = lowest[false_positive[:, :, z]]
        out[z] = [(low == grid.shape[2]).sum(), ((low > z) & (low < grid.shape[2])).sum(), (low < z).sum()]
    return out


LABEL_CLEARANCE = (2, 2, 1)  # voxels in x, y, z: farther than this from every labelled-occupied voxel


def object_voxels(result, frame) -> np.ndarray:
    """(2,) object voxels (Occ3D ids 0-10) predicted in the frame, and those of them farther than
    LABEL_CLEARANCE from every voxel the labels call occupied (masks ignored: the labels fuse the
    whole scene, so a car there is a car nowhere near anything)."""
    from scipy.ndimage import binary_dilation

    class_ids = np.asarray(result.class_ids)
    labelled = result.labels < len(class_ids)  # a prompt's index: not free (255), not unknown (254)
    predicted = np.full(result.labels.shape, -1)
    predicted[labelled] = class_ids[result.labels[labelled]]
    objects = (predicted >= 0) & (predicted < STUFF_IDS[0])
    box = np.ones([2 * r + 1 for r in LABEL_CLEARANCE], bool)
    near_labels = binary_dilation(frame.occupancy.semantics != FREE_ID, structure=box)
    return np.array([objects.sum(), (objects & ~near_labels).sum()], np.float64)


def load_frames(source: str, labels_dir: str) -> list:
    from loc_core.data.frame_sources import lidarseg_frames, nuscenes_frames

    root = sample_data_root()
    if source == 'lidarseg':
        return list(lidarseg_frames(root / LIDARSEG_FRAMES, labels_dir))
    return list(nuscenes_frames(root / NUSCENES_MINI_SCENE, 'v1.0-mini', labels_dir))


def analyse(predictor, frames, every: int, accumulate) -> dict:
    grid = VoxelGrid()
    z_count = grid.shape[2]
    centres = grid.all_centers().reshape(*grid.shape, 3)[:, :, 0, :2]
    horizontal = np.hypot(centres[..., 0], centres[..., 1])
    chosen = list(range(0, len(frames), every))
    layers = np.zeros((z_count, 3))
    bands = np.zeros((len(RANGE_BANDS), 3))
    fp_seen_free = fp_total = labelled_seen_free = labelled_total = 0.0
    columns = np.zeros((COLUMN_LAYERS, 3))
    objects = np.zeros(2)
    accumulated = {k: np.zeros(3) for k in accumulate}
    for i in chosen:
        frame = frames[i]
        mask = frame.occupancy.mask_lidar.astype(bool)
        truth = frame.occupancy.semantics != 17
        result = predictor.predict(frame)
        pred = result.occupied
        objects += object_voxels(result, frame)
        for z in range(z_count):
            layers[z] += counts(pred[:, :, z], truth[:, :, z], mask[:, :, z])
        for b, (near, far) in enumerate(RANGE_BANDS):
            band = ((horizontal >= near) & (horizontal < far))[:, :, None]
            bands[b] += counts(pred, truth, mask & band)
        false_positive = pred & ~truth & mask
        free = seen_free(frame, grid)
        fp_total += false_positive.sum()
        fp_seen_free += (false_positive & free).sum()
        columns += column_evidence(frame, grid, false_positive)
        labelled_total += truth.sum()
        labelled_seen_free += (truth & free).sum()
        for k in accumulate:
            extra = predictor.predict(with_earlier_points(frame, frames[max(0, i - k):i])).occupied if k else pred
            accumulated[k] += counts(extra, truth, mask)
    n = len(chosen)
    return {
        'frames': n,
        'geometry_iou': iou(layers.sum(0)),
        'per_layer': [{'z_index': z, 'z_centre_m': round(float(grid.lower[2] + (z + 0.5) * grid.voxel_size), 2),
                       'tp': int(t / n), 'fp': int(f / n), 'fn': int(m / n)} for z, (t, f, m) in enumerate(layers)],
        'per_range': [{'range_m': f'{near}-{far}', 'iou': round(iou(c), 1), 'tp': int(c[0] / n), 'fp': int(c[1] / n),
                       'fn': int(c[2] / n)} for (near, far), c in zip(RANGE_BANDS, bands)],
        'false_positives_in_space_this_sweep_saw_free': round(100.0 * fp_seen_free / max(fp_total, 1.0), 1),
        'labelled_occupied_in_space_this_sweep_saw_free': round(100.0 * labelled_seen_free / max(labelled_total, 1.0),
                                                                 1),
        'low_false_positives_by_column': [
            {'z_index': z, 'no_return': int(a / n), 'lowest_return_above': int(b / n), 'lowest_return_below': int(c / n)}
            for z, (a, b, c) in enumerate(columns)],
        'object_voxels_per_frame': int(objects[0] / n),
        'object_voxels_away_from_labelled_occupied_per_frame': int(objects[1] / n),
        'iou_with_previous_keyframes': {str(k): round(iou(c), 1) for k, c in accumulated.items()},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--checkpoint', default='real', help="checkpoint file or shipped name (default %(default)s)")
    parser.add_argument('--source', choices=('lidarseg', 'scene0916'), default='lidarseg')
    parser.add_argument('--labels-dir', default='out/gt')
    parser.add_argument('--accumulate', default='0,2,4', help='previous keyframes to add, comma separated')
    parser.add_argument('--every', type=int, default=1, help='use every n-th frame')
    parser.add_argument('--json', help='write the result here')
    args = parser.parse_args(argv)
    import torch

    from loc_core.inference.predictor import LocPredictor

    torch.set_num_threads(1)
    frames = load_frames(args.source, args.labels_dir)
    if not frames or any(f.occupancy is None for f in frames):
        print(f'real_errors: {args.source} frames lack labels in {args.labels_dir} (run loc-gt first)', file=sys.stderr)
        return 2
    accumulate = [int(k) for k in args.accumulate.split(',') if k.strip()]
    result = analyse(LocPredictor(None, checkpoint=args.checkpoint), frames, max(args.every, 1), accumulate)
    result.update(checkpoint=args.checkpoint, source=args.source)
    text = json.dumps(result, indent=1)
    if args.json:
        Path(args.json).write_text(text)
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
