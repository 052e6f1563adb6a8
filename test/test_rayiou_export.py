"""RayIoU (SparseOcc's ray metric), group bootstrap intervals and the Occ3D export, on hand-made grids
with known answers, plus a loc-eval smoke run with --rayiou and --export."""
import json

import numpy as np
import pytest

from loc_core.data.occ3d_io import load_occ3d_labels
from loc_core.data.vocabulary import FREE_ID, UNLABELLED_ID
from loc_core.evaluation.bootstrap import bootstrap_interval, bootstrap_miou, miou_from_confusions
from loc_core.evaluation.export import export_occ3d
from loc_core.evaluation.rayiou import (LIDAR_ORIGIN, RayMetrics, first_hits, ray_directions,
                                        sparseocc_pitches)
from loc_core.geometry.voxel_grid import VoxelGrid

GRID = VoxelGrid()
MANMADE, CAR = 15, 4
# a narrow fan towards +x: every ray meets a wall across the grid at x = 10 m at a near-normal angle
FAN = ray_directions(np.deg2rad([-5.0, 0.0, 5.0]))
FAN = FAN[np.abs(np.arctan2(FAN[:, 1], FAN[:, 0])) <= np.deg2rad(20.0)]


def wall(x_metres: float, label: int = MANMADE) -> np.ndarray:
    grid = np.full(GRID.shape, FREE_ID, dtype=np.uint8)
    grid[int(round((x_metres - GRID.lower[0]) / GRID.voxel_size))] = label
    return grid


def score(pred, gt, directions=FAN, origins=None) -> dict:
    metrics = RayMetrics(directions=directions)
    metrics.add(pred, gt, GRID, origins=origins)
    return metrics.summary()


def test_sparseocc_ray_fan():
    pitches = np.rad2deg(sparseocc_pitches())
    assert pitches[0] == pytest.approx(-45.0) and pitches[1] == pytest.approx(-26.565, abs=1e-3)
    assert 12.0 < pitches[-1] < 13.0 and np.all(np.diff(pitches) > 0)
    directions = ray_directions()
    assert directions.shape == (len(pitches) * 360, 3)
    assert np.allclose(np.linalg.norm(directions, axis=1), 1.0)


def test_exact_depth_along_an_axis():
    gt = wall(10.0)
    [(depth, label)] = first_hits([gt], GRID, LIDAR_ORIGIN, [[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert depth[0] == pytest.approx(10.0 - LIDAR_ORIGIN[0]) and label[0] == MANMADE
    assert np.isinf(depth[1:]).all() and (label[1:] == -1).all()  # no hit: no depth, no class


def test_exact_match_is_100():
    s = score(wall(10.0), wall(10.0))
    assert s['rayiou'] == s['rayiou_1m'] == s['rayiou_2m'] == s['rayiou_4m'] == pytest.approx(100.0)
    assert s['rays'] == len(FAN) and s['frames'] == 1
    assert s['per_class']['manmade']['rayiou_1m'] == pytest.approx(100.0)
    assert s['per_class']['car']['rayiou_1m'] is None  # in neither: left out of the mean


def test_one_voxel_closer_is_still_a_hit_at_1m():
    s = score(wall(9.6), wall(10.0))
    assert s['rayiou_1m'] == s['rayiou'] == pytest.approx(100.0)


def test_three_metres_off_counts_only_at_4m():
    s = score(wall(13.2), wall(10.0))
    assert s['rayiou_1m'] == s['rayiou_2m'] == 0.0
    assert s['rayiou_4m'] == pytest.approx(100.0)
    assert s['rayiou'] == pytest.approx(100.0 / 3)


def test_wrong_class_and_empty_prediction_score_zero():
    wrong = score(wall(10.0, CAR), wall(10.0))
    assert wrong['rayiou'] == 0.0
    assert wrong['per_class']['car']['rayiou_4m'] == 0.0  # predicted only: counts, as in SparseOcc
    empty = score(np.full(GRID.shape, FREE_ID, np.uint8), wall(10.0))
    assert empty['rayiou'] == 0.0 and empty['rays'] == len(FAN)


def test_rays_without_ground_truth_hit_or_with_unlabelled_hit_are_dropped():
    backwards = -FAN  # towards -x: nothing there in the ground truth
    pred = np.minimum(wall(-10.0, CAR), wall(10.0))  # the right wall, plus a car wall behind
    s = score(pred, wall(10.0), directions=np.concatenate([FAN, backwards]))
    assert s['rays'] == len(FAN) and s['rayiou'] == pytest.approx(100.0)  # the car wall is never scored
    s = score(wall(10.0), wall(10.0, UNLABELLED_ID))
    assert s['rays'] == 0 and s['rayiou'] is None


def test_several_origins_add_rays():
    s = score(wall(10.0), wall(10.0), origins=[LIDAR_ORIGIN, (-2.0, 1.0, 1.5)])
    assert s['rays'] == 2 * len(FAN) and s['rayiou'] == pytest.approx(100.0)


def test_full_fan_on_a_street():
    gt = np.full(GRID.shape, FREE_ID, dtype=np.uint8)
    gt[:, :, :3] = 11  # road
    gt[:, 60:62, :] = gt[:, 140:142, :] = MANMADE  # buildings on both sides
    pred = gt.copy()
    pred[:, 140:142, :] = 16  # one side mistaken for vegetation
    metrics = RayMetrics()
    metrics.add(pred, gt, GRID)
    s = metrics.summary()
    assert s['per_class']['driveable_surface']['rayiou_1m'] == pytest.approx(100.0)
    assert 0 < s['per_class']['manmade']['rayiou_1m'] < 100 and s['per_class']['vegetation']['rayiou_1m'] == 0.0


def test_bootstrap_is_deterministic_contains_the_value_and_narrows():
    rng = np.random.default_rng(1)
    few, many = list(rng.normal(5.0, 2.0, 6)), list(rng.normal(5.0, 2.0, 200))
    first = bootstrap_interval(few, np.mean, n=500, seed=3)
    assert first == bootstrap_interval(few, np.mean, n=500, seed=3)
    median, low, high = first
    assert low <= np.mean(few) <= high and low <= median <= high
    _, low2, high2 = bootstrap_interval(many, np.mean, n=500, seed=3)
    assert low2 <= np.mean(many) <= high2
    assert high2 - low2 < (high - low) / 2


def test_miou_pools_confusions_instead_of_averaging_groups():
    a = np.zeros((18, 18), dtype=np.int64)
    b = a.copy()
    a[0, 0] = 90  # town a: class 0 right 90 times
    b[0, 1] = 10  # town b: class 0 seen 10 times, all called 1
    pooled = miou_from_confusions([a, b])
    assert pooled == pytest.approx((90 / 100 * 100 + 0.0) / 2)  # class 0: 90/100, class 1: 0/10
    median, low, high = bootstrap_miou([a, b, a, b], n=200, seed=0)
    assert low <= pooled <= high


def test_export_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    semantics = rng.integers(0, 18, GRID.shape).astype(np.uint8)
    lidar, camera = (rng.random(GRID.shape) < 0.5).astype(np.uint8), rng.random(GRID.shape) < 0.3
    path = export_occ3d(tmp_path, 'tok1', semantics, lidar, camera)
    assert path == tmp_path / 'tok1' / 'labels.npz'
    labels = load_occ3d_labels(path)
    assert np.array_equal(labels.semantics, semantics) and np.array_equal(labels.mask_lidar, lidar)
    assert np.array_equal(labels.mask_camera, camera.astype(np.uint8)) and labels.semantics_open is None
    bare = load_occ3d_labels(export_occ3d(tmp_path, 'tok2', semantics))
    assert bare.mask_camera.all() and bare.mask_lidar.all() and bare.mask_camera.dtype == np.uint8
    assert not [p for p in (tmp_path / 'tok1').iterdir() if p.name != 'labels.npz']  # no temporary left
    with pytest.raises(ValueError):
        export_occ3d(tmp_path, '../escape', semantics)


def test_loc_eval_rayiou_and_export(tmp_path, capsys):
    from loc_core.evaluation.cli import main

    out = tmp_path / 'pred'
    code = main(['--synthetic-seeds', '1000,1001', '--frames-per-seed', '1', '--prompt-sets', 'standard',
                 '--rayiou', '--export', str(out), '--bootstrap', '50', '--json'])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    interval = report['standard']['bootstrap']
    assert interval['groups'] == 2 and interval['resamples'] == 50 and interval['level'] == 0.95
    assert 0 <= interval['low'] <= interval['median'] <= interval['high'] <= 100
    ray = report['standard']['rayiou']
    assert {'rayiou', 'rayiou_1m', 'rayiou_2m', 'rayiou_4m', 'per_class', 'rays'} <= set(ray)
    assert ray['frames'] == 2 and ray['rays'] > 0 and 0 <= ray['rayiou'] <= 100
    assert 'miou' in report['standard'] and 'mask_lidar' in report['standard']  # existing keys unchanged
    files = sorted(out.glob('*/labels.npz'))
    assert len(files) == 2
    labels = load_occ3d_labels(files[0])
    assert labels.semantics.shape == GRID.shape
