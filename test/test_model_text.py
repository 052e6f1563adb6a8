"""Text encoders (offline sentence encoder, open_clip with random weights) and the embedding cache."""
import json

import numpy as np
import pytest
import torch

from loc_core.config import TextConfig
from loc_core.text.cache import EmbeddingCache
from loc_core.text.factory import create_text_encoder

TINY_CLIP = {'embed_dim': 32,
             'vision_cfg': {'image_size': 64, 'layers': 1, 'width': 32, 'patch_size': 16, 'head_width': 16},
             'text_cfg': {'context_length': 77, 'vocab_size': 49408, 'width': 32, 'heads': 2, 'layers': 1}}


@pytest.fixture(scope='session')
def tiny_clip_name(tmp_path_factory):
    import open_clip

    folder = tmp_path_factory.mktemp('clip_cfg')
    (folder / 'loc-test-tiny.json').write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(folder)
    return 'loc-test-tiny'


@pytest.fixture(scope='module')
def sentence():
    return create_text_encoder(TextConfig())


def test_sentence_encoder_is_normalised_and_semantic(sentence):
    emb = sentence.encode(['car', 'automobile', 'vegetation'])
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.3  # synonyms are close, other classes are not
    assert sentence.encode([]).shape == (0, 384)


def test_template_ensembling_and_cache(sentence):
    cache = sentence.cache
    templates = ('{}', 'a photo of a {}')
    emb = sentence.encode_prompts(['truck'], templates)
    parts = sentence.encode(['truck', 'a photo of a truck'])
    expected = parts.mean(0) / np.linalg.norm(parts.mean(0))
    np.testing.assert_allclose(emb[0], expected, atol=1e-5)
    misses = cache.misses
    again = sentence.encode_prompts(['truck'], templates)
    np.testing.assert_array_equal(again, emb)
    assert cache.get(sentence.identity, 'a photo of a {}', 'truck') is not None
    assert cache.misses == misses  # second call: every (encoder, template, prompt) from the cache
    assert cache.get('clip:other', '{}', 'truck') is None  # keyed by encoder too


def test_disk_cache_persists_and_survives_corruption(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put('enc', '{}', 'car', np.arange(4, dtype=np.float32))
    fresh = EmbeddingCache(tmp_path)
    np.testing.assert_array_equal(fresh.get('enc', '{}', 'car'), np.arange(4, dtype=np.float32))
    path = tmp_path / f'{EmbeddingCache.key_name("enc", "{}", "car")}.npy'
    path.write_bytes(b'garbage')
    broken = EmbeddingCache(tmp_path)
    assert broken.get('enc', '{}', 'car') is None and broken.corrupt == 1


def test_clip_text_encoder_and_dense_image_features(tiny_clip_name):
    from loc_core.text.clip import ClipDenseFeatures, ClipTextEncoder, load_clip

    torch.manual_seed(0)
    model = load_clip(tiny_clip_name)
    encoder = ClipTextEncoder(tiny_clip_name, model=model)
    emb = encoder.encode_prompts(['car', 'road'], ('{}', 'a {}'))
    assert emb.shape == (2, 32) and encoder.dim == 32 and encoder.identity == 'clip:loc-test-tiny:random'
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    dense = ClipDenseFeatures(model)
    feats = dense(torch.rand(3, 3, 40, 90))
    assert feats.shape == (3, 32, 4, 4)  # 64x64 input, 16-pixel patches
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(3, 4, 4), atol=1e-5, rtol=0)
    with pytest.raises(FileNotFoundError):
        load_clip(tiny_clip_name, '/nonexistent/weights.pt')
    with pytest.raises(ValueError, match='unknown open_clip model'):
        load_clip('no-such-model')


def test_self_supervised_training_distils_clip_features(tiny_clip_name, tmp_path):
    from toy_world import toy_config, toy_frame

    from loc_core.train.samples import TrainingSample
    from loc_core.train.trainer import Trainer

    config = toy_config(mode='self_supervised', teacher_model=tiny_clip_name, lr=5e-3)
    config.text = TextConfig(encoder='clip', model_name=tiny_clip_name)
    samples = [TrainingSample.from_frame(toy_frame(s), (64, 32)) for s in range(2)]
    history = Trainer(config, samples, tmp_path).run(25)
    assert 'distill' in history[0] and 'dcl' not in history[0] and 'ce' not in history[0]
    assert np.mean([h['distill'] for h in history[-3:]]) < 0.8 * np.mean([h['distill'] for h in history[:3]])
