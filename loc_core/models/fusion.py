"""The LiDAR + camera fusion backbone, built for CPU speed (the node's default).

LiDAR points become a BEV image whose channels are the occupancy of each height bin plus a
log point count; camera features are sampled where a few fixed heights of every BEV column
project into the images (nearest feature cell, best camera; precomputed per calibration)."""
from __future__ import annotations

import numpy as np
import torch

from loc_core.models.base import LocNetwork
from loc_core.models.inputs import ModelInput
from loc_core.models.projection import gather_features


def lidar_bev(points: torch.Tensor, grid) -> torch.Tensor:
    """(N,3) float32 ego points, metres -> (Z+1,X,Y) float32: per-height-bin occupancy (0/1) and
    log(1 + points per column). Points outside the grid are ignored."""
    nx, ny, nz = grid.shape
    lower = torch.as_tensor(grid.lower, dtype=points.dtype, device=points.device)
    idx = torch.floor((points - lower) / grid.voxel_size).long()
    keep = ((idx >= 0) & (idx < torch.tensor(grid.shape, device=points.device))).all(1)
    idx = idx[keep]
    column = idx[:, 0] * ny + idx[:, 1]
    occupancy = torch.zeros(nz, nx * ny, dtype=points.dtype, device=points.device)
    occupancy[idx[:, 2], column] = 1.0
    counts = torch.bincount(column, minlength=nx * ny).to(points.dtype)
    return torch.cat([occupancy, torch.log1p(counts)[None]]).view(nz + 1, nx, ny)


class FusionNet(LocNetwork):
    def bev_input_channels(self) -> int:
        return self.grid.shape[2] + 1 + len(self.arch['column_heights']) * self.arch['image_channels']

    def column_points(self) -> np.ndarray:
        """(H*X*Y,3) float32 ego points: every BEV column centre at each `column_heights` (metres)."""
        nx, ny, _ = self.grid.shape
        xs = self.grid.lower[0] + (np.arange(nx) + 0.5) * self.grid.voxel_size
        ys = self.grid.lower[1] + (np.arange(ny) + 0.5) * self.grid.voxel_size
        gx, gy = np.meshgrid(xs, ys, indexing='ij')
        layers = [np.stack([gx, gy, np.full_like(gx, z)], -1).reshape(-1, 3) for z in self.arch['column_heights']]
        return np.concatenate(layers).astype(np.float32)

    def bev_inputs(self, sample: ModelInput, image_features: torch.Tensor) -> torch.Tensor:
        nx, ny, _ = self.grid.shape
        index = self.projections.get(sample.rig, 'columns', self.column_points, self.feature_hw,
                                     sample.points.device)
        cams = gather_features(image_features, index)  # (H*X*Y, F)
        cams = cams.view(len(self.arch['column_heights']), nx, ny, -1).permute(0, 3, 1, 2).reshape(-1, nx, ny)
        return torch.cat([lidar_bev(sample.points, self.grid), cams])
