"""Fast CDR serialisation of the node's big messages with numpy, published as raw bytes.

rclpy converts every element of a Python message into C one field at a time: a MarkerArray with 50k
cubes costs about a quarter of a second that way. The messages below are written directly in the
wire format instead (XCDR1 little endian, the encoding rmw_fastrtps uses for ROS 2 topics) and passed
to `Publisher.publish(bytes)`, which hands them to the middleware untouched.

Layout rules (OMG CDR): a 4-byte encapsulation header, then every primitive aligned to its own size
counted from the end of that header; strings are a uint32 length including the terminating NUL, the
bytes and the NUL; sequences are a uint32 element count followed by the elements.
The tests check every writer here against `rclpy.serialization.serialize_message`.
"""
from __future__ import annotations

import struct

import numpy as np

ENCAPSULATION_CDR_LE = b'\x00\x01\x00\x00'

# visualization_msgs/Marker constants used by the node
MARKER_CUBE_LIST = 6
MARKER_ADD = 0
MARKER_DELETE = 2
MARKER_DELETEALL = 3

# sensor_msgs/PointField datatypes
POINTFIELD_UINT8 = 2
POINTFIELD_UINT32 = 6
POINTFIELD_FLOAT32 = 7


class CdrWriter:
    """Append-only little-endian CDR buffer. Offsets for alignment count from the payload start."""

    def __init__(self):
        self._chunks: list[bytes] = [ENCAPSULATION_CDR_LE]
        self._size = 0  # payload bytes written so far (encapsulation header excluded)

    def _append(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)

    def align(self, n: int) -> None:
        pad = (-self._size) % n
        if pad:
            self._append(b'\x00' * pad)

    def primitive(self, fmt: str, value) -> None:
        """One primitive: fmt is a struct code ('B', '?', 'i', 'I', 'f', 'd', ...)."""
        size = struct.calcsize(fmt)
        self.align(size)
        self._append(struct.pack('<' + fmt, value))

    def primitives(self, fmt: str, *values) -> None:
        """Several primitives of the same type, packed back to back (e.g. a Point's 3 doubles)."""
        size = struct.calcsize(fmt)
        self.align(size)
        self._append(struct.pack(f'<{len(values)}{fmt}', *values))

    def string(self, text: str) -> None:
        data = text.encode('utf-8') + b'\x00'
        self.primitive('I', len(data))
        self._append(data)

    def array_sequence(self, array: np.ndarray, element_align: int, count: int | None = None) -> None:
        """A sequence whose elements are the rows of a C-contiguous little-endian array.
        `count` is the element count (defaults to len(array)); `element_align` the alignment of the
        element's first primitive."""
        array = np.ascontiguousarray(array)
        self.primitive('I', len(array) if count is None else count)
        if array.size:
            self.align(element_align)
            self._append(array.tobytes())

    def raw_bytes_sequence(self, data: bytes) -> None:
        """A uint8[] sequence from bytes-like data."""
        self.primitive('I', len(data))
        self._append(bytes(data))

    def header(self, stamp_ns: int, frame_id: str) -> None:
        """std_msgs/Header: builtin_interfaces/Time (int32 sec, uint32 nanosec) + frame_id."""
        sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
        self.primitive('i', sec)
        self.primitive('I', nanosec)
        self.string(frame_id)

    def getvalue(self) -> bytes:
        return b''.join(self._chunks)


def _write_cube_list_marker(w: CdrWriter, stamp_ns: int, frame_id: str, ns: str, marker_id: int,
                            action: int, centers: np.ndarray | None, rgba: tuple, scale: tuple) -> None:
    """One visualization_msgs/Marker of type CUBE_LIST; `centers` (M,3) float64 metres or None."""
    w.header(stamp_ns, frame_id)
    w.string(ns)
    w.primitive('i', marker_id)
    w.primitive('i', MARKER_CUBE_LIST)
    w.primitive('i', action)
    w.primitives('d', 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)     # pose: position, orientation xyzw
    w.primitives('d', *(float(s) for s in scale))          # scale
    w.primitives('f', *(float(c) for c in rgba))           # color
    w.primitive('i', 0)                                    # lifetime.sec (0 = forever)
    w.primitive('I', 0)                                    # lifetime.nanosec
    w.primitive('?', False)                                # frame_locked
    points = np.zeros((0, 3)) if centers is None else centers
    w.array_sequence(np.asarray(points, dtype='<f8'), 8)   # points
    w.primitive('I', 0)                                    # colors (one colour per marker)
    w.string('')                                           # texture_resource
    w.header(0, '')                                        # texture: sensor_msgs/CompressedImage
    w.string('')                                           #   format
    w.primitive('I', 0)                                    #   data
    w.primitive('I', 0)                                    # uv_coordinates
    w.string('')                                           # text
    w.string('')                                           # mesh_resource
    w.string('')                                           # mesh_file.filename
    w.primitive('I', 0)                                    # mesh_file.data
    w.primitive('?', False)                                # mesh_use_embedded_materials


def cube_list_marker_array(stamp_ns: int, frame_id: str, markers: list[dict],
                           delete_all_first: bool = False) -> bytes:
    """Serialised visualization_msgs/MarkerArray.

    `markers`: dicts with `ns` (str), `id` (int), `centers` ((M,3) float metres in `frame_id`, or
    None for a DELETE), `rgba` (4 floats in [0,1]) and `scale` (3 floats, metres).
    `delete_all_first` prepends a DELETEALL marker, clearing whatever an earlier class set drew."""
    w = CdrWriter()
    w.primitive('I', len(markers) + int(delete_all_first))
    if delete_all_first:
        _write_cube_list_marker(w, stamp_ns, frame_id, '', 0, MARKER_DELETEALL, None, (0, 0, 0, 0), (1, 1, 1))
    for m in markers:
        centers = m.get('centers')
        action = MARKER_DELETE if centers is None else MARKER_ADD
        _write_cube_list_marker(w, stamp_ns, frame_id, m['ns'], int(m['id']), action, centers,
                                m.get('rgba', (0, 0, 0, 0)), m.get('scale', (1, 1, 1)))
    return w.getvalue()


def point_cloud2(stamp_ns: int, frame_id: str, records: np.ndarray, is_dense: bool = True) -> bytes:
    """Serialised sensor_msgs/PointCloud2 (height 1) from a structured numpy array.

    `records` (N,) structured array with little-endian float32/uint32/uint8 fields; its field names,
    offsets and itemsize become the PointFields and point_step."""
    fields = _point_fields(records.dtype)
    w = CdrWriter()
    w.header(stamp_ns, frame_id)
    w.primitive('I', 1)                    # height
    w.primitive('I', len(records))         # width
    w.primitive('I', len(fields))
    for name, offset, datatype in fields:
        w.string(name)
        w.primitive('I', offset)
        w.primitive('B', datatype)
        w.primitive('I', 1)                # count
    w.primitive('?', False)                # is_bigendian
    w.primitive('I', records.dtype.itemsize)
    w.primitive('I', records.dtype.itemsize * len(records))
    w.raw_bytes_sequence(np.ascontiguousarray(records).tobytes())
    w.primitive('?', bool(is_dense))
    return w.getvalue()


_POINTFIELD_TYPES = {np.dtype('<f4'): POINTFIELD_FLOAT32, np.dtype('<u4'): POINTFIELD_UINT32,
                     np.dtype('u1'): POINTFIELD_UINT8}


def _point_fields(dtype: np.dtype) -> list[tuple[str, int, int]]:
    out = []
    for name in dtype.names:
        field_dtype, offset = dtype.fields[name][:2]
        if field_dtype not in _POINTFIELD_TYPES:
            raise ValueError(f'point field {name!r}: unsupported dtype {field_dtype}')
        out.append((name, offset, _POINTFIELD_TYPES[field_dtype]))
    return out


def uint8_multi_array(data: np.ndarray, labels: tuple[str, ...]) -> bytes:
    """Serialised std_msgs/UInt8MultiArray of a C-ordered uint8 array; one dimension per axis with
    `labels`, sizes and strides (stride = elements spanned by one step of the enclosing axis, as
    std_msgs/MultiArrayLayout defines)."""
    data = np.ascontiguousarray(data, dtype=np.uint8)
    if len(labels) != data.ndim:
        raise ValueError(f'{data.ndim} axes but {len(labels)} labels')
    w = CdrWriter()
    w.primitive('I', data.ndim)
    for axis, label in enumerate(labels):
        w.string(label)
        w.primitive('I', data.shape[axis])
        w.primitive('I', int(np.prod(data.shape[axis:])))
    w.primitive('I', 0)                    # data_offset
    w.raw_bytes_sequence(data.tobytes())
    return w.getvalue()
