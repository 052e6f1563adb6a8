"""Message <-> numpy conversions: every supported encoding decodes to the same RGB pixels, bad
messages raise InputError with a counter key. Messages are real rclpy message objects."""
import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField

from loc_ros.conversions import (InputError, camera_info_to_k, compressed_image_to_rgb, image_to_rgb,
                                 pointcloud2_to_xyzi, xyzi_to_pointcloud2)

RGB = np.random.default_rng(0).integers(0, 255, (6, 5, 3), dtype=np.uint8)


def _image(pixels, encoding, pad=0):
    h, w = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    rows = np.zeros((h, w * channels + pad), dtype=np.uint8)
    rows[:, :w * channels] = pixels.reshape(h, -1)
    return Image(height=h, width=w, encoding=encoding, step=w * channels + pad, data=rows.tobytes())


@pytest.mark.parametrize('encoding, pixels, expected', [
    ('rgb8', RGB, RGB), ('bgr8', RGB[:, :, ::-1], RGB), ('rgba8', np.dstack([RGB, np.full((6, 5), 7, np.uint8)]), RGB),
    ('bgra8', np.dstack([RGB[:, :, ::-1], np.zeros((6, 5), np.uint8)]), RGB),
    ('mono8', RGB[:, :, 0], np.repeat(RGB[:, :, :1], 3, axis=2))])
def test_raw_image_encodings_with_row_padding(encoding, pixels, expected):
    out = image_to_rgb(_image(np.ascontiguousarray(pixels), encoding, pad=3))
    assert out.dtype == np.uint8 and np.array_equal(out, expected)


def test_png_is_lossless_and_jpeg_close():
    png = CompressedImage(format='png', data=cv2.imencode('.png', RGB[:, :, ::-1])[1].tobytes())
    assert np.array_equal(compressed_image_to_rgb(png), RGB)
    smooth = np.full((16, 16, 3), (200, 40, 90), dtype=np.uint8)
    jpeg = CompressedImage(format='rgb8; jpeg compressed bgr8',
                           data=cv2.imencode('.jpg', smooth[:, :, ::-1])[1].tobytes())
    assert np.abs(compressed_image_to_rgb(jpeg).astype(int) - smooth).max() <= 4


@pytest.mark.parametrize('msg, reason', [
    (Image(height=2, width=2, encoding='yuv422', step=4, data=bytes(8)), 'bad_encoding'),
    (Image(height=2, width=2, encoding='rgb8', step=6, data=bytes(5)), 'size_mismatch'),
    (Image(height=0, width=2, encoding='rgb8', step=6, data=b''), 'size_mismatch'),
    (CompressedImage(format='tiff', data=b'II*\x00'), 'bad_encoding'),
    (CompressedImage(format='jpeg', data=b''), 'bad_image'),
    (CompressedImage(format='jpeg', data=b'\xff\xd8garbage'), 'bad_image')])
def test_bad_images(msg, reason):
    decode = compressed_image_to_rgb if isinstance(msg, CompressedImage) else image_to_rgb
    with pytest.raises(InputError) as err:
        decode(msg)
    assert err.value.reason == reason


def test_cloud_round_trip_and_nan_removal():
    points = np.random.default_rng(1).normal(size=(100, 3)).astype(np.float32)
    points[3] = np.nan
    points[7, 2] = -np.inf
    msg = xyzi_to_pointcloud2(points, np.arange(100, dtype=np.float32), 5, 'lidar_top')
    xyz, intensity, dropped = pointcloud2_to_xyzi(msg)
    keep = np.isfinite(points).all(axis=1)
    assert dropped == 2 and np.array_equal(xyz, points[keep])
    assert np.array_equal(intensity, np.arange(100, dtype=np.float32)[keep])


def test_cloud_with_extra_fields_big_endian_and_no_intensity():
    rec = np.zeros(4, dtype=[('ring', '>u2'), ('x', '>f4'), ('y', '>f4'), ('z', '>f4'), ('t', '>f8')])
    rec['x'] = [1, 2, 3, 4]
    msg = PointCloud2(height=2, width=2, is_bigendian=True, point_step=rec.itemsize, row_step=2 * rec.itemsize,
                      fields=[PointField(name='ring', offset=0, datatype=4, count=1),
                              PointField(name='x', offset=2, datatype=7, count=1),
                              PointField(name='y', offset=6, datatype=7, count=1),
                              PointField(name='z', offset=10, datatype=7, count=1),
                              PointField(name='t', offset=14, datatype=8, count=1)], data=rec.tobytes())
    xyz, intensity, dropped = pointcloud2_to_xyzi(msg)
    assert xyz[:, 0].tolist() == [1, 2, 3, 4] and not intensity.any() and dropped == 0


@pytest.mark.parametrize('mutate, reason', [
    (lambda m: setattr(m, 'fields', m.fields[:2]), 'bad_fields'),
    (lambda m: setattr(m.fields[0], 'datatype', 42), 'bad_fields'),
    (lambda m: setattr(m.fields[1], 'offset', 14), 'bad_fields'),
    (lambda m: (setattr(m, 'width', 0), setattr(m, 'row_step', 0)), 'empty_cloud'),
    (lambda m: setattr(m, 'row_step', 8), 'size_mismatch'),
    (lambda m: setattr(m, 'data', bytes(m.data)[:-1]), 'size_mismatch'),
    (lambda m: setattr(m, 'data', np.full(40, np.nan, np.float32).tobytes()), 'nan_points')])
def test_bad_clouds(mutate, reason):
    msg = xyzi_to_pointcloud2(np.ones((10, 3), np.float32), None, 0, 'lidar')
    mutate(msg)
    with pytest.raises(InputError) as err:
        pointcloud2_to_xyzi(msg)
    assert err.value.reason == reason


def test_camera_info():
    k = [500.0, 0, 320, 0, 500, 240, 0, 0, 1]
    matrix, w, h = camera_info_to_k(CameraInfo(width=640, height=480, k=k))
    assert (w, h) == (640, 480) and matrix[0, 2] == 320
    for bad in (CameraInfo(width=640, height=480), CameraInfo(width=0, height=480, k=k),
                CameraInfo(width=640, height=480, k=[np.nan] + k[1:]), CameraInfo(width=640, height=480, k=[1e300] + k[1:])):
        with pytest.raises(InputError):
            camera_info_to_k(bad)


def test_reduced_jpeg_decode_scales_intrinsics():
    from loc_core.data.calibration import CameraCalibration
    from loc_ros.frame_builder import camera_view, decode_reduction

    assert decode_reduction((1600, 900), (352, 128)) == 4
    assert decode_reduction((1600, 900), None) == 1
    assert decode_reduction((704, 256), (352, 128)) == 2
    assert decode_reduction((300, 100), (352, 128)) == 1
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, 32:] = 255
    k = np.array([[40.0, 0, 32], [0, 40, 24], [0, 0, 1]])
    cam = CameraCalibration('CAM', 'cam', '/cam/compressed', '/cam/info', 64, 48, k, np.eye(4))
    msg = CompressedImage(format='jpeg', data=cv2.imencode('.jpg', image)[1].tobytes())
    msg.header.frame_id = 'cam'
    view = camera_view(cam, msg, None, needed_size=(16, 12))
    assert view.image.shape == (12, 16, 3)
    assert np.allclose(view.intrinsics, np.diag([0.25, 0.25, 1]) @ k)
    assert view.image[:, :7].max() < 30 and view.image[:, 9:].min() > 220
    full = camera_view(cam, msg, None)
    assert full.image.shape == (48, 64, 3) and np.allclose(full.intrinsics, k)
