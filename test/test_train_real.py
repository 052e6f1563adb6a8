"""Training on real scans with synthetic frames: the 255 rule of the targets, mixing at a fixed
ratio, augmentation (camera dropout, appearance, quarter turns) and one training step on a mixed
real + synthetic batch with a LiDAR-only sample."""
from dataclasses import replace

import numpy as np
import pytest
from toy_world import TOY_GRID, toy_config, toy_frame

from loc_core.data.vocabulary import FREE_ID, UNLABELLED_ID
from loc_core.geometry.voxel_grid import VoxelGrid
from loc_core.train.augment import AugmentSettings, augment_sample, jitter_appearance, rotate_quarter_turns
from loc_core.train.mixing import SourceMix
from loc_core.train.samples import IGNORE, SampleFolder, TrainingSample, cache_frames
from loc_core.train.trainer import Trainer

GRID = VoxelGrid(TOY_GRID.point_range, TOY_GRID.voxel_size)


def real_sample(seed: int) -> TrainingSample:
    """A toy frame turned into a real-scan sample: its ground (stuff) loses its class (255), as
    `loc-gt` leaves stuff on nuScenes without lidarseg."""
    frame = toy_frame(seed)
    semantics = frame.occupancy.semantics
    semantics[(semantics == 11) | (semantics == 14)] = UNLABELLED_ID
    return TrainingSample.from_frame(frame, (64, 32), source='real', geometry_mask='camera_or_lidar')


def test_unlabelled_voxels_supervise_geometry_only():
    sample = real_sample(0)
    stuff = sample.semantics == UNLABELLED_ID
    assert stuff.any()
    assert sample.occupied()[stuff].all()  # occupied for the geometry loss...
    assert (sample.class_targets()[stuff] == IGNORE).all()  # ...never a class target
    assert not sample.occupied()[sample.semantics == FREE_ID].any()
    objects = (sample.semantics == 4) & sample.known & ~sample.novel
    assert (sample.class_targets()[objects] == 4).all()


def test_source_survives_the_cache(tmp_path):
    frames = [toy_frame(0), toy_frame(1)]
    cache_frames(frames[:1], tmp_path, (64, 32), prefix='synthetic')
    cache_frames(frames[1:], tmp_path, (64, 32), prefix='nuscenes', source='real')
    folder = SampleFolder(tmp_path)
    assert folder.sources() == ['real', 'synthetic']  # sorted paths: nuscenes_ < synthetic_
    assert [folder[i].source for i in range(2)] == ['real', 'synthetic']


def test_source_mix_keeps_the_ratio_and_cycles_each_source():
    mix = SourceMix(real=[0, 1, 2], synthetic=list(range(3, 13)), fraction=0.5, seed=4)
    picks = [mix.index(p) for p in range(60)]
    real = [p for p in picks if p < 3]
    assert len(real) == 30 and all(mix.is_real(p) == (p % 2 == 1) for p in range(60))
    assert sorted(real[:3]) == [0, 1, 2]  # one epoch of the real set: each once
    synthetic = [p for p in picks if p >= 3]
    assert sorted(synthetic[:10]) == list(range(3, 13))
    third = SourceMix(real=[0], synthetic=[1, 2], fraction=1 / 3)
    assert sum(third.is_real(p) for p in range(300)) == 100


def test_quarter_turn_moves_points_labels_and_cameras_together():
    sample = TrainingSample.from_frame(toy_frame(2), (64, 32))
    turned = rotate_quarter_turns(sample, 1)
    # each point's voxel in the turned sample holds the label its old voxel held
    lower, size = np.array(GRID.lower), GRID.voxel_size
    before = np.floor((sample.points - lower) / size).astype(int)
    after = np.floor((turned.points - lower) / size).astype(int)
    inside = ((before >= 0) & (before < GRID.shape)).all(1) & ((after >= 0) & (after < GRID.shape)).all(1)
    assert inside.sum() > 50
    b, a = before[inside], after[inside]
    assert np.array_equal(sample.semantics[b[:, 0], b[:, 1], b[:, 2]], turned.semantics[a[:, 0], a[:, 1], a[:, 2]])
    assert np.allclose(turned.points[:, 0], -sample.points[:, 1], atol=1e-5)
    # a camera keeps seeing the same points: ego points rotate with the camera pose
    ego_to_cam = np.linalg.inv(sample.cam_to_ego[0])
    turned_ego_to_cam = np.linalg.inv(turned.cam_to_ego[0])
    p = np.c_[sample.points[:5], np.ones(5)]
    q = np.c_[turned.points[:5], np.ones(5)]
    assert np.allclose(p @ ego_to_cam.T, q @ turned_ego_to_cam.T, atol=1e-4)
    assert np.array_equal(rotate_quarter_turns(turned, 3).semantics, sample.semantics)


def test_camera_dropout_and_appearance_are_deterministic_and_bounded():
    sample = TrainingSample.from_frame(toy_frame(3), (64, 32))
    all_gone = augment_sample(sample, AugmentSettings(camera_dropout=1.0), np.random.default_rng(0))
    assert all_gone.images.shape[0] == 0 and all_gone.intrinsics.shape == (0, 3, 3)
    assert all_gone.rig.num_cameras == 0 and len(sample.images) == 2  # the input is untouched
    settings = AugmentSettings(appearance=1.0)
    a = augment_sample(sample, settings, np.random.default_rng(7)).images
    b = augment_sample(sample, settings, np.random.default_rng(7)).images
    assert np.array_equal(a, b) and not np.array_equal(a, sample.images)
    assert a.dtype == np.uint8 and a.shape == sample.images.shape
    flat = np.full((1, 32, 64, 3), 128, np.uint8)
    assert abs(float(jitter_appearance(flat, 0.0, np.random.default_rng(1)).mean()) - 128) < 1e-6


def test_one_training_step_on_a_mixed_batch_with_a_lidar_only_sample(tmp_path):
    synthetic = [TrainingSample.from_frame(toy_frame(s), (64, 32)) for s in range(2)]
    lidar_only = replace(real_sample(5), images=np.zeros((0, 32, 64, 3), np.uint8),
                         intrinsics=np.zeros((0, 3, 3)), cam_to_ego=np.zeros((0, 4, 4)))
    dataset = synthetic + [real_sample(4), lidar_only]
    config = toy_config(lr=5e-3, batch_size=2, checkpoint_every=1000, real_fraction=0.5, appearance_jitter=0.5,
                        camera_drop_each=0.25, rotation_augment=0.5)
    trainer = Trainer(config, dataset, tmp_path)
    assert trainer.mix is not None
    sources = [dataset[trainer.dataset_index(p)].source for p in range(8)]
    assert sources == ['synthetic', 'real'] * 4
    seen = {trainer.dataset_index(p) for p in range(8)}
    assert 3 in seen  # the LiDAR-only sample is drawn
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    history = trainer.run(4)
    assert all(np.isfinite(h['loss']) for h in history)
    moved = sum(float((trainer.model.state_dict()[k] - v).abs().sum()) for k, v in before.items())
    assert moved > 0


def test_mixing_needs_a_valid_fraction():
    with pytest.raises(ValueError):
        SourceMix(real=[], synthetic=[1], fraction=0.5)
    from loc_core.config import ConfigError

    with pytest.raises(ConfigError):
        toy_config(real_fraction=1.5).validate()


def test_partial_label_loss_prefers_mass_on_the_allowed_set():
    import torch

    from loc_core.losses import partial_label_loss

    text = torch.eye(4)
    allowed = torch.tensor([False, False, True, True])
    inside = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    outside = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    assert float(partial_label_loss(inside, text, allowed, 0.1)) < 0.01
    assert float(partial_label_loss(outside, text, allowed, 0.1)) > 5.0
    # either allowed prompt is as good: the set is scored, not one member
    other = torch.tensor([[0.0, 0.0, 0.0, 1.0]])
    assert torch.isclose(partial_label_loss(inside, text, allowed), partial_label_loss(other, text, allowed))
    assert float(partial_label_loss(torch.zeros((0, 4)), text, allowed)) == 0.0


def test_box_only_labels_add_stuff_voxels_to_the_semantic_targets():
    from loc_core.train.batch import STUFF_SET, build_targets, sample_generator

    frame = toy_frame(6)
    semantics = frame.occupancy.semantics
    semantics[(semantics == 11) | (semantics == 14)] = UNLABELLED_ID
    sample = TrainingSample.from_frame(frame, (64, 32), source='real', unlabelled_is_stuff=True)
    assert sample.unlabelled_is_stuff and sample.stuff_only().any()
    targets = build_targets(sample, 256, sample_generator(0, 0, 0))
    stuff = targets.classes == STUFF_SET
    assert stuff.any() and (targets.classes[~stuff] >= 0).all()
    v = targets.voxels[stuff].numpy()
    assert (sample.semantics[v[:, 0], v[:, 1], v[:, 2]] == UNLABELLED_ID).all()
    # labels that name stuff classes (lidarseg) do not make 255 a stuff-only voxel
    named = TrainingSample.from_frame(toy_frame(6), (64, 32), source='real', unlabelled_is_stuff=True)
    assert not named.unlabelled_is_stuff


def test_a_mixed_step_trains_the_partial_label_term(tmp_path):
    frame = toy_frame(7)
    semantics = frame.occupancy.semantics
    semantics[(semantics == 11) | (semantics == 14)] = UNLABELLED_ID
    real = TrainingSample.from_frame(frame, (64, 32), source='real', unlabelled_is_stuff=True)
    dataset = [TrainingSample.from_frame(toy_frame(8), (64, 32)), real]
    config = toy_config(lr=5e-3, batch_size=2, checkpoint_every=1000, real_fraction=0.5, w_partial=1.0)
    history = Trainer(config, dataset, tmp_path).run(2)
    assert all(h['partial'] > 0 and np.isfinite(h['loss']) for h in history)


def test_height_shift_moves_points_labels_and_cameras_by_whole_voxels():
    from loc_core.train.augment import shift_height

    sample = TrainingSample.from_frame(toy_frame(9), (64, 32))
    for voxels in (-2, 1):
        moved = shift_height(sample, voxels, GRID.voxel_size)
        assert np.allclose(moved.points[:, 2] - sample.points[:, 2], voxels * GRID.voxel_size)
        assert np.allclose(moved.cam_to_ego[:, 2, 3] - sample.cam_to_ego[:, 2, 3], voxels * GRID.voxel_size)
        lower, size = np.array(GRID.lower), GRID.voxel_size
        before = np.floor((sample.points - lower) / size + 1e-6).astype(int)
        after = before + [0, 0, voxels]
        inside = ((after >= 0) & (after < GRID.shape)).all(1) & ((before >= 0) & (before < GRID.shape)).all(1)
        b, a = before[inside], after[inside]
        assert inside.sum() > 20
        assert np.array_equal(sample.semantics[b[:, 0], b[:, 1], b[:, 2]], moved.semantics[a[:, 0], a[:, 1], a[:, 2]])
        entered = slice(0, voxels) if voxels > 0 else slice(voxels, None)
        assert not moved.known[:, :, entered].any() and (moved.semantics[:, :, entered] == FREE_ID).all()


def test_ground_warp_bends_points_and_label_columns_but_not_the_cameras():
    from loc_core.train.augment import ground_height, shift_columns, warp_ground

    sample = TrainingSample.from_frame(toy_frame(9), (64, 32))
    warp = (0.12, -0.08, 0.01)  # the toy grid is 12.8 m wide
    moved = warp_ground(sample, *warp, GRID.voxel_size)
    x, y = sample.points[:, 0].astype(np.float64), sample.points[:, 1].astype(np.float64)
    np.testing.assert_allclose(moved.points[:, 2] - sample.points[:, 2], ground_height(x, y, *warp), atol=1e-5)
    np.testing.assert_array_equal(moved.points[:, :2], sample.points[:, :2])
    np.testing.assert_array_equal(moved.cam_to_ego, sample.cam_to_ego)
    nx, ny, nz = sample.semantics.shape
    centres = (np.arange(nx) + 0.5 - nx / 2) * GRID.voxel_size
    layers = np.rint(ground_height(centres[:, None], centres[None, :], *warp) / GRID.voxel_size).astype(int)
    assert layers.min() < 0 < layers.max()  # the field rises and falls across the grid
    for i, j in ((0, 0), (nx - 1, ny // 2), (nx // 2, ny // 2), (nx // 3, ny - 1)):
        k = layers[i, j]
        column, bent = sample.semantics[i, j], moved.semantics[i, j]
        if k >= 0:
            np.testing.assert_array_equal(bent[k:], column[:nz - k])
            assert not moved.known[i, j, :k].any()
        else:
            np.testing.assert_array_equal(bent[:k], column[-k:])
            assert not moved.known[i, j, k:].any()
    assert layers[nx // 2, ny // 2] == 0
    np.testing.assert_array_equal(moved.semantics[nx // 2, ny // 2], sample.semantics[nx // 2, ny // 2])
    # a whole-grid shift is the height shift's label move
    grid = np.arange(2 * 2 * 4).reshape(2, 2, 4)
    up = shift_columns(grid, np.array([[1, 0], [-2, 9]]), -1)
    assert up[0, 0].tolist() == [-1, 0, 1, 2] and up[0, 1].tolist() == grid[0, 1].tolist()
    assert up[1, 0].tolist() == [10, 11, -1, -1] and up[1, 1].tolist() == [-1] * 4


def test_ground_warp_is_drawn_only_when_asked():
    from loc_core.train.augment import AugmentSettings, augment_sample

    sample = TrainingSample.from_frame(toy_frame(9), (64, 32))
    still = augment_sample(sample, AugmentSettings(rotation=0.0, ground_warp=0.0), np.random.default_rng(0))
    assert still is sample
    bent = augment_sample(sample, AugmentSettings(ground_warp=1.0, max_ground_grade=0.05), np.random.default_rng(0))
    assert not np.allclose(bent.points[:, 2], sample.points[:, 2])
    np.testing.assert_array_equal(bent.cam_to_ego, sample.cam_to_ego)
    again = augment_sample(sample, AugmentSettings(ground_warp=1.0, max_ground_grade=0.05), np.random.default_rng(0))
    np.testing.assert_array_equal(again.semantics, bent.semantics)  # deterministic for one generator state


def test_earlier_frames_reach_the_cache_with_their_ages(tmp_path):
    """`cache_frames(earlier_frames=K)` stores each sample's points with how many frames back they
    were captured; a history cut keeps a random prefix of that history (never the own sweep out)."""
    frames = [replace(toy_frame(s), scene='toy', timestamp_ns=(s + 1) * 10**8) for s in range(3)]
    paths = cache_frames(frames, tmp_path, (64, 32), earlier_frames=2)
    samples = [TrainingSample.load(p) for p in paths]
    own = [len(f.points) for f in frames]
    assert [len(s.points) for s in samples] == [own[0], own[1] + own[0], own[2] + own[1] + own[0]]
    assert np.bincount(samples[2].point_ages).tolist() == [own[2], own[1], own[0]]
    assert TrainingSample.load(cache_frames(frames[:1], tmp_path / 'plain', (64, 32))[0]).point_ages is None
    newest = samples[2].up_to_age(0)
    np.testing.assert_array_equal(newest.points, samples[2].points[:own[2]])
    cut_sizes = set()
    for seed in range(12):
        cut = augment_sample(samples[2], AugmentSettings(history_cut=1.0), np.random.default_rng(seed))
        assert cut.point_ages.max() <= 2 and (cut.point_ages == 0).sum() == own[2]
        cut_sizes.add(len(cut.points))
    assert cut_sizes == {own[2], own[2] + own[1], sum(own)}  # every age from 0 to all drawn
    # the draw comes last: the other augmentations draw as without it
    settings = AugmentSettings(rotation=1.0, appearance=0.5)
    plain = augment_sample(samples[2], settings, np.random.default_rng(4))
    with_cut = augment_sample(samples[2], replace(settings, history_cut=1.0), np.random.default_rng(4))
    np.testing.assert_array_equal(plain.semantics, with_cut.semantics)
    np.testing.assert_array_equal(plain.images, with_cut.images)
    np.testing.assert_array_equal(with_cut.points, plain.points[plain.point_ages <= with_cut.point_ages.max()])
