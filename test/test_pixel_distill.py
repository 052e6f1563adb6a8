"""Pixel-feature distillation from the 2D teacher (`loc-train --pixel-teacher`, `train.w_pixel_distill`):
the teacher's probabilities in the sample cache (and caches without them), camera dropout keeping
them with their images, one training step with the term, and the real segmenter on a real image."""
import io
import os
from dataclasses import replace

import numpy as np
import pytest
from toy_world import toy_config, toy_frame

from loc_core.config import ConfigError, TrainConfig
from loc_core.data.sample_data import CITYSCAPES_TEACHER, models_root
from loc_core.train import cli
from loc_core.train.augment import AugmentSettings, augment_sample, select_cameras
from loc_core.train.samples import SampleError, TrainingSample
from loc_core.train.trainer import Trainer

NUSCENES_MODEL = 'espnetv2_s2.0_cityscapes_576x1024.onnx'
# a teacher of 4 classes: car, ignored (sky), vegetation, driveable surface
CLASSES = np.array([4, -1, 15, 11], np.int8)


def with_probs(sample: TrainingSample, seed: int) -> TrainingSample:
    """`sample` with teacher probabilities (C,4,8,K): camera c says class c % K everywhere, 90 %."""
    cameras, classes = len(sample.images), len(CLASSES)
    probs = np.full((cameras, 4, 8, classes), 0.1 / (classes - 1), np.float32)
    for c in range(cameras):
        probs[c, ..., (c + seed) % classes] = 0.9
    return replace(sample, teacher_probs=probs.astype(np.float16), teacher_classes=CLASSES.copy())


@pytest.fixture(scope='module')
def samples():
    return [with_probs(TrainingSample.from_frame(toy_frame(s), (64, 32), source='real'), s) for s in range(2)]


def test_cache_round_trip_with_and_without_teacher_probabilities(samples):
    loaded = TrainingSample.from_bytes(samples[0].to_bytes())
    assert loaded.teacher_probs.dtype == np.float16
    assert np.array_equal(loaded.teacher_probs, samples[0].teacher_probs)
    assert np.array_equal(loaded.teacher_classes, CLASSES)
    # a sample without them writes no such keys, as caches made before they existed, and loads as None
    plain = TrainingSample.from_frame(toy_frame(0), (64, 32))
    payload = plain.to_bytes()
    with np.load(io.BytesIO(payload), allow_pickle=False) as data:
        assert 'teacher_probs' not in data.files
    old = TrainingSample.from_bytes(payload)
    assert old.teacher_probs is None and old.teacher_classes is None
    assert np.array_equal(old.images, plain.images)
    broken = replace(samples[0], teacher_probs=samples[0].teacher_probs[:1])  # one camera's map for two images
    with pytest.raises(SampleError, match='do not match 2 cameras'):
        TrainingSample.from_bytes(broken.to_bytes(), 'broken')


def test_camera_dropout_keeps_probabilities_with_their_images(samples):
    sample = samples[0]
    kept = select_cameras(sample, np.array([False, True]))
    assert np.array_equal(kept.images, sample.images[1:]) and np.array_equal(kept.teacher_probs, sample.teacher_probs[1:])
    assert select_cameras(sample, np.array([False, False])).teacher_probs.shape == (0, 4, 8, 4)
    settings = AugmentSettings(camera_drop_each=0.5, rotation=1.0)
    counts = set()
    for seed in range(12):
        out = augment_sample(sample, settings, np.random.default_rng(seed))
        counts.add(len(out.images))
        assert len(out.teacher_probs) == len(out.images)
        for image, probs in zip(out.images, out.teacher_probs):
            source = next(c for c in range(2) if np.array_equal(sample.images[c], image))
            assert np.array_equal(probs, sample.teacher_probs[source])
    assert counts == {0, 1, 2}


def camera_weights(trainer):
    return {n: p.detach().clone() for n, p in trainer.model.named_parameters() if n.startswith('image_encoder')}


@pytest.mark.parametrize('weight', [1.0, 0.0])
def test_one_step_with_the_term_trains_the_camera_branch(samples, tmp_path, weight):
    # every other term off and no weight decay: only the pixel term can move the weights
    config = toy_config(w_pixel_distill=weight, w_geometry=0.0, w_dcl=0.0, w_ce=0.0, weight_decay=0.0, lr=1e-2)
    trainer = Trainer(config, samples, tmp_path)
    before = camera_weights(trainer)
    record = trainer.train_step()
    moved = max(float((p.detach() - before[n]).abs().max()) for n, p in trainer.model.named_parameters()
                if n in before)
    if weight:
        assert np.isfinite(record['pixel']) and 0.0 < record['pixel'] <= 2.0
        assert moved > 0
    else:
        assert 'pixel' not in record and moved == 0


def test_the_weight_is_validated():
    with pytest.raises(ConfigError, match='w_pixel_distill'):
        TrainConfig(w_pixel_distill=-0.1).validate()


def test_a_missing_pixel_teacher_is_a_clear_error(tmp_path, capsys):
    code = cli.main(['--cache', str(tmp_path / 'c'), '--semantickitti', str(tmp_path), '--pixel-teacher',
                     str(tmp_path / 'none.onnx'), '--out', str(tmp_path / 'o'), '--prepare-only'])
    assert code == 2 and 'none.onnx not found' in capsys.readouterr().err


def test_probabilities_shrink_to_any_size_and_keep_summing_to_one():
    from loc_core.teacher.pixel_targets import _resize_probabilities

    logits = np.random.default_rng(0).normal(size=(19, 376, 1241)).astype(np.float32)  # a KITTI image, padded
    probs = np.exp(logits) / np.exp(logits).sum(axis=0)
    small = _resize_probabilities(probs, (156, 47))  # 1/8, not a whole factor
    assert small.shape == (47, 156, 19) and np.allclose(small.sum(axis=2), 1.0, atol=1e-5)
    assert np.allclose(small[0, 0], probs[:, :8, :8].mean(axis=(1, 2)), atol=0.01)


@pytest.fixture(scope='module')
def segmenter():
    root = models_root()
    path = root / CITYSCAPES_TEACHER / NUSCENES_MODEL if root else None
    if path is None or not path.is_file():
        message = 'teacher model not found (set LOC_MODELS or place ../shared/models)'
        if os.environ.get('LOC_REQUIRE_SAMPLE_DATA') == '1':
            pytest.fail(message)
        pytest.skip(message)
    from loc_core.teacher.segmenter import OnnxSegmenter

    return OnnxSegmenter(path)


@pytest.mark.sample_data
def test_real_segmenter_gives_probabilities_on_a_real_image(segmenter, nuscenes_source):
    from loc_core.teacher.pixel_targets import camera_class_maps

    frame = nuscenes_source.frame(nuscenes_source.sample_tokens()[0])
    front = next(c for c in frame.cameras if c.name == 'CAM_FRONT')
    frame.cameras = [front]
    maps = camera_class_maps(segmenter, frame)
    assert maps.dtype == np.float16 and maps.shape == (1, 72, 128, segmenter.table.num_trained)
    sums = maps.astype(np.float32).sum(axis=-1)
    assert np.abs(sums - 1.0).max() < 5e-3
    # the road ahead, just above the bottom edge in the middle of the front image
    road = segmenter.table.names.index('road')
    assert int(np.argmax(maps[0, 66, 64])) == road
