"""`mask_camera` of the dense-label pipeline (loc_core/gt/masks.py) against the exact one of
synthetic towns (rendered depth): the pipeline's `camera_mask` run on each frame's exact occupancy
and cameras, scored against the frame's own `mask_camera`.

Usage: .venv/bin/python bench/camera_mask_check.py [--seeds 1000-1001] [--frames 2] [--stride 0]
Prints, averaged over the frames: the IoU of the two masks, the IoU of their occupied voxels, the
occupied voxels each holds, and the seconds per frame of `camera_mask`."""
import argparse
import time

import numpy as np

from loc_core.data.frame_sources import parse_seeds
from loc_core.data.vocabulary import FREE_ID
from loc_core.gt.masks import camera_mask
from loc_core.sim.source import SyntheticSource


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', default='1000-1001')
    parser.add_argument('--frames', type=int, default=2)
    parser.add_argument('--stride', type=int, default=0, help='camera_mask pixel stride (0: automatic)')
    args = parser.parse_args()
    rows = []
    for seed in parse_seeds(args.seeds):
        source = SyntheticSource(seed, args.frames)
        grid = source.config.grid
        for frame in source:
            occupied = frame.occupancy.semantics != FREE_ID
            exact = frame.occupancy.mask_camera.astype(bool)
            start = time.perf_counter()
            mask = camera_mask(grid, occupied, frame.cameras, args.stride)
            seconds = time.perf_counter() - start
            rows.append((iou(mask, exact), iou(mask & occupied, exact & occupied), (exact & occupied).sum(),
                         (mask & occupied).sum(), seconds))
    mask_iou, occupied_iou, exact_count, count, seconds = np.mean(rows, axis=0)
    print(f'camera_mask against the exact synthetic mask ({len(rows)} frames, seeds {args.seeds}, stride '
          f'{args.stride or "auto"}): mask IoU {mask_iou:.3f}; occupied voxels IoU {occupied_iou:.3f}; occupied '
          f'in the mask {count:.0f} (exact {exact_count:.0f}); {seconds:.2f} s per frame')


if __name__ == '__main__':
    main()
