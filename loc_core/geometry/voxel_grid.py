"""Regular voxel grids. Defaults are Occ3D-nuScenes': 200x200x16 voxels of 0.4 m covering
[-40, -40, -1, 40, 40, 5.4] m in the ego frame, indexed (x, y, z)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OCC3D_RANGE = (-40.0, -40.0, -1.0, 40.0, 40.0, 5.4)
OCC3D_VOXEL_SIZE = 0.4


@dataclass(frozen=True)
class VoxelGrid:
    """An axis-aligned grid. `point_range` = (xmin, ymin, zmin, xmax, ymax, zmax) metres,
    `voxel_size` metres (cubic voxels). Voxel (i, j, k) covers
    [min + idx * size, min + (idx + 1) * size) on each axis."""

    point_range: tuple = OCC3D_RANGE
    voxel_size: float = OCC3D_VOXEL_SIZE
    shape: tuple = field(init=False)

    def __post_init__(self):
        rng = tuple(float(v) for v in self.point_range)
        if len(rng) != 6:
            raise ValueError(f'point_range needs 6 numbers, got {len(rng)}')
        if not (self.voxel_size > 0 and np.isfinite(self.voxel_size)):
            raise ValueError(f'voxel_size must be positive, got {self.voxel_size}')
        extent = np.array(rng[3:]) - np.array(rng[:3])
        if np.any(extent <= 0):
            raise ValueError(f'point_range max must exceed min on every axis, got {rng}')
        counts = extent / self.voxel_size
        shape = tuple(int(n) for n in np.round(counts))
        if not np.allclose(counts, shape, atol=1e-6):
            raise ValueError(f'range extent {extent.tolist()} is not a multiple of voxel_size {self.voxel_size}')
        object.__setattr__(self, 'point_range', rng)
        object.__setattr__(self, 'shape', shape)

    @property
    def lower(self) -> np.ndarray:
        """(3,) float64: the grid's minimum corner, metres."""
        return np.asarray(self.point_range[:3])

    @property
    def upper(self) -> np.ndarray:
        """(3,) float64: the grid's maximum corner, metres."""
        return np.asarray(self.point_range[3:])

    @property
    def num_voxels(self) -> int:
        return int(np.prod(self.shape))

    def in_range(self, points) -> np.ndarray:
        """(N,3) points -> (N,) bool: inside [lower, upper) on every axis."""
        pts = np.asarray(points)
        return np.all((pts >= self.lower) & (pts < self.upper), axis=1)

    def point_to_index(self, points) -> np.ndarray:
        """(N,3) points, metres -> (N,3) int64 voxel indices. Out-of-range points get indices
        outside [0, shape); use `in_range` (or `valid_index`) to select."""
        pts = np.asarray(points, dtype=np.float64)
        return np.floor((pts - self.lower) / self.voxel_size).astype(np.int64)

    def valid_index(self, index) -> np.ndarray:
        """(N,3) int indices -> (N,) bool: inside the grid."""
        idx = np.asarray(index)
        return np.all((idx >= 0) & (idx < np.asarray(self.shape)), axis=1)

    def index_to_center(self, index) -> np.ndarray:
        """(N,3) int indices -> (N,3) float64 voxel centres, metres."""
        return self.lower + (np.asarray(index, dtype=np.float64) + 0.5) * self.voxel_size

    def flat_index(self, index) -> np.ndarray:
        """(N,3) int indices -> (N,) int64 C-order flat indices into an array of `shape`."""
        return np.ravel_multi_index(np.asarray(index).T, self.shape)

    def all_centers(self) -> np.ndarray:
        """(X*Y*Z, 3) float32 centres of every voxel, C order (x slowest, z fastest)."""
        axes = [self.lower[a] + (np.arange(n) + 0.5) * self.voxel_size for a, n in enumerate(self.shape)]
        grid = np.stack(np.meshgrid(*axes, indexing='ij'), axis=-1)
        return grid.reshape(-1, 3).astype(np.float32)

    def voxelize(self, points, values=None, fill=0, dtype=np.uint8) -> np.ndarray:
        """Scatter points into a dense `shape` array: occupied voxels get `values` (or 1);
        out-of-range points are ignored. With several points per voxel the last one wins."""
        pts = np.asarray(points)
        grid = np.full(self.shape, fill, dtype=dtype)
        keep = self.in_range(pts)
        idx = self.point_to_index(pts[keep])
        vals = 1 if values is None else np.asarray(values)[keep]
        grid[idx[:, 0], idx[:, 1], idx[:, 2]] = vals
        return grid

    def to_torch_centers(self, device='cpu'):
        """All voxel centres as a (X*Y*Z, 3) float32 torch tensor (see `all_centers`)."""
        import torch

        return torch.from_numpy(self.all_centers()).to(device)
