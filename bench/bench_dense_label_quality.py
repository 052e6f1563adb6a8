"""Benchmark: quality of generated dense labels against the synthetic world's exact occupancy.

Usage: .venv/bin/python bench/bench_dense_label_quality.py [--seeds 11 12] [--frames 12] [--stride 1]

For held-out synthetic sequences (seeds never used for tuning), labels every `stride`-th keyframe
with each ablation stage and compares them with the exact labels inside the exact `mask_camera`:
geometry IoU and semantic mIoU (ids 0-16), pooled over all evaluated keyframes; and how well the
generated masks match the exact ones (IoU of the mask voxels). Prints a Markdown table."""
import argparse
import time

import numpy as np

from loc_core.gt.config import DenseLabelConfig
from loc_core.gt.pipeline import DenseLabelPipeline
from loc_core.data.vocabulary import OCC3D_CLASS_NAMES
from loc_core.gt.quality import class_ious, confusion, geometry_iou, mean_iou

# every stage spells out the steps it uses, so that the table does not move when a default does
BARE = dict(poisson=False, dynamic_objects=False, fill_objects=False, thicken=0, ground_fill_radius=0.0)
STAGES = (
    ('single frame, raw points', dict(BARE, window=0)),
    ('multi-frame, raw points', dict(BARE)),
    ('multi-frame + Poisson', dict(BARE, poisson=True)),
    ('multi-frame + dynamic objects, raw points', dict(BARE, dynamic_objects=True)),
    ('multi-frame + Poisson + dynamic objects', dict(BARE, poisson=True, dynamic_objects=True)),
    ('  + solid objects (box fill)', dict(BARE, poisson=True, dynamic_objects=True, fill_objects=True)),
    ('  + surface thickening', dict(BARE, poisson=True, dynamic_objects=True, fill_objects=True, thicken=1)),
    ('  + ground gap fill', dict(BARE, poisson=True, dynamic_objects=True, fill_objects=True, thicken=1,
                                 ground_fill_radius=5.0)),
    ('multi-frame + dynamic objects + solid objects, raw points',
     dict(BARE, dynamic_objects=True, fill_objects=True)),
    ('  + ground gap fill (default)', dict()),
    ('default + Poisson', dict(poisson=True)),
    ('default + surface thickening', dict(thicken=1)),
    ('default + Poisson + per-object Poisson meshes', dict(poisson=True, object_meshes=True)),
    ('default + Poisson, per-keyframe mesh instead of scene mesh', dict(poisson=True, scene_mesh=False)),
)


def evaluate(frames, config: DenseLabelConfig, stride: int):
    pipeline = DenseLabelPipeline(config)
    start = time.perf_counter()
    prepared = pipeline.prepare(frames)
    table, masks = 0, np.zeros((2, 2))  # masks: [camera, lidar] x [intersection, union]
    indices = list(range(0, len(frames), stride))
    for index in indices:
        result = pipeline.label(prepared, index)
        truth = frames[index].occupancy
        table = table + confusion(result.labels.semantics, truth.semantics, truth.mask_camera)
        for row, key in enumerate(('mask_camera', 'mask_lidar')):
            ours, exact = getattr(result.labels, key).astype(bool), getattr(truth, key).astype(bool)
            masks[row] += [(ours & exact).sum(), (ours | exact).sum()]
    return table, masks, (time.perf_counter() - start) / len(indices)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[11, 12])
    parser.add_argument('--frames', type=int, default=12)
    parser.add_argument('--stride', type=int, default=1)
    parser.add_argument('--stages', type=int, nargs='*', help='indices into the stage list (default all)')
    parser.add_argument('--per-class', action='store_true', help='also print each stage\'s IoU per class')
    args = parser.parse_args()
    from loc_core.sim.source import SyntheticSource

    sequences = [list(SyntheticSource(seed, args.frames)) for seed in args.seeds]
    print(f'seeds {args.seeds}, {args.frames} frames each, every {args.stride}. keyframe evaluated, '
          f'inside the exact mask_camera')
    print('| stage | geometry IoU | mIoU (0-16) | mask_camera IoU | mask_lidar IoU | s/keyframe |\n'
          '| --- | --- | --- | --- | --- | --- |')
    per_class = []
    for number, (name, overrides) in enumerate(STAGES):
        if args.stages and number not in args.stages:
            continue
        config = DenseLabelConfig(**overrides)
        tables, masks, seconds = zip(*(evaluate(frames, config, args.stride) for frames in sequences))
        pooled, mask_iou = np.sum(tables, axis=0), np.sum(masks, axis=0)
        mask_iou = mask_iou[:, 0] / np.maximum(mask_iou[:, 1], 1)
        print(f'| {name} | {geometry_iou(pooled):.3f} | {mean_iou(pooled):.3f} | {mask_iou[0]:.3f} | '
              f'{mask_iou[1]:.3f} | {np.mean(seconds):.2f} |', flush=True)
        if args.per_class:
            per_class.append((name, class_ious(pooled)))
    for name, ious in per_class:
        print(f'{name}: ' + ', '.join(f'{OCC3D_CLASS_NAMES[i]} {v:.2f}' for i, v in enumerate(ious) if np.isfinite(v)))


if __name__ == '__main__':
    main()
