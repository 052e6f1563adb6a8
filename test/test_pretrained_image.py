"""The ImageNet-pretrained camera encoder (`image_backbone: efficientnet_lite0`): real packaged
weights, the encoder's contract (stride 8, the architecture's channels), a network and its
checkpoint with it, and the default encoder unchanged."""
import pytest
import torch
from toy_world import TOY_ARCH, TOY_GRID

from loc_core.config import LocConfig, ModelConfig
from loc_core.models.checkpoint import load_checkpoint, save_checkpoint
from loc_core.models.factory import create_model
from loc_core.models.layers import ImageEncoder
from loc_core.models.pretrained_image import EfficientLiteEncoder, lite0_weights, make_image_encoder


@pytest.fixture(scope='module')
def encoder():
    return EfficientLiteEncoder(16, (352, 128)).eval()


def test_encoder_keeps_the_packaged_imagenet_weights_and_the_stride(encoder):
    weights = lite0_weights()
    assert torch.equal(encoder.stem[0].weight, weights['_conv_stem.weight'])
    assert torch.equal(encoder.blocks[4]._project_conv.weight, weights['_blocks.4._project_conv.weight'])
    with torch.no_grad():
        features = encoder(torch.rand(2, 3, 128, 352))
    assert features.shape == (2, 16, 128 // 8, 352 // 8) and torch.isfinite(features).all()


def test_the_default_and_unknown_backbones():
    assert isinstance(make_image_encoder({'image_channels': 8, 'image_size': [64, 32]}), ImageEncoder)
    with pytest.raises(ValueError, match='image_backbone'):
        make_image_encoder({'image_channels': 8, 'image_size': [64, 32], 'image_backbone': 'resnet'})


def test_a_network_with_it_round_trips_through_its_checkpoint(tmp_path):
    arch = {**TOY_ARCH, 'image_backbone': 'efficientnet_lite0'}
    config = LocConfig(grid=TOY_GRID, model=ModelConfig('fusion_small', arch))
    model = create_model(config.model, TOY_GRID.to_grid(), 384).eval()
    assert isinstance(model.image_encoder, EfficientLiteEncoder)
    path = save_checkpoint(tmp_path / 'eff.safetensors', model, config, 0, 'test-text')
    loaded = load_checkpoint(path, expect_text_identity='test-text').model.eval()
    images = torch.rand(2, 3, 32, 64)
    with torch.no_grad():
        assert torch.equal(loaded.image_encoder(images), model.image_encoder(images))
