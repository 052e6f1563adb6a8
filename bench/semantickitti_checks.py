"""SemanticKITTI as a source, measured per sequence (BENCHMARKS.md, "Real labels: SemanticKITTI"):
the LiDAR height fitted to the labelled road and without labels, how well the poses register static
structure (median nearest-neighbour distance of scan 9's building/fence/vegetation/trunk/pole points
to scan 0's, in the world, and the same with scan 0's pose for both), the labelled road's median
height in the ego frame within 15 m, and with --labels-dir the dense labels' occupied voxels and the
share of them that carry a class.

    python bench/semantickitti_checks.py --root ../shared/data/semantickitti-mini --sequences 00-07 \\
        --labels-dir /work/out/gt-semantickitti [--json]"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from loc_core.data.occ3d_io import load_occ3d_labels
from loc_core.data.semantickitti_files import read_labels
from loc_core.data.semantickitti_source import SemanticKittiSource, parse_sequences
from loc_core.data.vocabulary import FREE_ID, UNLABELLED_ID, class_id
from loc_core.geometry.transforms import apply_transform

STATIC_STRUCTURE = (50, 51, 70, 71, 80)


def sequence_figures(root, sequence: str, labels_dir=None) -> dict:
    source = SemanticKittiSource(root, sequence, load_images=False, with_camera=False)
    unlabelled = SemanticKittiSource(root, sequence, with_labels=False, with_camera=False)
    frames = list(source)
    first, last = frames[0], frames[-1]

    def structure(frame):
        scan = int(frame.token.split('_')[1])
        raw = read_labels(source.folder / 'labels' / f'{scan:06d}.label', len(frame.points)) & 0xFFFF
        return np.isin(raw, STATIC_STRUCTURE)

    tree = cKDTree(first.points_world()[structure(first)])
    mine = last.points[structure(last)].astype(np.float64)
    road_z = []
    for frame in frames:
        ego = frame.points_ego()
        near = (frame.point_labels == class_id('driveable_surface')) & (np.linalg.norm(ego[:, :2], axis=1) < 15)
        road_z.append(float(np.median(ego[near, 2])))
    out = {'lidar_height_m': round(float(source.lidar_to_ego[2, 3]), 3),
           'lidar_height_without_labels_m': round(float(unlabelled.lidar_to_ego[2, 3]), 3),
           'registration_median_m': round(float(np.median(tree.query(apply_transform(last.lidar_to_world, mine))[0])), 3),
           'without_poses_median_m': round(float(np.median(tree.query(apply_transform(first.lidar_to_world, mine))[0])), 3),
           'road_median_z_m': [round(z, 3) for z in road_z], 'scans': len(frames)}
    if labels_dir is not None:
        occupied, labelled = [], 0
        for frame in frames:
            semantics = load_occ3d_labels(Path(labels_dir) / frame.scene / frame.token / 'labels.npz').semantics
            taken = semantics != FREE_ID
            occupied.append(int(taken.sum()))
            labelled += int((taken & (semantics != UNLABELLED_ID)).sum())
        out.update(occupied_voxels=occupied, labelled_share=round(labelled / max(sum(occupied), 1), 4))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', required=True)
    parser.add_argument('--sequences', default='all')
    parser.add_argument('--labels-dir', default=None, help='loc-gt --semantickitti output')
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args(argv)
    figures = {seq: sequence_figures(args.root, seq, args.labels_dir)
               for seq in parse_sequences(args.sequences, args.root)}
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        for seq, row in figures.items():
            print(seq, row)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
