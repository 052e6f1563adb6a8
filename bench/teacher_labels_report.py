"""Dense labels made with the 2D teacher, counted and pictured: the share of occupied voxels that
carry a class (not 255) over every keyframe of a `loc-gt` output folder, the class histogram, and
for chosen keyframes a top-down view and a camera overlay (the labels blended into the image, and
the teacher's own segmentation beside it).

Usage:
    .venv/bin/python bench/teacher_labels_report.py --labels /work/out/gt-teacher-0916/scene-0916 \\
        --dataroot ../shared/data/nuscenes-mini-scene0916 --pictures /work/out/pictures --keyframes 0,20 \\
        [--teacher cityscapes-espnetv2/espnetv2_s2.0_cityscapes_576x1024.onnx] [--json]
Results computed from nuScenes data (Motional) are CC BY-NC-SA 4.0."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loc_core.data.occ3d_io import load_occ3d_labels  # noqa: E402
from loc_core.data.vocabulary import (FREE_ID, OCC3D_CLASS_NAMES, OCC3D_COLORS, UNKNOWN_COLOR,  # noqa: E402
                                      UNLABELLED_ID)
from loc_core.geometry.voxel_grid import VoxelGrid  # noqa: E402
from loc_core.gt.output import LABELS_NAME  # noqa: E402
from loc_core.viz.snapshots import bev_image, camera_overlay, save_png  # noqa: E402


def occupied_share(folder: Path) -> dict:
    """Counts over every labels file under `folder`: occupied voxels, those with a class, per class."""
    histogram = np.zeros(256, np.int64)
    files = sorted(folder.glob(f'*/{LABELS_NAME}'))
    for path in files:
        semantics = load_occ3d_labels(path).semantics
        histogram += np.bincount(semantics[semantics != FREE_ID].ravel(), minlength=256)
    occupied = int(histogram.sum())
    classified = occupied - int(histogram[UNLABELLED_ID])
    return {'keyframes': len(files), 'occupied_voxels': occupied, 'classified_voxels': classified,
            'classified_share': round(100.0 * classified / max(occupied, 1), 1),
            'per_class': {OCC3D_CLASS_NAMES[i]: int(histogram[i]) for i in range(17) if histogram[i]}}


def lut() -> np.ndarray:
    table = np.tile(UNKNOWN_COLOR, (256, 1))
    table[:len(OCC3D_COLORS)] = OCC3D_COLORS
    return table.astype(np.uint8)


def pictures(folder: Path, dataroot, out: Path, keyframes, teacher=None, camera_name: str = 'CAM_FRONT') -> list:
    from loc_core.data.nuscenes_source import NuScenesSource

    source = NuScenesSource(dataroot, load_images=True)
    tokens = source.sample_tokens()
    grid, colours, written = VoxelGrid(), lut(), []
    for index in keyframes:
        frame = source.frame(tokens[index])
        semantics = load_occ3d_labels(folder / tokens[index] / LABELS_NAME).semantics
        camera = frame.camera(camera_name)
        panels = [camera_overlay(camera, semantics, colours, FREE_ID, grid, alpha=0.55)]
        if teacher is not None:
            seg = teacher.segment(camera.image)
            from PIL import Image

            seg_rgb = colours[np.where(seg.labels() == 17, UNLABELLED_ID, seg.labels())]
            seg_rgb = np.asarray(Image.fromarray(seg_rgb).resize(camera.image_size, Image.NEAREST))
            panels.append((0.45 * camera.image + 0.55 * seg_rgb).astype(np.uint8))
        out.mkdir(parents=True, exist_ok=True)
        for name, image in ((f'teacher_bev_kf{index:02d}.png', bev_image(semantics, colours, FREE_ID, scale=4)),
                            (f'teacher_{camera_name.lower()}_kf{index:02d}.png', np.concatenate(panels, axis=0))):
            save_png(out / name, image)
            written.append(str(out / name))
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--labels', required=True, help='a scene folder of loc-gt output')
    parser.add_argument('--dataroot', help='nuScenes dataroot (for pictures)')
    parser.add_argument('--pictures', help='folder for the PNGs (none without it)')
    parser.add_argument('--keyframes', default='0', help='keyframe indices to picture, e.g. 0,20')
    parser.add_argument('--teacher', help='ONNX teacher: also picture its segmentation of the image')
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args(argv)
    folder = Path(args.labels)
    report = occupied_share(folder)
    if args.pictures:
        teacher = None
        if args.teacher:
            from loc_core.teacher.segmenter import OnnxSegmenter, resolve_model_path

            teacher = OnnxSegmenter(resolve_model_path(args.teacher))
        keyframes = [int(k) for k in args.keyframes.split(',')]
        report['pictures'] = pictures(folder, args.dataroot, Path(args.pictures), keyframes, teacher)
    print(json.dumps(report, indent=1) if args.json else report)
    return 0


if __name__ == '__main__':
    sys.exit(main())
