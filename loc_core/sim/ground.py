"""The town's ground: a world-aligned raster of flat-ground classes (driveable_surface,
other_flat, sidewalk, terrain) at a fine resolution. It labels LiDAR/camera hits on the ground
and gives each occupancy column its majority ground class."""
from __future__ import annotations

import numpy as np

from loc_core.data.vocabulary import OCC3D_CLASS_NAMES

DRIVEABLE, OTHER_FLAT, SIDEWALK, TERRAIN = 11, 12, 13, 14
GROUND_CLASSES = (DRIVEABLE, OTHER_FLAT, SIDEWALK, TERRAIN)
SIDEWALK_HEIGHT = 0.15  # kerb height, metres above the road


class GroundMap:
    """Ground classes on a raster: cell (i, j) covers town-frame
    [x0 + i*res, x0 + (i+1)*res) x [y0 + j*res, y0 + (j+1)*res). `classes` (NX,NY) uint8."""

    def __init__(self, lower_xy, upper_xy, resolution: float = 0.1, fill: int = TERRAIN):
        self.lower = np.asarray(lower_xy, dtype=np.float64)
        self.upper = np.asarray(upper_xy, dtype=np.float64)
        self.resolution = float(resolution)
        shape = np.ceil((self.upper - self.lower) / self.resolution).astype(int)
        self.classes = np.full(tuple(shape), fill, dtype=np.uint8)
        self.fill = fill

    def paint_rect(self, x0: float, y0: float, x1: float, y1: float, class_id: int) -> None:
        """Set the class of every cell whose centre lies in [x0, x1) x [y0, y1) (town frame)."""
        if class_id not in GROUND_CLASSES:
            raise ValueError(f'{OCC3D_CLASS_NAMES[class_id]} is not a ground class')
        i0, j0 = self._cell_bounds(x0, y0)
        i1, j1 = self._cell_bounds(x1, y1)
        self.classes[max(i0, 0):max(i1, 0), max(j0, 0):max(j1, 0)] = class_id

    def _cell_bounds(self, x, y):
        return (int(np.ceil((x - self.lower[0]) / self.resolution - 0.5)),
                int(np.ceil((y - self.lower[1]) / self.resolution - 0.5)))

    def classify(self, xy) -> np.ndarray:
        """(N,2) town-frame points, metres -> (N,) uint8 ground class (outside: the fill class)."""
        xy = np.asarray(xy, dtype=np.float64)
        idx = np.floor((xy - self.lower) / self.resolution).astype(np.int64)
        nx, ny = self.classes.shape
        inside = (idx[:, 0] >= 0) & (idx[:, 0] < nx) & (idx[:, 1] >= 0) & (idx[:, 1] < ny)
        out = np.full(len(xy), self.fill, dtype=np.uint8)
        out[inside] = self.classes[idx[inside, 0], idx[inside, 1]]
        return out

    def column_majority(self, centers_xy, half: float, rotation=None, samples: int = 4) -> np.ndarray:
        """(C,2) column centres (town frame) of square columns with half-size `half` metres whose
        axes are turned by `rotation` (2,2) (default: town axes) -> (C,) uint8 majority ground
        class over a samples x samples lattice inside each column, except that a column holding any
        sidewalk is sidewalk: the kerb's top and face are the surfaces a sensor sees there."""
        offsets = (np.arange(samples) + 0.5) / samples * 2 * half - half
        ox, oy = np.meshgrid(offsets, offsets, indexing='ij')
        lattice = np.stack([ox.ravel(), oy.ravel()], axis=1)
        if rotation is not None:
            lattice = lattice @ np.asarray(rotation, dtype=np.float64).T
        pts = centers_xy[:, None, :] + lattice[None]
        labels = self.classify(pts.reshape(-1, 2)).reshape(len(centers_xy), -1)
        counts = np.stack([(labels == c).sum(axis=1) for c in GROUND_CLASSES], axis=1)
        majority = np.asarray(GROUND_CLASSES, dtype=np.uint8)[np.argmax(counts, axis=1)]
        return np.where(counts[:, GROUND_CLASSES.index(SIDEWALK)] > 0, SIDEWALK, majority).astype(np.uint8)
