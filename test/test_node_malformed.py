"""Malformed input is dropped, counted and logged (throttled) while the node keeps serving valid
frames: wrong or missing fields, NaN and inf, empty clouds, unknown image encodings, size
mismatches, corrupt JPEG, wrong frame ids, out-of-order or far-apart stamps, a missing camera."""
import itertools
import time

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from ros_test_utils import (calibration_for_frame, frame_to_messages, ros_module_context, start_node,
                            synthetic_frame)

from loc_ros.conversions import ns_to_stamp

pytestmark = pytest.mark.ros
FRAME = synthetic_frame()
CALIBRATION = calibration_for_frame(FRAME, compressed=False)
CALIBRATION.cameras[1].image_topic = '/cam_left/image_rect/compressed'
LIDAR, FRONT, LEFT = '/lidar_top/points', '/cam_front/image_rect', '/cam_left/image_rect/compressed'
FRONT_INFO = '/cam_front/camera_info'
_stamps = itertools.count(10)


@pytest.fixture(scope='module', autouse=True)
def ros():
    yield from ros_module_context('test_node_malformed')


@pytest.fixture(scope='module')
def harness(ros, tmp_path_factory):
    harness, _ = start_node(tmp_path_factory.mktemp('malformed'), CALIBRATION)
    yield harness
    harness.close()


def _messages():
    return frame_to_messages(FRAME, CALIBRATION, next(_stamps) * 10**9)


def _drop_field(msgs):
    cloud = msgs[LIDAR]
    cloud.fields = [f for f in cloud.fields if f.name != 'z']
    return msgs


def _some_nan(msgs):
    cloud = msgs[LIDAR]
    data = np.frombuffer(bytes(cloud.data), dtype='<f4').copy().reshape(-1, 4)
    data[:50, 0] = np.nan
    data[50:60, 2] = np.inf
    cloud.data = data.tobytes()
    return msgs


def _all_nan(msgs):
    cloud = msgs[LIDAR]
    cloud.data = np.full(len(cloud.data) // 4, np.nan, dtype='<f4').tobytes()
    return msgs


def _empty_cloud(msgs):
    cloud = msgs[LIDAR]
    cloud.width, cloud.row_step, cloud.data = 0, 0, b''
    return msgs


def _field_offset_past_the_buffer(msgs):
    """Issue 30's crash: 2**31 - 1 overflowed numpy's own bounds check and the node read out of bounds."""
    cloud = msgs[LIDAR]
    cloud.fields[2].offset = 2**31 - 1
    return msgs


def _short_cloud_data(msgs):
    msgs[LIDAR].data = bytes(msgs[LIDAR].data)[:-7]
    return msgs


def _bad_encoding(msgs):
    msgs[FRONT].encoding = 'yuv422'
    return msgs


def _short_image(msgs):
    msgs[FRONT].data = bytes(msgs[FRONT].data)[:100]
    return msgs


def _corrupt_jpeg(msgs):
    msgs[LEFT].data = b'\xff\xd8 definitely not a jpeg'
    return msgs


def _wrong_frame_id(msgs):
    msgs[LIDAR].header.frame_id = 'some_other_lidar'
    return msgs


def _far_apart(msgs):
    msgs[FRONT].header.stamp = ns_to_stamp(msgs[LIDAR].header.stamp.sec * 10**9 + 700_000_000, Time)
    return msgs


CASES = [
    ('missing z field', _drop_field, 'drop.bad_fields'),
    ('all NaN cloud', _all_nan, 'drop.nan_points'),
    ('empty cloud', _empty_cloud, 'drop.empty_cloud'),
    ('field offset 2**31-1', _field_offset_past_the_buffer, 'drop.bad_fields'),
    ('cloud data size', _short_cloud_data, 'drop.size_mismatch'),
    ('unknown encoding', _bad_encoding, 'drop.bad_encoding'),
    ('image data size', _short_image, 'drop.size_mismatch'),
    ('corrupt jpeg', _corrupt_jpeg, 'drop.bad_image'),
    ('wrong frame id', _wrong_frame_id, 'drop.wrong_frame_id'),
    ('far-apart stamps', _far_apart, 'drop.unmatched'),
]


def _wait_count(harness, key, above, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if harness.node.stats.counts.get(key, 0) > above:
            return
        time.sleep(0.02)
    raise AssertionError(f'{key} stayed at {harness.node.stats.counts.get(key, 0)}')


def _serves_a_valid_frame(harness):
    messages = _messages()
    stamp = messages[LIDAR].header.stamp
    before = harness.count('voxels')
    published = harness.node.stats.counts.get('published', 0)
    harness.publish(messages)
    harness.wait_for('voxels', lambda m: m.header.stamp == stamp, after=before)
    _wait_count(harness, 'published', published)


@pytest.mark.parametrize('name, corrupt, counter', CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_dropped_counted_and_valid_frames_still_served(harness, name, corrupt, counter):
    before = harness.node.stats.counts.get(counter, 0)
    published = harness.node.stats.counts.get('published', 0)
    harness.publish(corrupt(_messages()))
    _wait_count(harness, counter, before)
    time.sleep(0.1)
    assert harness.node.stats.counts.get('published', 0) == published  # nothing came out of it
    _serves_a_valid_frame(harness)


def _send_camera_info(harness, info):
    harness.publish({FRONT_INFO: info})
    deadline = time.monotonic() + 10
    while harness.node._camera_infos.get('CAM_FRONT') != info:
        assert time.monotonic() < deadline, 'CameraInfo did not arrive'
        time.sleep(0.02)


def test_camera_info_that_disagrees_with_the_image_drops_frames_until_fixed(harness):
    messages = _messages()
    good_info = messages.pop(FRONT_INFO)
    bad_info = type(good_info)(width=1280, height=good_info.height, k=good_info.k, header=good_info.header)
    before = harness.node.stats.counts.get('drop.size_mismatch', 0)
    _send_camera_info(harness, bad_info)
    harness.publish(messages)
    _wait_count(harness, 'drop.size_mismatch', before)
    _send_camera_info(harness, good_info)
    messages = _messages()
    del messages[FRONT_INFO]
    stamp = messages[LIDAR].header.stamp
    harness.publish(messages)
    harness.wait_for('voxels', lambda m: m.header.stamp == stamp)


def test_nan_and_inf_points_are_removed_and_counted(harness):
    before = harness.node.stats.counts.get('nan_points_removed', 0)
    msgs = _some_nan(_messages())
    stamp = msgs[LIDAR].header.stamp
    harness.publish(msgs)
    harness.wait_for('voxels', lambda m: m.header.stamp == stamp)
    assert harness.node.stats.counts['nan_points_removed'] - before == 60


def test_out_of_order_stamps_are_dropped(harness):
    late = _messages()
    _serves_a_valid_frame(harness)
    before = harness.node.stats.counts.get('drop.out_of_order', 0)
    harness.publish(late)  # older than what the node already has on every stream
    _wait_count(harness, 'drop.out_of_order', before)
    _serves_a_valid_frame(harness)


def test_missing_camera_times_out_and_repeats_are_throttled(harness):
    before = sum(harness.node.stats.counts.get(k, 0) for k in ('drop.timeout', 'drop.unmatched'))
    suppressed = sum(harness.node.log.suppressed.values())
    for _ in range(3):
        harness.publish(_messages(), skip=(LEFT,))
    _serves_a_valid_frame(harness)
    after = sum(harness.node.stats.counts.get(k, 0) for k in ('drop.timeout', 'drop.unmatched'))
    assert after - before == 3
    assert sum(harness.node.log.suppressed.values()) > suppressed  # repeats within 3 s were not logged


def test_a_scan_whose_camera_never_sends_is_counted_without_any_later_message(harness):
    before = harness.node.stats.counts.get('drop.timeout', 0)
    harness.publish(_messages(), skip=(LEFT,))  # and then nothing: the node's timer reports it
    _wait_count(harness, 'drop.timeout', before, timeout=20.0)
    _serves_a_valid_frame(harness)


def test_diagnostics_report_the_drops(harness):
    msg = harness.wait_for('diagnostics', lambda m: any(kv.key == 'drop.bad_fields' for kv in m.status[0].values),
                           after=harness.count('diagnostics'), timeout=5)
    values = {kv.key: kv.value for kv in msg.status[0].values}
    assert int(values['drop.bad_fields']) >= 1
    assert 'slot_occupied' in values and 'input_rate_hz' in values
