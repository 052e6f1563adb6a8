"""Losses: DCL, similarity cross-entropy, cosine regression, geometry; class balancing."""
import torch
import torch.nn.functional as F

from loc_core.losses import (class_weights, cosine_regression_loss, dense_contrastive_loss, geometry_loss,
                             similarity_cross_entropy)


def _text(p=5, d=16):
    torch.manual_seed(0)
    return F.normalize(torch.randn(p, d), dim=1)


def test_dcl_rewards_features_on_their_class_text():
    text = _text()
    targets = torch.tensor([0, 0, 1, 2, 3, 4, -1])
    aligned = text[targets.clamp(min=0)]
    wrong = text[(targets.clamp(min=0) + 1) % 5]
    assert dense_contrastive_loss(aligned, text, targets, 0.07) < 0.1
    assert dense_contrastive_loss(wrong, text, targets, 0.07) > 5.0
    assert similarity_cross_entropy(aligned, text, targets) < similarity_cross_entropy(wrong, text, targets)
    empty = dense_contrastive_loss(aligned, text, torch.full((7,), -1))
    assert empty == 0


def test_dcl_pushes_classes_apart_where_regression_collapses():
    # two classes with similar texts: DCL's gradient separates their features, regression does not care
    text = F.normalize(torch.tensor([[1.0, 0.2], [1.0, -0.2]]), dim=1)
    feats = F.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), dim=1).requires_grad_(True)
    targets = torch.tensor([0, 1])
    dense_contrastive_loss(feats, text, targets, 0.07).backward()
    assert feats.grad[0, 1] < 0 and feats.grad[1, 1] > 0  # descent moves 0 up, 1 down: apart


def test_class_weights_balance_rare_classes():
    targets = torch.tensor([0] * 9 + [1])
    w = class_weights(targets, 2)
    torch.testing.assert_close(w.mean(), torch.tensor(1.0))
    torch.testing.assert_close(w[targets == 1].sum(), w[targets == 0].sum())


def test_cosine_regression_and_geometry():
    a = F.normalize(torch.randn(4, 8), dim=1)
    assert cosine_regression_loss(a, a) < 1e-6
    torch.testing.assert_close(cosine_regression_loss(a, -a), torch.tensor(2.0))
    assert cosine_regression_loss(a, -a, torch.zeros(4, dtype=torch.bool)) == 0
    logits = torch.tensor([[5.0, -5.0, 5.0]])
    occupied = torch.tensor([[True, False, False]])
    known = torch.tensor([[True, True, False]])
    assert geometry_loss(logits, occupied, known) < 0.02  # the wrong voxel is not known: ignored
    assert geometry_loss(logits, occupied, torch.ones_like(known)) > 1.0


def test_rare_classes_weigh_more_in_the_geometry_loss():
    from loc_core.losses import occupied_class_weights

    targets = torch.full((10, 10, 4), -1, dtype=torch.long)
    targets[:, :, 0] = 11  # 100 road voxels
    targets[:5, :5, 1] = 4  # 25 car voxels
    targets[0, 0, 2] = 8  # one traffic cone voxel
    weights = occupied_class_weights(targets)
    assert weights[0, 5, 0] == 1.0 and weights[5, 5, 3] == 1.0  # common class, free voxel
    assert weights[1, 1, 1] == 1.0  # the median class keeps 1
    assert weights[0, 0, 2] == 5.0  # sqrt(25 / 1)
    logits = torch.full(targets.shape, -3.0)
    occupied, known = targets >= 0, torch.ones(targets.shape, dtype=torch.bool)
    plain = geometry_loss(logits, occupied, known)
    weighted = geometry_loss(logits, occupied, known, occupied_weight=weights)
    assert weighted > plain  # the missed cone costs five times as much
    assert occupied_class_weights(torch.full((2, 2, 2), -1)).eq(1).all()
