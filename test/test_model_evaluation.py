"""Evaluation metrics (official Occ3D protocol, open-set) and the loc-eval command."""
import json

import numpy as np
import pytest

from loc_core.data.occ3d_io import load_occ3d_labels
from loc_core.evaluation.metrics import OccupancyMetrics
from loc_core.evaluation.openset import auroc, fpr_at_tpr
from loc_core.evaluation.prompts import PROMPT_SETS


def test_miou_by_hand():
    gt = np.array([[[4, 4, 11, 17, 17, 0]]], np.uint8)
    pred = np.array([[[4, 11, 11, 17, 4, 17]]], np.uint8)
    mask = np.ones_like(gt)
    metrics = OccupancyMetrics()
    metrics.add(pred, gt, mask)
    iou = metrics.per_class_iou()
    assert iou[4] == pytest.approx(1 / 3)  # car: tp 1, fp 1 (free->car), fn 1 (car->road)
    assert iou[11] == pytest.approx(1 / 2)
    assert iou[0] == 0.0  # 'others' counts in the mean even when only in the ground truth
    assert np.isnan(iou[7])
    assert metrics.miou() == pytest.approx((1 / 3 + 1 / 2 + 0) / 3 * 100)
    # geometry: occupied gt {0,1,2,5}, occupied pred {0,1,2,4} -> tp 3, fp 1, fn 1
    assert metrics.geometry_iou() == pytest.approx(3 / 5 * 100)


def test_mask_camera_and_free_exclusion():
    gt = np.array([[[4, 17, 17]]], np.uint8)
    pred = np.array([[[4, 4, 17]]], np.uint8)
    metrics = OccupancyMetrics()
    metrics.add(pred, gt, np.array([[[1, 0, 1]]], np.uint8))  # the false car is outside the camera mask
    assert metrics.miou() == pytest.approx(100.0)  # free's IoU is not averaged in
    with pytest.raises(ValueError, match='shapes'):
        metrics.add(pred, gt[..., :2], np.ones_like(gt))


@pytest.mark.sample_data
def test_occ3d_sample_against_itself_and_a_shifted_copy(occ3d_sample_path):
    labels = load_occ3d_labels(occ3d_sample_path)
    perfect = OccupancyMetrics()
    perfect.add(labels.semantics, labels.semantics, labels.mask_camera)
    assert perfect.miou() == pytest.approx(100.0) and perfect.geometry_iou() == pytest.approx(100.0)
    shifted = OccupancyMetrics()
    shifted.add(np.roll(labels.semantics, 3, axis=0), labels.semantics, labels.mask_camera)
    assert 0 < shifted.miou() < 100 and shifted.geometry_iou() < 100


def test_auroc_and_fpr95():
    assert auroc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) == 0.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5  # ties count half
    assert np.isnan(auroc([0.1], [True]))
    scores = np.concatenate([np.linspace(0.5, 1.0, 100), np.linspace(0.0, 0.6, 100)])
    novel = np.arange(200) < 100
    # 95 % of the novel scores are >= scores[5] (0.525); known scores in [0.525, 0.6] are false positives
    assert fpr_at_tpr(scores, novel) == pytest.approx(np.mean(np.linspace(0.0, 0.6, 100) >= scores[5]))


def test_prompt_sets_cover_the_same_classes():
    for name, make in PROMPT_SETS.items():
        prompts, ids = make()
        assert len(prompts) == len(ids) == 17 and sorted(ids) == list(range(17)), name
    standard, synonyms = PROMPT_SETS['standard']()[0], PROMPT_SETS['synonyms']()[0]
    assert not set(standard) & set(synonyms)
    assert synonyms[4] == 'automobile'


def test_loc_eval_json_on_synthetic_frames(tmp_path, capsys):
    import torch

    from loc_core.config import LocConfig
    from loc_core.evaluation.cli import main
    from loc_core.models.checkpoint import save_checkpoint
    from loc_core.models.factory import create_model

    config = LocConfig()
    config.model.overrides = {'bev_channels': 8, 'trunk_width': 8, 'image_channels': 8}
    torch.manual_seed(0)
    model = create_model(config.model, config.grid.to_grid(), 384)
    path = save_checkpoint(tmp_path / 'm.safetensors', model, config, 0, 'sentence:all-MiniLM-L6-v2')
    code = main(['--checkpoint', str(path), '--synthetic-seeds', '3', '--frames-per-seed', '1', '--json',
                 '--prompt-sets', 'standard,synonyms'])  # two prompt sets keep the test short
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report['standard']['frames'] == 1 and report['synonyms']['frames'] == 1
    assert 0 <= report['standard']['miou'] <= 100 and 'renamed' not in report
    assert report['occupancy_threshold'] == 0.5 and report['accumulated_frames'] == 0
    assert set(report['open_set']) == {'auroc', 'fpr95', 'novel_voxels', 'known_voxels'}
    assert main(['--checkpoint', str(tmp_path / 'missing.safetensors'), '--synthetic-seeds', '3']) == 2
    assert main(['--checkpoint', str(path)]) == 2  # no data source
    assert main(['--checkpoint', str(path), '--synthetic-seeds', '3', '--occupancy-threshold', '1.5']) == 2
    assert main(['--checkpoint', str(path), '--synthetic-seeds', '3', '--accumulate', '-1']) == 2
    capsys.readouterr()
    assert main(['--checkpoint', str(path), '--synthetic-seeds', '3', '--frames-per-seed', '2', '--json',
                 '--prompt-sets', 'standard', '--accumulate', '1']) == 0
    stacked = json.loads(capsys.readouterr().out)
    assert stacked['accumulated_frames'] == 1 and stacked['standard']['frames'] == 2


def test_homogenisation_meter_separates_collapsed_from_distinct_features():
    from loc_core.data.occ3d_io import Occ3DLabels
    from loc_core.evaluation.homogenisation import HomogenisationMeter
    from loc_core.inference.result import OccupancyResult

    semantics = np.full((4, 4, 2), 17, np.uint8)
    semantics[:2, :, 0] = 4
    semantics[2:, :, 0] = 11
    labels = Occ3DLabels(semantics, np.ones_like(semantics), np.ones_like(semantics))
    occupied = np.argwhere(semantics != 17)
    classes = semantics[tuple(occupied.T)]

    def measure(features):
        meter = HomogenisationMeter()
        result = OccupancyResult(labels=np.where(semantics == 17, 255, 0).astype(np.uint8),
                                 occupancy=np.zeros(semantics.shape, np.float32),
                                 scores=np.zeros(semantics.shape, np.float32), occupied_indices=occupied,
                                 feature_coefficients=features, prompts=('a',), class_ids=np.array([0]))
        meter.add(result, labels)
        return meter.summary()

    distinct = measure(np.where(classes[:, None] == 4, [1.0, 0.0], [0.0, 1.0]).astype(np.float32))
    collapsed = measure(np.tile(np.float32([[1.0, 0.0]]), (len(occupied), 1)))
    assert distinct['inter_class_cosine'] == pytest.approx(0.0) and distinct['classes'] == 2
    assert collapsed['inter_class_cosine'] == pytest.approx(1.0)
    assert distinct['intra_class_cosine'] == pytest.approx(1.0)


@pytest.mark.sample_data
def test_nuscenes_frames_pick_up_labels_from_an_occ3d_folder(nuscenes_dataroot, occ3d_sample_path, tmp_path):
    import shutil

    from loc_core.data.frame_sources import nuscenes_frames
    from loc_core.evaluation.evaluator import evaluate
    from loc_core.inference.predictor import LocPredictor

    frames = nuscenes_frames(nuscenes_dataroot, 'v1.0-mini', labels_dir=tmp_path)
    first = next(frames)
    assert first.occupancy is None  # no labels yet
    (tmp_path / first.scene / first.token).mkdir(parents=True)
    # the sample's labels stand in for this keyframe's: the test checks the plumbing, not the scores
    shutil.copy(occ3d_sample_path, tmp_path / first.scene / first.token / 'labels.npz')
    report = evaluate(LocPredictor(), nuscenes_frames(nuscenes_dataroot, 'v1.0-mini', labels_dir=tmp_path),
                      ('standard',), max_frames=2)
    assert report['standard']['frames'] == 1 and report['frames_skipped'] == 1
    assert 0.0 <= report['standard']['geometry_iou'] <= 100.0
