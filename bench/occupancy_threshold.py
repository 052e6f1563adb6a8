"""The occupancy threshold chosen on validation towns only: known-class mIoU (standard prompts, no
unknown rejection) and geometry IoU inside mask_camera for each threshold; the best mIoU wins.

Usage: .venv/bin/python bench/occupancy_threshold.py [--checkpoint PATH] [--seeds 90000-90011]
       [--frames-per-seed 2] [--extra-novel 12] [--thresholds 0.3,0.35,...,0.9]

Each frame is predicted once at the lowest threshold; a higher one only frees voxels, so every
threshold is read from the same occupancy probabilities and labels."""
import argparse
import time

import numpy as np

from loc_core.data.vocabulary import FREE_ID
from loc_core.evaluation.metrics import OccupancyMetrics
from loc_core.evaluation.prompts import PROMPT_SETS
from loc_core.inference.predictor import LocPredictor

import validation_towns

THRESHOLDS = '0.3,0.35,0.4,0.45,0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.85,0.9'


def sweep_predictor(checkpoint, thresholds_text: str):
    """-> (LocPredictor with the standard prompts, no unknown rejection and the lowest of the
    thresholds as its occupancy threshold; the sorted thresholds; the checkpoint's own threshold)."""
    thresholds = sorted(float(t) for t in thresholds_text.split(','))
    predictor = LocPredictor(checkpoint=checkpoint)
    predictor.set_prompts(*PROMPT_SETS['standard']())
    inference = predictor.config.inference
    shipped = inference.occupancy_threshold
    inference.unknown_threshold, inference.occupancy_threshold = -1e9, thresholds[0]
    return predictor, thresholds, shipped


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    validation_towns.add_arguments(parser)
    parser.add_argument('--thresholds', default=THRESHOLDS)
    args = parser.parse_args()
    start = time.perf_counter()
    predictor, thresholds, shipped = sweep_predictor(args.checkpoint, args.thresholds)
    meters = {t: OccupancyMetrics() for t in thresholds}
    frames = 0
    for frame in validation_towns.frames(args):
        result = predictor.predict(frame, with_features=False)
        semantics = result.to_occ3d_semantics()
        for threshold, meter in meters.items():
            meter.add(np.where(result.occupancy < threshold, FREE_ID, semantics).astype(np.uint8),
                      frame.occupancy.semantics, frame.occupancy.mask_camera)
        frames += 1
    print(f'validation towns {args.seeds} x {args.frames_per_seed}: {frames} frames; checkpoint threshold '
          f'{shipped:g}   [{time.perf_counter() - start:.0f} s]')
    print('| occupancy threshold | known-class mIoU | geometry IoU |')
    print('| --- | --- | --- |')
    for threshold, meter in meters.items():
        print(f'| {threshold:g} | {meter.miou():.2f} | {meter.geometry_iou():.2f} |')
    best = max(thresholds, key=lambda t: meters[t].miou())
    print(f'chosen: {best:g}')


if __name__ == '__main__':
    main()
