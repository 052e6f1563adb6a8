"""How right the 2D teacher's painted points are: SemanticKITTI's human point labels (mapped to the
Occ3D vocabulary by the loader) against the classes the teacher paints, for the points each scan's
own camera (image_2) sees. Per class: precision (of the points painted c, the share labelled c)
and recall (of the points labelled c, the share painted c; unpainted points count as misses).

Variants (all with the same segmentations, each image segmented once):
* `fused`: as `loc-gt --teacher` paints (`TeacherConfig` defaults with `--set`), every scan's
  points painted from the cameras of all the sequence's scans, depth test on; points of moving
  objects only from their own scan's camera (loc-gt keeps them in their own scan);
* `fused_no_height_rule`: the same without the terrain/vegetation height rule (`teacher/rules.py`);
* `fused_no_depth_test`: the same without the depth test;
* `single_scan`: plain projection, no depth test, no fusion, no confidence cut (each scan's points
  into its own image, the teacher's most probable class).

Usage:
    .venv/bin/python bench/teacher_quality.py --semantickitti ../shared/data/semantickitti-mini \\
        --sequences 00-07 --teacher cityscapes-espnetv2/espnetv2_s2.0_cityscapes_384x1248.onnx --json
Results computed from SemanticKITTI are CC BY-NC-SA (see the data's README)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loc_core.data.vocabulary import OCC3D_CLASS_NAMES, UNLABELLED_ID  # noqa: E402
from loc_core.geometry.camera import project_to_camera  # noqa: E402
from loc_core.geometry.transforms import invert  # noqa: E402
from loc_core.teacher.config import TeacherConfig  # noqa: E402
from loc_core.teacher.painting import NEAR, PointPainter  # noqa: E402
from loc_core.teacher.segmenter import OnnxSegmenter, resolve_model_path  # noqa: E402

KITTI_TEACHER = 'cityscapes-espnetv2/espnetv2_s2.0_cityscapes_384x1248.onnx'
NUM_IDS = 17


def in_own_view(frame) -> np.ndarray:
    """(N,) bool: the frame's points its first camera sees (in the image, in front of it)."""
    camera = frame.cameras[0]
    _, _, visible = project_to_camera(frame.points_ego(), invert(camera.cam_to_ego), camera.intrinsics,
                                      camera.image_size, NEAR)
    return visible


def paint_sequence(painter: PointPainter, frames) -> np.ndarray:
    """(N,) uint8 painted Occ3D ids of every point of `frames`, concatenated in order: static points
    from the cameras within the painter's window, moving ones only from their own scan's camera."""
    points = np.concatenate([f.points_world() for f in frames])
    index = np.concatenate([np.full(len(f.points), i) for i, f in enumerate(frames)])
    moving = np.concatenate([np.zeros(len(f.points), bool) if f.point_moving is None else f.point_moving
                             for f in frames])
    labels = painter.paint(points, index, frames).labels
    if moving.any():
        own = PointPainter(painter.segmenter, replace(painter.config, window=0, terrain_max_height=None))
        own._cache = painter._cache  # the same images: no second segmentation
        labels[moving] = own.paint(points[moving], index[moving], frames).labels
    return labels


def confusion(truth, painted) -> np.ndarray:
    """(17, 18) counts: row the human label (0-16), column the painted id (0-16, 17 = unpainted)."""
    keep = truth != UNLABELLED_ID
    column = np.where(painted[keep] == UNLABELLED_ID, NUM_IDS, painted[keep]).astype(np.int64)
    return np.bincount(truth[keep].astype(np.int64) * (NUM_IDS + 1) + column,
                       minlength=NUM_IDS * (NUM_IDS + 1)).reshape(NUM_IDS, NUM_IDS + 1)


def scores(matrix) -> dict:
    """Per-class precision/recall (percent) and counts from a `confusion` matrix."""
    out = {}
    for c in range(NUM_IDS):
        truth, painted, hit = int(matrix[c].sum()), int(matrix[:, c].sum()), int(matrix[c, c])
        if truth == 0 and painted == 0:
            continue
        out[OCC3D_CLASS_NAMES[c]] = {
            'precision': round(100.0 * hit / painted, 1) if painted else None,
            'recall': round(100.0 * hit / truth, 1) if truth else None,
            'labelled_points': truth, 'painted_points': painted}
    total = int(matrix.sum())
    return {'classes': out, 'points': total,
            'painted_share': round(100.0 * (total - int(matrix[:, NUM_IDS].sum())) / max(total, 1), 1),
            'accuracy_of_painted': round(100.0 * int(np.trace(matrix[:, :NUM_IDS])) /
                                         max(total - int(matrix[:, NUM_IDS].sum()), 1), 1)}


def raw_classes(root, frames) -> np.ndarray:
    """(N,) int64 SemanticKITTI raw semantic ids of every point of `frames`, concatenated."""
    from loc_core.data.semantickitti_files import read_labels

    out = []
    for frame in frames:
        sequence, scan = frame.token.split('_')
        path = Path(root) / 'sequences' / sequence / 'labels' / f'{scan}.label'
        out.append(read_labels(path, len(frame.points)).astype(np.int64) & 0xFFFF)
    return np.concatenate(out)


def raw_recall(raw, truth, painted) -> dict:
    """Per SemanticKITTI raw class (e.g. building alone, inside Occ3D's manmade): points in view and
    the share painted with the Occ3D class it maps to (percent)."""
    from loc_core.data.semantickitti_classes import SEMANTICKITTI_TO_OCC3D

    out = {}
    for raw_id in np.unique(raw):
        chosen = (raw == raw_id) & (truth != UNLABELLED_ID)
        if chosen.sum():
            name = SEMANTICKITTI_TO_OCC3D.get(int(raw_id), (str(raw_id),))[0]
            out[name] = [int(chosen.sum()), round(100.0 * float(np.mean(painted[chosen] == truth[chosen])), 1)]
    return out


def variants(config: TeacherConfig) -> dict:
    return {'fused': replace(config, window=None),
            'fused_no_height_rule': replace(config, window=None, terrain_max_height=None),
            'fused_no_depth_test': replace(config, window=None, depth_test=False),
            'single_scan': replace(config, window=0, depth_test=False, min_confidence=0.0, terrain_max_height=None)}


def evaluate(root, sequences, segmenter, config: TeacherConfig) -> dict:
    from loc_core.data.semantickitti_source import SemanticKittiSource

    chosen = variants(config)
    totals = {name: np.zeros((NUM_IDS, NUM_IDS + 1), np.int64) for name in chosen}
    raw_all = {name: ([], [], []) for name in chosen}
    report = {'sequences': {}}
    for sequence in sequences:
        start = time.perf_counter()
        frames = list(SemanticKittiSource(root, sequence, load_images=True, with_labels=True))
        truth = np.concatenate([f.point_labels for f in frames])
        view = np.concatenate([in_own_view(f) for f in frames])
        raw = raw_classes(root, frames)
        cache, per_variant = None, {}
        for name, variant in chosen.items():
            painter = PointPainter(segmenter, variant)
            if cache is not None:
                painter._cache = cache
            cache = painter._cache
            painted = paint_sequence(painter, frames)
            matrix = confusion(truth[view], painted[view])
            totals[name] += matrix
            for store, values in zip(raw_all[name], (raw[view], truth[view], painted[view])):
                store.append(values)
            per_variant[name] = scores(matrix)
        per_variant['seconds'] = round(time.perf_counter() - start, 1)
        report['sequences'][sequence] = per_variant
        print(f'sequence {sequence}: {len(frames)} scans, {int(view.sum())} points in view, '
              f"{per_variant['seconds']} s", file=sys.stderr)
    report['all'] = {name: scores(matrix) for name, matrix in totals.items()}
    for name, parts in raw_all.items():
        report['all'][name]['raw_class_recall'] = raw_recall(*(np.concatenate(p) for p in parts))
    return report


def print_table(report: dict) -> None:
    names = list(report['all'])
    print('class'.ljust(20) + ''.join(f'{n} P/R'.rjust(26) for n in names))
    classes = sorted({c for n in names for c in report['all'][n]['classes']}, key=OCC3D_CLASS_NAMES.index)
    for c in classes:
        cells = []
        for n in names:
            entry = report['all'][n]['classes'].get(c, {})
            cells.append(f"{entry.get('precision')}/{entry.get('recall')}".rjust(26))
        print(c.ljust(20) + ''.join(cells))
    print('painted share'.ljust(20) + ''.join(f"{report['all'][n]['painted_share']}".rjust(26) for n in names))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--semantickitti', required=True, help='SemanticKITTI root (holding sequences/XX/)')
    parser.add_argument('--sequences', default='00,01', help='e.g. 00,01 or 00-07')
    parser.add_argument('--teacher', default=KITTI_TEACHER, help='ONNX model (path or relative to $LOC_MODELS)')
    parser.add_argument('--set', action='append', default=[], metavar='NAME=VALUE', help='a TeacherConfig setting')
    parser.add_argument('--json', action='store_true', help='print the whole report as JSON')
    args = parser.parse_args(argv)
    from loc_core.data.semantickitti_source import parse_sequences

    values = {}
    for item in args.set:
        name, _, raw = item.partition('=')
        values[name] = json.loads(raw)
    config = TeacherConfig.from_dict(values)
    segmenter = OnnxSegmenter(resolve_model_path(args.teacher), threads=config.threads)
    report = evaluate(args.semantickitti, parse_sequences(args.sequences, args.semantickitti), segmenter, config)
    report['teacher'] = {'model': segmenter.path.name, 'settings': config.to_dict()}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_table(report)
    return 0


if __name__ == '__main__':
    sys.exit(main())
