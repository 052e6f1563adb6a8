"""`LocNetwork`: the interface every backbone implements. A backbone turns a batch of
`ModelInput`s into BEV features (B,C,X,Y); the shared heads give per-voxel occupancy logits and,
for any chosen voxels, language hidden vectors and text-space features."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from loc_core.geometry.voxel_grid import VoxelGrid
from loc_core.models.heads import LanguageHead, OccupancyHead, match_scores
from loc_core.models.inputs import ModelInput
from loc_core.models.layers import BevTrunk, ImageEncoder
from loc_core.models.pretrained_image import make_image_encoder
from loc_core.models.projection import ProjectionCache, feature_indices, feature_table, gather_features, lookup_features

CHUNK_VOXELS = 8192  # voxels per step of `classify_voxels`: bounds its temporaries (1 MB per (chunk, 32) float32)


@dataclass
class Encoded:
    """`bev` (B,C,X,Y); `occupancy_logits` (B,X,Y,Z); `image_features` per sample (Ncam,F,h,w);
    `language_bev` (B,H,X,Y) and `language_cameras` per sample (Ncam,H,h,w): the language head's
    first layer applied to the dense maps; `camera_reach` per sample: (X,Y,Z) bool voxels that
    camera features may reach, or None (all of them; see `LocNetwork.bev_inputs`)."""

    bev: torch.Tensor
    occupancy_logits: torch.Tensor
    image_features: list
    inputs: list
    language_bev: torch.Tensor
    language_cameras: list
    camera_reach: list


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
        self.image_encoder = make_image_encoder(arch)
        self.trunk = BevTrunk(self.bev_input_channels(), arch['bev_channels'], arch['trunk_width'],
                              arch.get('trunk_depth', 2))
        self.occupancy_head = OccupancyHead(arch['bev_channels'], num_z)
        self.language_head = LanguageHead(arch['bev_channels'], arch['image_channels'], num_z,
                                          arch['language_hidden'], arch['language_channels'], text_dim)
        self.projections = ProjectionCache()

    def bev_input_channels(self) -> int:
        raise NotImplementedError

    def bev_inputs(self, sample: ModelInput, image_features: torch.Tensor) -> tuple:
        """One sample -> ((X,Y,Cin) trunk input, channels last; (X,Y,Z) bool voxels that camera
        features may reach in this sample, or None: every voxel)."""
        raise NotImplementedError

    def prepare(self, sample: ModelInput) -> None:
        """Compute and keep on `sample` whatever of `encode` depends on the sample alone (not on the
        weights): a pipeline runs it on another thread ahead of `encode`. Nothing in the base class."""

    def voxel_camera_index(self, sample: ModelInput) -> torch.Tensor:
        """(X*Y*Z,) int64 flat index of every voxel centre into the stacked image feature maps
        (computed once per calibration)."""
        return self.projections.get(sample.rig, 'voxels', self.grid.all_centers, self.feature_hw,
                                    sample.points.device)

    def camera_index_of(self, sample: ModelInput, voxel_index: torch.Tensor, flat: torch.Tensor,
                        reach: torch.Tensor | None = None) -> torch.Tensor:
        """(M,3) voxel indices and their (M,) flat indices -> (M,) feature-map indices: from the
        per-calibration table for a fixed rig, projected directly for a rig seen once; -1 (no
        camera feature) where (X,Y,Z) bool `reach` (the sample's, see `bev_inputs`) excludes the voxel."""
        rig = sample.rig
        if self.projections.has(rig, 'voxels', self.feature_hw, voxel_index.device) or self.projections.is_static(rig):
            index = self.voxel_camera_index(sample)[flat]
        else:
            centres = torch.as_tensor(self.grid.lower, dtype=torch.float32, device=voxel_index.device) + \
                (voxel_index.float() + 0.5) * self.grid.voxel_size
            index = feature_indices(centres, rig, self.feature_hw)
        return index if reach is None else index.masked_fill(~reach.reshape(-1)[flat], -1)

    def encode(self, inputs: list[ModelInput]) -> Encoded:
        for sample in inputs:
            self.projections.observe(sample.rig)
        feats = [self.image_encoder(s.images) if len(s.images) else
                 s.images.new_zeros((0, self.arch['image_channels']) + self.feature_hw) for s in inputs]
        # (B,Cin,X,Y) in channels-last memory: the convolutions keep that layout (faster on CPU) and
        # the heads' per-column vectors are contiguous rows
        bev_in, reaches = zip(*[self.bev_inputs(s, f) for s, f in zip(inputs, feats)])
        bev_in = torch.stack(bev_in).permute(0, 3, 1, 2)
        bev = self.trunk(bev_in)
        head = self.language_head
        return Encoded(bev, self.occupancy_head(bev), feats, list(inputs), head.bev_map(bev),
                       [head.camera_map(f) for f in feats], list(reaches))

    def voxel_hidden(self, encoded: Encoded, batch_index: torch.Tensor, voxel_index: torch.Tensor) -> torch.Tensor:
        """(M,) sample indices, (M,3) int64 voxel indices -> (M,L) language hidden vectors."""
        i, j, k = voxel_index.unbind(1)
        columns = encoded.language_bev.permute(0, 2, 3, 1)[batch_index, i, j]  # (M,H)
        flat = (i * self.grid.shape[1] + j) * self.grid.shape[2] + k
        if len(encoded.inputs) == 1:  # inference: no per-sample split
            index = self.camera_index_of(encoded.inputs[0], voxel_index, flat, encoded.camera_reach[0])
            cameras = gather_features(encoded.language_cameras[0], index)
        else:
            cameras = torch.zeros_like(columns)
            for b in torch.unique(batch_index).tolist():
                rows = batch_index == b
                index = self.camera_index_of(encoded.inputs[b], voxel_index[rows], flat[rows], encoded.camera_reach[b])
                cameras[rows] = gather_features(encoded.language_cameras[b], index)
        return self.language_head.hidden(columns, cameras, k)

    def classify_voxels(self, encoded: Encoded, voxel_index: torch.Tensor, operator: tuple,
                        with_features: bool = False, temperature: float = 0.0, norm_weight: float = 0.0,
                        chunk_size: int = CHUNK_VOXELS, label_weights: torch.Tensor | None = None):
        """Inference on one encoded sample: (M,3) int64 voxel indices and a
        `LanguageHead.prompt_operator` -> ((M,) float32 match score: the best cosine similarity, or
        with `temperature` > 0 its smooth maximum `soft_best_similarity`, plus `norm_bonus` with
        `norm_weight` > 0; (M,) int64 index of the
        best prompt; (M,L) float32 feature coefficients, or (M,0) without `with_features`). With
        `label_weights` (P,) the best prompt is the one with the highest weighted cosine (prompt
        projection: 1 / `LanguageHead.subspace_lengths`); the match score keeps the plain cosines.
        A voxel's unit text-space feature is its coefficients times `feature_basis()`^T: W h / |W h|
        = (h / |W h|) W^T.
        The same as `voxel_hidden`, `LanguageHead.cosine` and a max over prompts, run over chunks of
        voxels: the temporaries stay small whatever M and the prompt count (a full grid's (M,P)
        similarities for 250 prompts would take 640 MB)."""
        if len(encoded.inputs) != 1:
            raise ValueError('classify_voxels takes one encoded sample')
        head, sample = self.language_head, encoded.inputs[0]
        nx, ny, nz = self.grid.shape
        columns = encoded.language_bev[0].permute(1, 2, 0).reshape(nx * ny, -1)
        cameras = feature_table(encoded.language_cameras[0])
        count = len(voxel_index)
        best = torch.empty(count, dtype=torch.float32, device=voxel_index.device)
        best_index = torch.empty(count, dtype=torch.int64, device=voxel_index.device)
        coefficients = best.new_empty((count, head.projection.in_features if with_features else 0))
        for start in range(0, count, chunk_size):
            rows = slice(start, start + chunk_size)
            part = voxel_index[rows]
            i, j, k = part.unbind(1)
            column = i * ny + j
            camera_index = self.camera_index_of(sample, part, column * nz + k, encoded.camera_reach[0])
            hidden = head.hidden(columns.index_select(0, column), lookup_features(cameras, camera_index), k)
            dots, norm = head.dots_and_norm(hidden, operator)
            match_scores(dots, norm, label_weights, temperature, norm_weight, out=(best[rows], best_index[rows]))
            if with_features:
                torch.div(hidden, norm[:, None], out=coefficients[rows])
        return best, best_index, coefficients

    def feature_basis(self) -> torch.Tensor:
        """(D,L) the language head's projection W into the text space (see `classify_voxels`)."""
        return self.language_head.projection.weight

    def forward(self, inputs: list[ModelInput], batch_index: torch.Tensor, voxel_index: torch.Tensor):
        """Training pass (what DDP wraps): -> ((B,X,Y,Z) occupancy logits, (M,D) unit features of the
        chosen voxels, the Encoded batch)."""
        encoded = self.encode(inputs)
        features = self.voxel_features(self.voxel_hidden(encoded, batch_index, voxel_index))
        return encoded.occupancy_logits, features, encoded

    def voxel_features(self, hidden: torch.Tensor) -> torch.Tensor:
        """(M,L) -> (M,D) L2-normalised text-space features."""
        return self.language_head.features(hidden)
