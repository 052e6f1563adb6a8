"""The one validation of a PointCloud2 memory layout, shared by the node and the bag readers.

A PointCloud2 says where its bytes are: `fields` (name, offset, datatype, count), `point_step`
bytes per point, `row_step` bytes per row, `height` rows of `width` points, and `data`. Every
number comes from the sender, so none may be trusted: a field offset of 2**31 - 1 once passed
numpy's own check (its C arithmetic overflowed) and made the node read far outside the buffer.
Here every bound is checked in Python integers (arbitrary precision, no overflow) BEFORE numpy
sees the layout: each field's offset + count x datatype size lies within point_step, width x
point_step fits in row_step, and the data holds exactly height x row_step bytes.

No ROS import: callers pass the message's attributes (rclpy and rosbags messages both work)."""
from __future__ import annotations

import numpy as np

# sensor_msgs/PointField datatype codes -> numpy base types (byte order added per message)
POINTFIELD_DTYPES = {1: 'i1', 2: 'u1', 3: 'i2', 4: 'u2', 5: 'i4', 6: 'u4', 7: 'f4', 8: 'f8'}
POINTFIELD_SIZES = {code: np.dtype(name).itemsize for code, name in POINTFIELD_DTYPES.items()}
REQUIRED_FIELDS = ('x', 'y', 'z')


class CloudLayoutError(ValueError):
    """A PointCloud2 whose layout cannot be read safely. `reason`: a short counter key
    ('bad_fields', 'empty_cloud' or 'size_mismatch'); str(err): what is wrong, with the numbers."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _field_dtype_entries(fields, point_step: int, big_endian: bool) -> tuple[list, list, list]:
    """Validated (names, formats, offsets) of the single-element fields; every field, multi-element
    ones included, must lie inside the point."""
    order = '>' if big_endian else '<'
    names, formats, offsets, seen = [], [], [], set()
    for field in fields:
        name, datatype, offset, count = str(field.name), int(field.datatype), int(field.offset), int(field.count)
        if datatype not in POINTFIELD_DTYPES:
            raise CloudLayoutError('bad_fields', f'PointCloud2 field {name!r} has unknown datatype {datatype}')
        if name in seen:
            raise CloudLayoutError('bad_fields', f'PointCloud2 field {name!r} appears twice')
        seen.add(name)
        size = POINTFIELD_SIZES[datatype] * max(count, 1)
        if offset < 0 or offset + size > point_step:
            raise CloudLayoutError('bad_fields', f'PointCloud2 field {name!r} (offset {offset}, {max(count, 1)} x '
                                                 f'{POINTFIELD_SIZES[datatype]} bytes) does not fit point_step '
                                                 f'{point_step}')
        if count == 1:
            names.append(name)
            formats.append(order + POINTFIELD_DTYPES[datatype])
            offsets.append(offset)
    missing = [n for n in REQUIRED_FIELDS if n not in names]
    if missing:
        raise CloudLayoutError('bad_fields', f'PointCloud2 lacks single-element field(s) {missing} '
                                             f'(has {sorted(seen)})')
    return names, formats, offsets


def cloud_records(msg) -> np.ndarray:
    """A PointCloud2 (rclpy or rosbags message) -> its points as a (height*width,) structured numpy
    array with one entry per single-element field (byte order as the message says), row padding
    removed. Raises CloudLayoutError before touching the data when any number disagrees."""
    height, width = int(msg.height), int(msg.width)
    point_step, row_step = int(msg.point_step), int(msg.row_step)
    if point_step <= 0:
        raise CloudLayoutError('size_mismatch', f'PointCloud2 point_step is {point_step}')
    names, formats, offsets = _field_dtype_entries(msg.fields, point_step, bool(msg.is_bigendian))
    if height * width == 0:
        raise CloudLayoutError('empty_cloud', f'PointCloud2 has no points (width {width}, height {height})')
    if row_step < width * point_step:
        raise CloudLayoutError('size_mismatch', f'PointCloud2 row_step {row_step} is less than width {width} x '
                                                f'point_step {point_step}')
    data = msg.data
    data = data.reshape(-1).view(np.uint8) if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
    if data.size != height * row_step:
        raise CloudLayoutError('size_mismatch', f'PointCloud2 data has {data.size} bytes, expected height '
                                                f'{height} x row_step {row_step} = {height * row_step}')
    try:
        dtype = np.dtype({'names': names, 'formats': formats, 'offsets': offsets, 'itemsize': point_step})
    except ValueError as exc:  # e.g. overlapping fields numpy refuses
        raise CloudLayoutError('bad_fields', f'PointCloud2 fields do not form a point layout: {exc}') from exc
    rows = data.reshape(height, row_step)[:, :width * point_step]
    return np.ascontiguousarray(rows).reshape(-1).view(dtype)
