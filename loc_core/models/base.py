"""`LocNetwork`: the interface every backbone implements. A backbone turns a batch of
`ModelInput`s into BEV features (B,C,X,Y); the shared heads give per-voxel occupancy logits and,
for any chosen voxels, language hidden vectors and text-space features."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from loc_core.geometry.voxel_grid import VoxelGrid
from loc_core.models.heads import LanguageHead, OccupancyHead
from loc_core.models.inputs import ModelInput
from loc_core.models.layers import BevTrunk, ImageEncoder
from loc_core.models.projection import ProjectionCache, feature_indices, gather_features


@dataclass
class Encoded:
    """`bev` (B,C,X,Y); `occupancy_logits` (B,X,Y,Z); `image_features` per sample (Ncam,F,h,w);
    `language_bev` (B,H,X,Y) and `language_cameras` per sample (Ncam,H,h,w): the language head's
    first layer applied to the dense maps."""

    bev: torch.Tensor
    occupancy_logits: torch.Tensor
    image_features: list
    inputs: list
    language_bev: torch.Tensor
    language_cameras: list


class LocNetwork(nn.Module):
    """Base of the backbones. `arch` is a model_configs entry; subclasses define `bev_input_channels`
    and `bev_inputs`."""

    def __init__(self, grid: VoxelGrid, arch: dict, text_dim: int):
        super().__init__()
        self.grid = grid
        self.arch = dict(arch)
        self.text_dim = int(text_dim)
        width, height = arch['image_size']
        if width % ImageEncoder.stride or height % ImageEncoder.stride:
            raise ValueError(f'image_size {arch["image_size"]} must be a multiple of {ImageEncoder.stride}')
        self.image_size = (int(width), int(height))
        self.feature_hw = (height // ImageEncoder.stride, width // ImageEncoder.stride)
        num_z = grid.shape[2]
        self.image_encoder = ImageEncoder(arch['image_channels'])
        self.trunk = BevTrunk(self.bev_input_channels(), arch['bev_channels'], arch['trunk_width'],
                              arch.get('trunk_depth', 2))
        self.occupancy_head = OccupancyHead(arch['bev_channels'], num_z)
        self.language_head = LanguageHead(arch['bev_channels'], arch['image_channels'], num_z,
                                          arch['language_hidden'], arch['language_channels'], text_dim)
        self.projections = ProjectionCache()

    def bev_input_channels(self) -> int:
        raise NotImplementedError

    def bev_inputs(self, sample: ModelInput, image_features: torch.Tensor) -> torch.Tensor:
        """One sample -> (Cin,X,Y) trunk input."""
        raise NotImplementedError

    def voxel_camera_index(self, sample: ModelInput) -> torch.Tensor:
        """(X*Y*Z,) int64 flat index of every voxel centre into the stacked image feature maps
        (computed once per calibration)."""
        return self.projections.get(sample.rig, 'voxels', self.grid.all_centers, self.feature_hw,
                                    sample.points.device)

    def camera_index_of(self, sample: ModelInput, voxel_index: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
        """(M,3) voxel indices and their (M,) flat indices -> (M,) feature-map indices: from the
        per-calibration table for a fixed rig, projected directly for a rig seen once."""
        rig = sample.rig
        if self.projections.has(rig, 'voxels', self.feature_hw) or self.projections.is_static(rig):
            return self.voxel_camera_index(sample)[flat]
        centres = torch.as_tensor(self.grid.lower, dtype=torch.float32, device=voxel_index.device) + \
            (voxel_index.float() + 0.5) * self.grid.voxel_size
        return feature_indices(centres, rig, self.feature_hw)

    def encode(self, inputs: list[ModelInput]) -> Encoded:
        for sample in inputs:
            self.projections.observe(sample.rig)
        feats = [self.image_encoder(s.images) if len(s.images) else
                 s.images.new_zeros((0, self.arch['image_channels']) + self.feature_hw) for s in inputs]
        bev_in = torch.stack([self.bev_inputs(s, f) for s, f in zip(inputs, feats)])
        bev = self.trunk(bev_in)
        head = self.language_head
        return Encoded(bev, self.occupancy_head(bev), feats, list(inputs), head.bev_map(bev),
                       [head.camera_map(f) for f in feats])

    def voxel_hidden(self, encoded: Encoded, batch_index: torch.Tensor, voxel_index: torch.Tensor) -> torch.Tensor:
        """(M,) sample indices, (M,3) int64 voxel indices -> (M,L) language hidden vectors."""
        i, j, k = voxel_index.unbind(1)
        columns = encoded.language_bev.permute(0, 2, 3, 1)[batch_index, i, j]  # (M,H)
        flat = (i * self.grid.shape[1] + j) * self.grid.shape[2] + k
        if len(encoded.inputs) == 1:  # inference: no per-sample split
            index = self.camera_index_of(encoded.inputs[0], voxel_index, flat)
            cameras = gather_features(encoded.language_cameras[0], index)
        else:
            cameras = torch.zeros_like(columns)
            for b in torch.unique(batch_index).tolist():
                rows = batch_index == b
                index = self.camera_index_of(encoded.inputs[b], voxel_index[rows], flat[rows])
                cameras[rows] = gather_features(encoded.language_cameras[b], index)
        return self.language_head.hidden(columns, cameras, k)

    def forward(self, inputs: list[ModelInput], batch_index: torch.Tensor, voxel_index: torch.Tensor):
        """Training pass (what DDP wraps): -> ((B,X,Y,Z) occupancy logits, (M,D) unit features of the
        chosen voxels, the Encoded batch)."""
        encoded = self.encode(inputs)
        features = self.voxel_features(self.voxel_hidden(encoded, batch_index, voxel_index))
        return encoded.occupancy_logits, features, encoded

    def voxel_features(self, hidden: torch.Tensor) -> torch.Tensor:
        """(M,L) -> (M,D) L2-normalised text-space features."""
        return self.language_head.features(hidden)
