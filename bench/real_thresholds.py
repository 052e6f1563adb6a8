"""The occupancy threshold chosen on real validation frames (SemanticKITTI 07, issue 28): for each
threshold, geometry IoU inside mask_lidar and mask_camera, point mIoU over SemanticKITTI's mapped
classes and occupied voxels per frame against the labels' count; the best mask_lidar geometry IoU
wins. No unknown rejection (the classes of the voxels kept do not depend on the threshold).

Usage: .venv/bin/python bench/real_thresholds.py --checkpoint CK --labels-dir out/gt-semantickitti
       [--semantickitti ../shared/data/semantickitti-mini] [--sequences 07] [--thresholds 0.3,...]

Each frame is predicted once at the lowest threshold; a higher one only frees voxels, so every
threshold is read from the same occupancy probabilities."""
import argparse
import json
import time

import numpy as np

from loc_core.data.semantickitti_source import sequences_frames
from loc_core.data.vocabulary import FREE_ID
from loc_core.evaluation.frame_scores import PromptSetScores
from loc_core.evaluation.point_metrics import semantickitti_point_classes

from occupancy_threshold import sweep_predictor

THRESHOLDS = '0.3,0.4,0.5,0.6,0.7,0.8'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('--semantickitti', default='../shared/data/semantickitti-mini')
    parser.add_argument('--sequences', default='07')
    parser.add_argument('--labels-dir', required=True)
    parser.add_argument('--thresholds', default=THRESHOLDS)
    parser.add_argument('--json', help='write every figure here')
    args = parser.parse_args()
    start = time.perf_counter()
    predictor, thresholds, shipped = sweep_predictor(args.checkpoint, args.thresholds)
    classes = semantickitti_point_classes()
    scores = {t: PromptSetScores(True, classes) for t in thresholds}
    counts = {t: [] for t in thresholds}
    labelled = []
    for frame in sequences_frames(args.semantickitti, args.sequences, args.labels_dir):
        if frame.occupancy is None:
            continue
        result = predictor.predict(frame, with_features=False)
        semantics = result.to_occ3d_semantics()
        labelled.append(int((frame.occupancy.semantics != FREE_ID).sum()))
        for threshold in thresholds:
            kept = np.where(result.occupancy < threshold, FREE_ID, semantics).astype(np.uint8)
            scores[threshold].add(frame, kept, result.grid)
            counts[threshold].append(int((kept != FREE_ID).sum()))
    names = None
    table = {}
    for threshold in thresholds:
        summary = scores[threshold].summary(names)
        table[threshold] = {'geometry_iou_mask_lidar': summary['mask_lidar']['geometry_iou'],
                            'geometry_iou_mask_camera': summary['geometry_iou'],
                            'point_miou': summary['points']['miou'],
                            'occupied_per_frame': float(np.mean(counts[threshold]))}
    best = max(thresholds, key=lambda t: table[t]['geometry_iou_mask_lidar'])
    print(f'{args.sequences}: {len(labelled)} frames, labels occupied per frame {np.mean(labelled):.0f}; '
          f'checkpoint threshold {shipped:g}   [{time.perf_counter() - start:.0f} s]')
    print('| occupancy threshold | geometry IoU mask_lidar | geometry IoU mask_camera | point mIoU | occupied per frame |')
    print('| --- | --- | --- | --- | --- |')
    for threshold, row in table.items():
        print(f'| {threshold:g} | {row["geometry_iou_mask_lidar"]:.1f} | {row["geometry_iou_mask_camera"]:.1f} | '
              f'{row["point_miou"]:.1f} | {row["occupied_per_frame"]:.0f} |')
    print(f'chosen: {best:g}')
    if args.json:
        with open(args.json, 'w') as handle:
            json.dump({'thresholds': {str(t): row for t, row in table.items()}, 'chosen': best,
                       'labels_occupied_per_frame': float(np.mean(labelled))}, handle, indent=1)


if __name__ == '__main__':
    main()
