"""Outlier exposure: the loss is zero below the margin and pushes matched features down; batches carry
the novel objects' occupied voxels as OUTLIER targets; a training step lowers their match score."""
import numpy as np
import torch
import torch.nn.functional as F
from toy_world import toy_config, toy_frame

from loc_core.losses import outlier_loss
from loc_core.models.heads import soft_best_similarity
from loc_core.train.batch import OUTLIER, build_targets, sample_generator
from loc_core.train.samples import TrainingSample
from loc_core.train.trainer import Trainer


def test_loss_is_zero_below_the_margin_and_grows_with_the_match():
    torch.manual_seed(0)
    text = F.normalize(torch.randn(5, 16), dim=1)
    far = F.normalize(torch.randn(4, 16) - 3 * text.sum(0), dim=1)  # matches no prompt well
    near = F.normalize(text[:2] + 0.3 * torch.randn(2, 16), dim=1)  # close to a prompt each
    assert float(outlier_loss(far, text, 0.1, margin=0.9)) == 0.0
    assert float(outlier_loss(near, text, 0.1, margin=0.5)) > 0.05
    assert float(outlier_loss(torch.zeros(0, 16), text)) == 0.0
    features = near.clone().requires_grad_(True)
    outlier_loss(features, text, 0.1, 0.5).backward()
    moved = F.normalize(features.detach() - 0.5 * features.grad, dim=1)
    assert (soft_best_similarity(moved @ text.T, 0.1) < soft_best_similarity(near @ text.T, 0.1)).all()


def test_targets_carry_the_novel_voxels_only_when_asked():
    sample = TrainingSample.from_frame(toy_frame(0), (64, 32))
    novel = sample.novel & sample.occupied()
    assert novel.any()
    plain = build_targets(sample, 256, sample_generator(0, 0, 0))
    assert not (plain.classes == OUTLIER).any()
    exposed = build_targets(sample, 256, sample_generator(0, 0, 0), outliers=True)
    picked = exposed.voxels[exposed.classes == OUTLIER].numpy()
    assert len(picked) > 0 and novel[tuple(picked.T)].all()
    # the labelled voxels drawn are the same with or without outliers
    assert torch.equal(exposed.voxels[:len(plain.voxels)], plain.voxels)


def test_training_with_outlier_exposure_logs_the_term(tmp_path):
    samples = [TrainingSample.from_frame(toy_frame(s), (64, 32)) for s in range(2)]
    trainer = Trainer(toy_config(w_outlier=5.0, outlier_margin=0.0, lr=5e-3), samples, tmp_path)
    history = trainer.run(20)
    assert all('outlier' in h and np.isfinite(h['outlier']) for h in history)
    first = np.mean([h['outlier'] for h in history[:3]])
    last = np.mean([h['outlier'] for h in history[-3:]])
    assert last < 0.8 * first, (first, last)
