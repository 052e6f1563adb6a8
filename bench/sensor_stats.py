"""Sensor statistics, real nuScenes vs the synthetic world, side by side: what the network sees of
the LiDAR (points per sweep and ring, beam elevations, ranges, heights, intensities, ego-vehicle
returns, mounting pose, occupancy-grid coverage) and of the cameras after its own 352x128 resize
(colour mean/std, saturation, local contrast, clipped pixels).

Usage: .venv/bin/python bench/sensor_stats.py [--synthetic-seeds 0-3] [--frames-per-seed 5]
           [--verbose] [--json OUT.json] [--baseline BEFORE.json]
Real data: scene-0916 (nuScenes v1.0-mini, 41 keyframes, LiDAR + 6 cameras) and the 11 lidarseg
frames (LiDAR only, no ring), found through `loc_core.data.sample_data.sample_data_root()`.
`--json` writes every statistic; `--baseline` adds the columns of such a file (e.g. a run before
a simulator change) as "<name> (baseline)". Results computed from the real data are nuScenes data
(Motional), CC BY-NC-SA 4.0."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loc_core.data.sample_data import LIDARSEG_FRAMES, NUSCENES_MINI_SCENE, sample_data_root  # noqa: E402
from loc_core.geometry.voxel_grid import VoxelGrid  # noqa: E402
from loc_core.models.inputs import prepare_images  # noqa: E402

IMAGE_SIZE = (352, 128)
GRID = VoxelGrid()  # [-40,-40,-1,40,40,5.4], 0.4 m: 200x200x16
# ego footprint box in the ego frame (nuScenes' Renault Zoe: about 4.1 m x 1.8 m, body centre
# about 1.4 m ahead of the rear axle, the ego origin); a little margin on each side
EGO_BOX_CENTRE_X, EGO_BOX_HALF_X, EGO_BOX_HALF_Y = 1.4, 2.5, 1.1
NEAR_RANGE = 2.5
PCT = (5, 25, 50, 75, 95)


class Accumulator:
    """Collects per-frame statistics of one source."""

    def __init__(self, name):
        self.name = name
        self.sweep_sizes, self.ring_counts, self.ring_elev = [], [], {}
        self.ranges, self.heights, self.intensity = [], [], []
        self.ego_box, self.near, self.in_grid, self.voxels = [], [], [], []
        self.mount = []
        self.img_pixels, self.img_sat, self.img_lap, self.img_dark, self.img_bright = [], [], [], [], []
        self.has_ring = False
        self.has_images = False
        self.frames = 0

    def add(self, frame, rng):
        self.frames += 1
        pts = np.asarray(frame.points, dtype=np.float64)
        n = len(pts)
        self.sweep_sizes.append(n)
        rng_xyz = np.linalg.norm(pts, axis=1)
        ego = frame.points_ego().astype(np.float64)
        sub = rng.choice(n, size=min(n, 8000), replace=False)  # per-frame subsample for percentiles
        self.ranges.append(rng_xyz[sub])
        self.heights.append(ego[sub, 2])
        self.intensity.append(np.asarray(frame.intensity, dtype=np.float64)[sub])
        in_box = (np.abs(ego[:, 0] - EGO_BOX_CENTRE_X) < EGO_BOX_HALF_X) & (np.abs(ego[:, 1]) < EGO_BOX_HALF_Y)
        self.ego_box.append(int(in_box.sum()))
        self.near.append(int((rng_xyz < NEAR_RANGE).sum()))
        inside = GRID.in_range(ego)
        self.in_grid.append(float(inside.mean()) if n else 0.0)
        idx = GRID.point_to_index(ego[inside])
        self.voxels.append(int(len(np.unique(GRID.flat_index(idx)))) if len(idx) else 0)
        m = frame.lidar_to_ego
        yaw = np.degrees(np.arctan2(m[1, 0], m[0, 0]))
        pitch = np.degrees(-np.arcsin(np.clip(m[2, 0], -1, 1)))
        roll = np.degrees(np.arctan2(m[2, 1], m[2, 2]))
        self.mount.append((*m[:3, 3], yaw, pitch, roll))
        if frame.ring is not None:
            self.has_ring = True
            ring = np.asarray(frame.ring, dtype=np.int64)
            self.ring_counts.append(np.bincount(ring, minlength=32)[:32])
            elev = np.degrees(np.arctan2(pts[:, 2], np.hypot(pts[:, 0], pts[:, 1])))
            for r in range(32):
                sel = elev[ring == r]
                if len(sel):
                    self.ring_elev.setdefault(r, []).append(sel[:: max(1, len(sel) // 300)])
        if frame.cameras:
            self.has_images = True
            images, _ = prepare_images(frame, IMAGE_SIZE)
            for img in images:
                self.img_pixels.append(img.reshape(-1, 3)[::7].astype(np.float64))
                hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
                self.img_sat.append(hsv[..., 1].mean() / 255.0)
                gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
                self.img_lap.append(cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F).std())
                self.img_dark.append(float((img.max(axis=2) < 16).mean()))
                self.img_bright.append(float((img.min(axis=2) > 240).mean()))

    def summary(self) -> dict:
        out = {'name': self.name, 'frames': self.frames}
        r, h, i = (np.concatenate(x) for x in (self.ranges, self.heights, self.intensity))
        out['points_per_sweep_median'] = float(np.median(self.sweep_sizes))
        out['range_pct'] = [float(v) for v in np.percentile(r, PCT)]
        out['range_beyond_40m'] = float((r > 40).mean())
        out['height_pct'] = [float(v) for v in np.percentile(h, PCT)]
        out['height_below_0.3m'] = float((h < 0.3).mean())
        out['intensity_pct'] = [float(v) for v in np.percentile(i, PCT)]
        out['intensity_mean'] = float(i.mean())
        out['intensity_zero'] = float((i == 0).mean())
        out['intensity_max'] = float(i.max())
        out['ego_box_points_median'] = float(np.median(self.ego_box))
        out['near_points_median'] = float(np.median(self.near))
        mount = np.median(np.array(self.mount), axis=0)
        out['mount_xyz'] = [float(v) for v in mount[:3]]
        out['mount_yaw_pitch_roll_deg'] = [float(v) for v in mount[3:]]
        out['in_grid_fraction'] = float(np.median(self.in_grid))
        out['occupied_voxels_median'] = float(np.median(self.voxels))
        if self.has_ring:
            per_ring = np.median(np.array(self.ring_counts), axis=0)
            out['ring_points'] = [float(v) for v in per_ring]
            elev = [float(np.median(np.concatenate(self.ring_elev[r]))) if r in self.ring_elev else None
                    for r in range(32)]
            out['ring_elevation_deg'] = elev
        if self.has_images:
            px = np.concatenate(self.img_pixels)
            out['rgb_mean'] = [float(v) for v in px.mean(axis=0)]
            out['rgb_std'] = [float(v) for v in px.std(axis=0)]
            out['saturation_mean'] = float(np.mean(self.img_sat))
            out['laplacian_std'] = float(np.mean(self.img_lap))
            out['near_black'] = float(np.mean(self.img_dark))
            out['near_white'] = float(np.mean(self.img_bright))
        return out


def parse_seeds(text: str) -> list[int]:
    seeds = []
    for part in text.split(','):
        if '-' in part:
            lo, hi = part.split('-')
            seeds.extend(range(int(lo), int(hi) + 1))
        elif part:
            seeds.append(int(part))
    return seeds


def _fmt(values, digits=1):
    return '/'.join(f'{v:.{digits}f}' for v in values)


def _ring_summary(s):
    counts = s.get('ring_points')
    if counts is None:
        return 'n/a', 'n/a'
    elev = np.array([e for e in s['ring_elevation_deg'] if e is not None])
    return (f'{np.median(counts):.0f} ({min(counts):.0f}-{max(counts):.0f})',
            f'{elev.min():.2f} / {elev.max():.2f} / {np.diff(elev).mean():.3f}')


ROWS = [
    ('frames', lambda s: f"{s['frames']}"),
    ('points per sweep (median)', lambda s: f"{s['points_per_sweep_median']:.0f}"),
    ('points per ring: median (min-max ring)', lambda s: _ring_summary(s)[0]),
    ('beam elevation deg: lowest / highest / mean spacing', lambda s: _ring_summary(s)[1]),
    ('range m p5/p25/p50/p75/p95', lambda s: _fmt(s['range_pct'])),
    ('fraction of returns beyond 40 m', lambda s: f"{s['range_beyond_40m']:.3f}"),
    ('ego-frame height m p5/p25/p50/p75/p95', lambda s: _fmt(s['height_pct'], 2)),
    ('fraction below 0.3 m (ground)', lambda s: f"{s['height_below_0.3m']:.3f}"),
    ('intensity p5/p25/p50/p75/p95', lambda s: _fmt(s['intensity_pct'])),
    ('intensity mean / max', lambda s: f"{s['intensity_mean']:.1f} / {s['intensity_max']:.0f}"),
    ('fraction of zero intensity', lambda s: f"{s['intensity_zero']:.3f}"),
    ('points in ego footprint box (median)', lambda s: f"{s['ego_box_points_median']:.0f}"),
    (f'points with range < {NEAR_RANGE} m (median)', lambda s: f"{s['near_points_median']:.0f}"),
    ('LiDAR mount x/y/z m', lambda s: _fmt(s['mount_xyz'], 3)),
    ('LiDAR mount yaw/pitch/roll deg', lambda s: _fmt(s['mount_yaw_pitch_roll_deg'], 2)),
    ('fraction of points in the 200x200x16 grid', lambda s: f"{s['in_grid_fraction']:.3f}"),
    ('distinct occupied voxels (median)', lambda s: f"{s['occupied_voxels_median']:.0f}"),
    ('image RGB mean (352x128)', lambda s: _fmt(s['rgb_mean']) if 'rgb_mean' in s else 'n/a'),
    ('image RGB std', lambda s: _fmt(s['rgb_std']) if 'rgb_std' in s else 'n/a'),
    ('image mean saturation (HSV, 0-1)', lambda s: f"{s['saturation_mean']:.3f}" if 'rgb_mean' in s else 'n/a'),
    ('image local contrast (Laplacian std)', lambda s: f"{s['laplacian_std']:.1f}" if 'rgb_mean' in s else 'n/a'),
    ('image near-black / near-white fraction',
     lambda s: f"{s['near_black']:.4f} / {s['near_white']:.4f}" if 'rgb_mean' in s else 'n/a'),
]


def markdown_table(summaries: list[dict]) -> str:
    lines = ['| quantity | ' + ' | '.join(s['name'] for s in summaries) + ' |',
             '| --- |' + ' --- |' * len(summaries)]
    for label, fn in ROWS:
        lines.append(f'| {label} | ' + ' | '.join(fn(s) for s in summaries) + ' |')
    return '\n'.join(lines)


def ring_table(summaries: list[dict]) -> str:
    with_ring = [s for s in summaries if 'ring_points' in s]
    lines = ['| ring | ' + ' | '.join(f"{s['name']} elev deg | {s['name']} points" for s in with_ring) + ' |',
             '| --- |' + ' --- | --- |' * len(with_ring)]
    for r in range(32):
        cells = []
        for s in with_ring:
            e = s['ring_elevation_deg'][r]
            cells += ['-' if e is None else f'{e:.2f}', f"{s['ring_points'][r]:.0f}"]
        lines.append(f'| {r} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--synthetic-seeds', default='0-3', help='e.g. 0-3 or 0,2,5')
    parser.add_argument('--frames-per-seed', type=int, default=5)
    parser.add_argument('--real-frames', type=int, default=0, help='limit scene-0916 keyframes (0 = all 41)')
    parser.add_argument('--verbose', action='store_true', help='print the full 32-ring table')
    parser.add_argument('--json', help='write all statistics to this JSON file')
    parser.add_argument('--baseline', help='a JSON file from an earlier --json run to show beside')
    args = parser.parse_args(argv)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    rng = np.random.default_rng(0)
    summaries = []
    start = time.perf_counter()
    root = sample_data_root()
    if root is None:
        print('sample data not found (set LOC_SAMPLE_DATA); showing the synthetic world only', file=sys.stderr)
    else:
        from loc_core.data.lidarseg_source import LidarsegSequenceSource
        from loc_core.data.nuscenes_source import NuScenesSource
        scene = root / NUSCENES_MINI_SCENE
        if scene.is_dir():
            acc = Accumulator('real scene-0916')
            source = NuScenesSource(scene, version='v1.0-mini')
            for k, frame in enumerate(source):
                if args.real_frames and k >= args.real_frames:
                    break
                acc.add(frame, rng)
            summaries.append(acc.summary())
        seg = root / LIDARSEG_FRAMES
        if seg.is_dir():
            acc = Accumulator('real lidarseg-11')
            for frame in LidarsegSequenceSource(seg):
                acc.add(frame, rng)
            summaries.append(acc.summary())
    from loc_core.sim import SyntheticSource
    seeds = parse_seeds(args.synthetic_seeds)
    acc = Accumulator(f'synthetic s{args.synthetic_seeds} x{args.frames_per_seed}')
    for seed in seeds:
        source = SyntheticSource(seed, args.frames_per_seed)
        for index in range(args.frames_per_seed):
            acc.add(source.frame(index), rng)
    summaries.append(acc.summary())
    if args.baseline:
        for s in json.loads(Path(args.baseline).read_text())['summaries']:
            if s['name'].startswith('synthetic'):
                summaries.append({**s, 'name': s['name'] + ' (baseline)'})
    elapsed = time.perf_counter() - start
    print(markdown_table(summaries))
    if args.verbose:
        print()
        print(ring_table(summaries))
    print(f'\n{elapsed:.1f} s. Real columns: nuScenes (Motional), CC BY-NC-SA 4.0.')
    if args.json:
        Path(args.json).write_text(json.dumps({'summaries': summaries, 'argv': sys.argv[1:]}, indent=1))


if __name__ == '__main__':
    main()
