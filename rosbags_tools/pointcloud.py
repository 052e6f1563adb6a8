"""LiDAR points <-> sensor_msgs/PointCloud2.

We write one unorganised row of 18-byte little-endian points: x y z intensity (float32) and
ring (uint16, the Velodyne driver's convention), so values come back bit-exact. Reading accepts
any PointCloud2 a user's driver writes (organised or not, padded rows, either endianness, any
numeric field types) as long as it has x, y and z."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from loc_core.data.cloud_layout import POINTFIELD_DTYPES, CloudLayoutError, cloud_records
from rosbags_tools.conventions import typestore
from rosbags_tools.messages import header

LOG = logging.getLogger(__name__)

FLOAT32, UINT16 = 7, 4
_WRITE_LAYOUT = (('x', 0, FLOAT32), ('y', 4, FLOAT32), ('z', 8, FLOAT32), ('intensity', 12, FLOAT32))
_RING_FIELD = ('ring', 16, UINT16)


class PointCloudError(ValueError):
    """A PointCloud2 that cannot be decoded; the message names the problem."""


@dataclass
class DecodedCloud:
    """`points` (N,3) float32 metres in the message's frame; `intensity` (N,) float32 (zeros when
    the cloud has none); `ring` (N,) uint8 or None; `dropped_nonfinite` points removed for NaN/inf."""

    points: np.ndarray
    intensity: np.ndarray
    ring: np.ndarray | None
    dropped_nonfinite: int = 0


def _struct_dtype(layout, itemsize: int, big_endian: bool = False) -> np.dtype:
    order = '>' if big_endian else '<'
    return np.dtype({'names': [name for name, _, _ in layout],
                     'formats': [order + POINTFIELD_DTYPES[code] for _, _, code in layout],
                     'offsets': [offset for _, offset, _ in layout], 'itemsize': itemsize})


def encode_pointcloud(points, intensity, ring, stamp_ns: int, frame_id: str):
    """(N,3) float32 points, (N,) float32 intensity, (N,) uint8 ring or None -> PointCloud2."""
    layout = _WRITE_LAYOUT + ((_RING_FIELD,) if ring is not None else ())
    step = 18 if ring is not None else 16
    cloud = np.empty(len(points), dtype=_struct_dtype(layout, step))
    pts = np.asarray(points, dtype=np.float32)
    cloud['x'], cloud['y'], cloud['z'] = pts[:, 0], pts[:, 1], pts[:, 2]
    cloud['intensity'] = intensity
    if ring is not None:
        cloud['ring'] = ring
    types = typestore().types
    field = types['sensor_msgs/msg/PointField']
    return types['sensor_msgs/msg/PointCloud2'](
        header=header(stamp_ns, frame_id), height=1, width=len(cloud),
        fields=[field(name=name, offset=offset, datatype=code, count=1) for name, offset, code in layout],
        is_bigendian=False, point_step=step, row_step=step * len(cloud),
        data=cloud.view(np.uint8).reshape(-1), is_dense=True)


def decode_pointcloud(msg) -> DecodedCloud:
    """PointCloud2 -> DecodedCloud (no points for an empty cloud); PointCloudError when the layout
    is unusable (checked by `loc_core.data.cloud_layout`, the node's check too). Points with a
    non-finite coordinate are dropped and counted (logged), never passed on."""
    try:
        records = cloud_records(msg)
    except CloudLayoutError as exc:
        if exc.reason == 'empty_cloud':  # a valid cloud of no points: the reader counts it as such
            return DecodedCloud(np.zeros((0, 3), np.float32), np.zeros(0, np.float32), None)
        raise PointCloudError(str(exc)) from exc
    names = records.dtype.names
    points = np.stack([records['x'], records['y'], records['z']], axis=1).astype(np.float32, copy=False)
    intensity = (records['intensity'].astype(np.float32) if 'intensity' in names
                 else np.zeros(len(records), np.float32))
    ring = _ring(records['ring']) if 'ring' in names else None
    finite = np.isfinite(points).all(axis=1)
    dropped = int(len(points) - finite.sum())
    if dropped:
        LOG.warning('cloud in %r: dropped %d points with non-finite coordinates', msg.header.frame_id, dropped)
        points, intensity = points[finite], intensity[finite]
        ring = ring[finite] if ring is not None else None
    return DecodedCloud(points, intensity, ring, dropped)


def _ring(values: np.ndarray) -> np.ndarray | None:
    if len(values) and (values.min() < 0 or values.max() > 255):
        LOG.warning('ring values outside 0-255 (%s..%s): ring left out', values.min(), values.max())
        return None
    return values.astype(np.uint8)
