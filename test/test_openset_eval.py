"""The bigger open-set test: the extended novel kinds of the simulator (their own random stream, the
rest of a town unchanged), open-set scores from histograms and their bootstrap interval over towns
on hand-made cases with known answers, SparseOcc's RayIoU origins, and a loc-eval run with both."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from loc_core.data.vocabulary import FREE_ID
from loc_core.evaluation.bootstrap import bootstrap_interval, bootstrap_open_set, resample_counts
from loc_core.evaluation.openset import (auroc, auroc_from_histograms, fpr_at_tpr, fpr_at_tpr_from_histograms,
                                         score_histograms)
from loc_core.evaluation.rayiou import RayMetrics, sequence_origins
from loc_core.geometry.transforms import yaw_transform
from loc_core.geometry.voxel_grid import VoxelGrid
from loc_core.sim import NOVEL_CLASSES, SimConfig, SyntheticSource
from loc_core.sim.assets import make_asset
from loc_core.sim.novel import NOVEL_ASSETS, SCENE_NOVEL_ASSETS
from loc_core.sim.streets import _overlaps, _town_part_bounds
from loc_core.sim.town import build_town

GRID = VoxelGrid()
MANMADE, CAR = 15, 4


# -- the simulator's novel kinds ------------------------------------------------------------------
def test_at_least_twelve_novel_kinds_of_varied_size():
    assert len(NOVEL_CLASSES) >= 12 and min(NOVEL_CLASSES) >= 20
    assert len(set(NOVEL_CLASSES.values())) == len(NOVEL_CLASSES)
    assert sorted(NOVEL_ASSETS.values()) == sorted(NOVEL_CLASSES)
    assert {NOVEL_ASSETS[n] for n in SCENE_NOVEL_ASSETS} == {20, 21, 22, 23, 24}  # the first five keep their ids
    largest = []
    for name in NOVEL_ASSETS:
        asset = make_asset(name, np.random.default_rng(3))
        lower, upper = asset.extent()
        size = upper - lower
        assert asset.class_id == 0 and asset.novel_id == NOVEL_ASSETS[name]
        assert size[1] <= 1.2 + 1e-9 and lower[2] >= -1e-9  # fits the sidewalk band, stands on the ground
        largest.append(size.max())
    assert min(largest) <= 1.0 and max(largest) >= 2.5  # from small (tyre, mailbox) to 2.9 m (slide)


def test_extra_novel_objects_leave_the_rest_of_the_town_unchanged():
    for seed in (80000, 80001, 7):
        plain = build_town(seed, 40, SimConfig())
        extended = build_town(seed, 40, SimConfig(novel_extra_count=12))
        again = build_town(seed, 40, SimConfig(novel_extra_count=12))
        n = len(plain.objects)
        for a, b in zip(plain.objects, extended.objects[:n]):
            assert (a.asset.name, a.x, a.y, a.yaw, a.speed) == (b.asset.name, b.x, b.y, b.yaw, b.speed)
            assert np.array_equal(a.asset.parts, b.asset.parts) and np.array_equal(a.asset.albedo, b.asset.albedo)
        assert np.array_equal(plain.town_to_world, extended.town_to_world) and plain.ego_wobble == extended.ego_wobble
        extra = extended.objects[n:]
        assert len(extra) == 12 and extended.has_novel and all(o.asset.novel_id >= 20 for o in extra)
        assert [(o.asset.name, o.x, o.y) for o in extra] == [(o.asset.name, o.x, o.y) for o in again.objects[n:]]
        lower, upper = _town_part_bounds([o for o in plain.objects if o.paint])
        for o in extra:  # clear of every other part
            lo, hi = _town_part_bounds([o])
            assert not _overlaps(lo, hi, lower, upper, 0.0)
    assert SimConfig().novel_extra_count == 0
    with pytest.raises(ValueError, match='novel_extra_count'):
        SimConfig(novel_extra_count=-1)


def test_scene_novel_objects_draw_only_the_first_five_kinds():
    kinds = set()
    for seed in range(20):
        town = build_town(seed, 40, SimConfig(novel_probability=1.0, novel_count=6))
        kinds |= {o.asset.name for o in town.objects if o.asset.novel_id}
    assert kinds and kinds <= set(SCENE_NOVEL_ASSETS)


def test_extra_novel_objects_are_others_except_in_open_semantics():
    source = SyntheticSource(80002, 1, SimConfig(novel_extra_count=12, novel_probability=0.0))
    frame = source.frame(0)
    occ = frame.occupancy
    novel = occ.semantics_open >= 20
    ids = set(np.unique(occ.semantics_open[novel]).tolist())
    assert len(ids) >= 3 and ids <= set(NOVEL_CLASSES) and ids - {20, 21, 22, 23, 24}
    assert np.all(occ.semantics[novel] == 0)
    assert frame.point_labels[frame.point_labels != 255].max() <= 16 and frame.boxes.class_ids.max() <= 10
    assert all(cam.pixel_labels.max() <= 17 for cam in frame.cameras)


# -- open-set scores from histograms, bootstrap over towns ------------------------------------------
def test_histogram_scores_match_the_exact_ones():
    novel, known = [0.9, 0.8], [0.1, 0.85, 0.2]
    scores, flags = np.array(novel + known), np.array([True, True, False, False, False])
    hist = score_histograms(scores, flags)
    assert hist.sum(axis=1).tolist() == [3, 2]
    assert auroc_from_histograms(hist) == pytest.approx(auroc(scores, flags)) == pytest.approx(5 / 6)
    assert fpr_at_tpr_from_histograms(hist) == pytest.approx(fpr_at_tpr(scores, flags)) == pytest.approx(1 / 3)
    rng = np.random.default_rng(0)
    flags = rng.random(4000) < 0.1
    scores = np.round(rng.normal(0.3, 0.2, 4000) + 0.15 * flags, 3) + 5e-5  # ties, mid-bin
    hist = score_histograms(scores, flags)
    assert auroc_from_histograms(hist) == pytest.approx(auroc(scores, flags), abs=1e-12)
    assert fpr_at_tpr_from_histograms(hist) == pytest.approx(fpr_at_tpr(scores, flags), abs=1e-12)
    assert np.isnan(auroc_from_histograms(score_histograms([0.1, 0.2], [False, False])))


def test_identical_towns_give_a_zero_width_interval():
    rng = np.random.default_rng(1)
    scores, flags = rng.random(500), rng.random(500) < 0.2
    town = score_histograms(scores, flags)
    result = bootstrap_open_set([town] * 6, n=200)
    pooled = np.sum([town] * 6, axis=0)
    assert result['auroc'] == pytest.approx((auroc_from_histograms(pooled),) * 3)
    assert result['fpr95'] == pytest.approx((fpr_at_tpr_from_histograms(pooled),) * 3)


def test_two_towns_give_the_known_interval():
    # town A: the novel voxel scores above the known one (AUROC 1, FPR@95 0); town B: below (0, 1).
    # Resamples AA, AB, BB come 1/4, 1/2, 1/4 of the time; AB pools to AUROC 2/4, FPR@95 1.
    a = score_histograms([0.9, 0.5], [True, False])
    b = score_histograms([0.2, 0.6], [True, False])
    result = bootstrap_open_set([a, b], n=4000, seed=5)
    assert result['auroc'] == pytest.approx((0.5, 0.0, 1.0))
    assert result['fpr95'] == pytest.approx((1.0, 0.0, 1.0))


def test_resample_counts_are_the_interval_resamples():
    groups = [0.0, 1.0, 10.0, 100.0]
    counts = resample_counts(len(groups), n=300, seed=7)
    assert counts.shape == (300, 4) and np.all(counts.sum(axis=1) == 4)
    totals = counts @ np.array(groups)
    assert bootstrap_interval(groups, np.sum, n=300, seed=7) == pytest.approx(
        (np.percentile(totals, 50), np.percentile(totals, 2.5), np.percentile(totals, 97.5)))


# -- SparseOcc's ray origins -------------------------------------------------------------------------
def test_sequence_origins_follow_sparseocc():
    mount = yaw_transform(0.944, 0.0, 1.84, -np.pi / 2)  # LiDAR 0.944 m ahead, 1.84 m up, x to the right
    heading = np.pi / 3  # the road runs at 60 degrees in the world
    direction = np.array([np.cos(heading), np.sin(heading), 0.0])
    egos = [yaw_transform(*(np.array([100.0, 50.0, 0.0]) + 3.0 * k * direction), heading) for k in range(40)]
    lidars = [e @ mount for e in egos]
    origins = sequence_origins(egos[10], lidars)
    # frames 0..22 lie within 39 m (x = -30 .. +36, frame 23 at +39 is out); 8 of those 23, evenly
    chosen = np.round(np.linspace(0, 22, 8)).astype(int)
    assert chosen.tolist() == [0, 3, 6, 9, 13, 16, 19, 22]
    expected = np.stack([[3.0 * (k - 10) + 0.944, 0.0, 1.84] for k in chosen])
    assert np.allclose(origins, expected)
    few = sequence_origins(egos[0], lidars[:3])  # fewer than 8 in reach: all of them, own first
    assert np.allclose(few, [[0.944, 0, 1.84], [3.944, 0, 1.84], [6.944, 0, 1.84]])
    side = sequence_origins(yaw_transform(100.0, 50.0, 0.0, heading + np.pi / 2), lidars[:20])
    assert np.allclose(side[:, 0], 0.0, atol=1e-9) and np.all(np.abs(side[:, 1]) < 39)  # |y| also limited


def test_rayiou_with_two_origins_known_answer():
    # ground truth: a manmade wall across the grid at x = 10 m; the prediction has that wall plus a
    # car voxel at x = 4 m on the ray. From x = 0 the ray hits the car (wrong class); from x = 6 m it
    # is past the car and hits the wall. Manmade: 2 GT rays, 1 predicted, 1 TP -> 1/2; car: 0 / 1 -> 0.
    gt = np.full(GRID.shape, FREE_ID, np.uint8)
    gt[125] = MANMADE  # x in [10.0, 10.4)
    pred = gt.copy()
    j, k = GRID.point_to_index(np.array([[4.2, 0.1, 1.1]]))[0][1:]
    pred[110, j, k] = CAR  # x in [4.0, 4.4)
    ray = [[1.0, 0.0, 0.0]]
    origins = [(0.0, 0.1, 1.1), (6.0, 0.1, 1.1)]

    def score(which):
        metrics = RayMetrics(directions=ray)
        metrics.add(pred, gt, GRID, origins=which)
        return metrics.summary()
    assert score(origins[:1])['rayiou'] == 0.0 and score(origins[1:])['rayiou'] == pytest.approx(100.0)
    both = score(origins)
    assert both['rays'] == 2 and both['rayiou'] == pytest.approx(25.0)
    assert both['per_class']['manmade']['rayiou_1m'] == pytest.approx(50.0)
    assert both['per_class']['car']['rayiou_4m'] == 0.0


def test_synthetic_scene_poses_give_the_frames_own_origin_first():
    from loc_core.evaluation.cli import synthetic_scene_poses
    from loc_core.geometry.transforms import invert
    from loc_core.sim.lidar import lidar_to_ego

    poses = synthetic_scene_poses([80000], 2)
    lidars = poses.poses('synth-s80000')
    assert lidars.shape == (40, 4, 4) and poses.poses('synth-s1') is None
    mount = lidar_to_ego(SimConfig().lidar)
    frame = SimpleNamespace(scene='synth-s80000', ego_to_world=lidars[0] @ invert(mount), lidar_to_ego=mount)
    origins = poses.origins(frame)
    assert len(origins) == 8 and np.allclose(origins[0], mount[:3, 3])
    assert np.all(np.diff(origins[:, 0]) > 0) and origins[:, 0].max() < 39  # ahead along the route
    stranger = SimpleNamespace(scene='elsewhere', ego_to_world=np.eye(4), lidar_to_ego=mount)
    assert np.allclose(poses.origins(stranger), [mount[:3, 3]])  # unknown scene: its own LiDAR only


# -- loc-eval ---------------------------------------------------------------------------------------
def test_loc_eval_bootstrap_of_open_set_per_prompt_set(tmp_path, capsys):
    from loc_core.evaluation.cli import main

    config = tmp_path / 'open.yaml'
    config.write_text('novel_extra_count: 12\n')
    code = main(['--synthetic-seeds', '80003,80004', '--frames-per-seed', '1', '--prompt-sets', 'standard,renamed',
                 '--sim-config', str(config), '--bootstrap', '40', '--rayiou', '--json'])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    for name in ('standard', 'renamed'):
        open_set, interval = report[name]['open_set'], report[name]['bootstrap']
        assert open_set['novel_voxels'] > 50 and 0 <= open_set['auroc'] <= 1
        assert interval['groups'] == 2 and interval['resamples'] == 40
        for key in ('miou', 'auroc', 'fpr95'):
            values = interval[key]
            assert values['low'] <= values['median'] <= values['high']
        assert interval['median'] == interval['miou']['median']
    assert report['open_set'] == report['standard']['open_set']
    ray = report['standard']['rayiou']
    assert ray['origins'] == 'sequence' and ray['frames'] == 2 and ray['rays'] > 2 * 14040  # several origins


def test_lidarseg_scene_poses_read_every_frame(tmp_path):
    from loc_core.evaluation.cli import lidarseg_scene_poses

    mount = {'translation': [0.9, 0.0, 1.8], 'rotation_wxyz': [1.0, 0.0, 0.0, 0.0]}
    frames = [{'file': f'frame_{k:02d}.npz', 'timestamp_us': k, 'lidar_to_ego': mount,
               'ego_pose': {'translation': [10.0 + 5.0 * k, 3.0, 0.0], 'rotation_wxyz': [1.0, 0.0, 0.0, 0.0]}}
              for k in range(11)]
    (tmp_path / 'frames.json').write_text(json.dumps({'frames': frames}))
    poses = lidarseg_scene_poses(tmp_path)
    frame = SimpleNamespace(scene='lidarseg-11frames', ego_to_world=yaw_transform(35.0, 3.0, 0.0, 0.0),
                            lidar_to_ego=yaw_transform(0.9, 0.0, 1.8, 0.0))
    origins = poses.origins(frame)  # frames 0..10 at x = -25 .. +25 from frame 5: 11 in reach, 8 chosen
    chosen = np.round(np.linspace(0, 10, 8)).astype(int)
    assert np.allclose(origins, [[5.0 * k - 25.0 + 0.9, 0.0, 1.8] for k in chosen])


def _bench_module():
    from bench_modules import load_bench

    return load_bench('openset_eval')


def test_the_bench_chooses_the_norm_term_when_only_the_feature_length_separates():
    """Novel voxels that match a prompt as well as known ones but have shorter features: the validation
    choice takes a norm weight > 0, and its threshold keeps 95 % of the known voxels."""
    bench = _bench_module()
    rng = np.random.default_rng(0)
    cosines = rng.uniform(-0.2, 0.8, size=(400, 5)).astype(np.float32)
    novel = np.arange(400) % 4 == 0
    norms = np.where(novel, 2.0, 8.0).astype(np.float32) * rng.uniform(0.9, 1.1, 400).astype(np.float32)
    temperature, weight, threshold, rows = bench.choose_match_score(cosines, norms, novel)
    assert weight > 0 and len(rows) == len(bench.TEMPERATURES) * len(bench.NORM_WEIGHTS)
    best = max(rows, key=lambda row: row[2])
    without = next(row for row in rows if row[:2] == (temperature, 0.0))
    assert (temperature, weight) == best[:2] and best[2] > 0.9 and without[2] < 0.7
    smooth = bench.soft_best_similarity(torch.from_numpy(cosines), temperature)
    score = (smooth + bench.norm_bonus(torch.from_numpy(norms), weight)).numpy()
    assert np.mean(score[~novel] >= threshold) == pytest.approx(0.95, abs=0.01)
