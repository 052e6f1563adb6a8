"""ROS message <-> numpy conversions with validation (sensor_msgs_py and cv_bridge are not installable
here). Every problem raises `InputError` whose `reason` is a short counter key (e.g. 'nan_points')
and whose message says what was wrong; the node counts and logs these and drops the message."""
from __future__ import annotations

import cv2
import numpy as np

from loc_core.data.cloud_layout import CloudLayoutError, cloud_records


class InputError(ValueError):
    """A message the node cannot use. `reason`: counter key; str(err): the human-readable cause."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time -> int nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(stamp_ns: int, stamp_type):
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return stamp_type(sec=sec, nanosec=nanosec)


def pointcloud2_to_xyzi(msg) -> tuple[np.ndarray, np.ndarray, int]:
    """sensor_msgs/PointCloud2 -> (points (N,3) float32 metres in msg.header.frame_id,
    intensity (N,) float32 (zeros without an 'intensity' field), dropped count of non-finite points).

    Raises InputError for a layout `loc_core.data.cloud_layout` refuses (missing x/y/z, a field
    outside point_step, steps or data size that disagree with width/height, an empty cloud) or a
    cloud with no finite point."""
    try:
        records = cloud_records(msg)
    except CloudLayoutError as exc:
        raise InputError(exc.reason, str(exc)) from exc
    n = len(records)
    points = np.stack([records['x'], records['y'], records['z']], axis=1).astype(np.float32)
    intensity = (records['intensity'].astype(np.float32) if 'intensity' in records.dtype.names
                 else np.zeros(n, dtype=np.float32))
    finite = np.isfinite(points).all(axis=1) & np.isfinite(intensity)
    dropped = int(n - finite.sum())
    if dropped == n:
        raise InputError('nan_points', f'PointCloud2: all {n} points are NaN or inf')
    return points[finite], intensity[finite], dropped


def xyzi_to_pointcloud2(points: np.ndarray, intensity: np.ndarray | None, stamp_ns: int, frame_id: str):
    """(N,3) float32 points (+ (N,) intensity) -> sensor_msgs/PointCloud2 (x y z intensity float32)."""
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import PointCloud2, PointField

    points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    records = np.zeros(len(points), dtype=[('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('intensity', '<f4')])
    records['x'], records['y'], records['z'] = points.T
    if intensity is not None:
        records['intensity'] = intensity
    msg = PointCloud2()
    msg.header.stamp = ns_to_stamp(stamp_ns, Time)
    msg.header.frame_id = frame_id
    msg.height, msg.width = 1, len(points)
    msg.fields = [PointField(name=n, offset=4 * i, datatype=7, count=1)
                  for i, n in enumerate(('x', 'y', 'z', 'intensity'))]
    msg.is_bigendian = False
    msg.point_step, msg.row_step = 16, 16 * len(points)
    msg.data = records.tobytes()
    msg.is_dense = True
    return msg


_CHANNELS = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1, '8uc1': 1, '8uc3': 3}


def image_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/Image (rgb8, bgr8, rgba8, bgra8, mono8/8UC1, 8UC3 taken as bgr) -> (H,W,3) uint8 RGB."""
    encoding = msg.encoding.lower()
    if encoding not in _CHANNELS:
        raise InputError('bad_encoding', f'Image encoding {msg.encoding!r} not supported '
                                         f'(use one of {sorted(_CHANNELS)})')
    channels = _CHANNELS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise InputError('size_mismatch', 'Image is empty (0 width or height)')
    if step < width * channels or len(msg.data) != step * height:
        raise InputError('size_mismatch', f'Image {width}x{height} {encoding}: step {step} and '
                                          f'{len(msg.data)} data bytes do not fit')
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)
    pixels = rows[:, :width * channels].reshape(height, width, channels)
    if channels == 1:
        return np.ascontiguousarray(np.repeat(pixels, 3, axis=2))
    if encoding.startswith('bgr') or encoding == '8uc3':
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    return np.ascontiguousarray(pixels[:, :, :3])


_REDUCED_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                  8: cv2.IMREAD_REDUCED_COLOR_8}
DECODE_REDUCTIONS = tuple(_REDUCED_FLAGS)


def compressed_image_to_rgb(msg, reduction: int = 1) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg or png) -> (H,W,3) uint8 RGB, decoded at 1/`reduction` of
    its size per axis (1, 2, 4 or 8; JPEG decodes that directly, which is much faster), i.e.
    ceil(H/reduction) x ceil(W/reduction) pixels."""
    fmt = msg.format.lower()
    if not any(kind in fmt for kind in ('jpeg', 'jpg', 'png')):
        raise InputError('bad_encoding', f'CompressedImage format {msg.format!r} not supported (jpeg or png)')
    data = np.frombuffer(msg.data, dtype=np.uint8)
    bgr = cv2.imdecode(data, _REDUCED_FLAGS[reduction]) if data.size else None
    if bgr is None:
        raise InputError('bad_image', f'CompressedImage ({msg.format}, {data.size} bytes) does not decode')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def camera_info_to_k(msg) -> tuple[np.ndarray, int, int]:
    """sensor_msgs/CameraInfo -> (K (3,3) float64 pixels, width, height). Rejects an all-zero or
    non-finite K (an uncalibrated camera), one beyond float32 (the model projects in float32) and a
    zero image size."""
    k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    if not np.isfinite(k).all() or np.abs(k).max() > np.finfo(np.float32).max or k[0, 0] <= 0 or k[1, 1] <= 0 \
            or k[2, 2] != 1.0:
        raise InputError('bad_camera_info', f'CameraInfo K is not a calibrated pinhole matrix: {k.ravel().tolist()}')
    if msg.width == 0 or msg.height == 0:
        raise InputError('bad_camera_info', 'CameraInfo has zero width or height')
    return k, int(msg.width), int(msg.height)
