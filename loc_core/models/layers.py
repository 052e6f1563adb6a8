"""Small building blocks shared by the backbones."""
from __future__ import annotations

import torch
from torch import nn


def conv_block(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 4) -> nn.Sequential:
    """Conv -> GroupNorm -> ReLU (GroupNorm, not BatchNorm: statistics independent of the batch split,
    so data-parallel training matches single-process training)."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.GroupNorm(min(groups, cout), cout),
        nn.ReLU(inplace=True),
    )


class ImageEncoder(nn.Module):
    """(C,3,H,W) images in [0,1] -> (C,F,H/8,W/8) feature maps."""

    stride = 8

    def __init__(self, channels: int, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            conv_block(3, width, 3, 2), conv_block(width, 2 * width, 3, 2),
            conv_block(2 * width, channels, 3, 2), nn.Conv2d(channels, channels, 1),
        )

    def forward(self, images):
        return self.net(images * 2.0 - 1.0)


class BevTrunk(nn.Module):
    """A small 2D U-Net over the BEV plane: (B,Cin,X,Y) -> (B,Cout,X,Y); one stride-2 level."""

    def __init__(self, cin: int, cout: int, width: int, depth: int = 2):
        super().__init__()
        self.stem = conv_block(cin, cout, 1)
        self.down = conv_block(cout, width, 3, 2)
        self.body = nn.Sequential(*[conv_block(width, width) for _ in range(depth)])
        self.up = nn.Upsample(scale_factor=2, mode='nearest')
        self.fuse = conv_block(cout + width, cout, 1)
        self.refine = conv_block(cout, cout, 3)

    def forward(self, x):
        skip = self.stem(x)
        deep = self.body(self.down(skip))
        deep = self.up(deep)[..., :skip.shape[-2], :skip.shape[-1]]
        return self.refine(self.fuse(torch.cat([skip, deep], dim=1)))

