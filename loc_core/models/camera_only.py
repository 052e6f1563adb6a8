"""The camera-only backbone: image features lifted to voxels by projecting every voxel centre into
the images (the projection is precomputed per calibration), then the voxel column is flattened
into BEV channels. No LiDAR: the kind of occupancy network LOC plugs into."""
from __future__ import annotations

import torch

from loc_core.models.base import LocNetwork
from loc_core.models.inputs import ModelInput
from loc_core.models.projection import gather_features


class CameraOnlyNet(LocNetwork):
    def bev_input_channels(self) -> int:
        return self.grid.shape[2] * self.arch['image_channels']

    def bev_inputs(self, sample: ModelInput, image_features: torch.Tensor) -> tuple:
        """-> ((X,Y,Z*F): the features of a column's voxels, height-major; None: cameras reach every voxel)."""
        nx, ny, _ = self.grid.shape
        voxels = gather_features(image_features, self.voxel_camera_index(sample))  # (X*Y*Z, F)
        return voxels.view(nx, ny, -1), None
