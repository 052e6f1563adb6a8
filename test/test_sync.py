"""The pure-Python approximate time synchroniser (no ROS needed)."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loc_ros.sync import ApproximateSynchronizer

MS = 1_000_000


def make(slop_ms=20, **kwargs):
    return ApproximateSynchronizer('lidar', ('cam_a', 'cam_b'), slop_ns=slop_ms * MS, **kwargs)


def test_matches_closest_messages_within_slop():
    sync = make()
    assert not sync.add('cam_a', 95 * MS, 'a95').matched
    assert not sync.add('cam_a', 104 * MS, 'a104').matched
    assert not sync.add('lidar', 100 * MS, 'l100').matched  # cam_b still missing
    result = sync.add('cam_b', 110 * MS, 'b110')
    assert result.matched == [{'lidar': (100 * MS, 'l100'), 'cam_a': (104 * MS, 'a104'),
                               'cam_b': (110 * MS, 'b110')}]
    assert sync.counts['matched'] == 1
    assert sync.pending() == {'lidar': 0, 'cam_a': 0, 'cam_b': 0}


def test_far_apart_stamps_drop_the_pivot_as_unmatched():
    sync = make()
    sync.add('lidar', 100 * MS, 'l')
    sync.add('cam_a', 101 * MS, 'a')
    result = sync.add('cam_b', 500 * MS, 'b')  # cam_b moved past 100 + 20 ms without a match
    assert not result.matched
    assert [(d.reason, d.stamp_ns) for d in result.dropped] == [('unmatched', 100 * MS)]
    assert 'cam_b' in result.dropped[0].detail
    assert sync.counts['unmatched'] == 1


def test_out_of_order_and_duplicate_stamps_are_dropped():
    sync = make()
    sync.add('cam_a', 100 * MS, 'a')
    for stamp in (100 * MS, 50 * MS):
        result = sync.add('cam_a', stamp, 'late')
        assert [d.reason for d in result.dropped] == ['out_of_order']
    assert sync.counts['out_of_order'] == 2


def test_missing_camera_times_out_and_later_frames_still_match():
    sync = make(max_wait_ns=150 * MS)
    dropped = []
    for k in range(5):  # cam_b silent for 5 LiDAR frames at 10 Hz (received at their stamps)
        now = (100 + 100 * k) * MS
        dropped += sync.add('cam_a', now, 'a', now_ns=now).dropped
        dropped += sync.add('lidar', now, 'l', now_ns=now).dropped
    assert {d.reason for d in dropped} == {'timeout'}
    assert sync.pending()['lidar'] <= 2  # bounded by max_wait, no queue growth
    sync.add('cam_a', 601 * MS, 'a', now_ns=601 * MS)
    sync.add('cam_b', 602 * MS, 'b', now_ns=602 * MS)
    result = sync.add('lidar', 600 * MS, 'l600', now_ns=603 * MS)
    assert [m['lidar'][1] for m in result.matched] == ['l600']


def test_timeout_counts_receive_time_not_stamps():
    sync = make(max_wait_ns=300 * MS)
    sync.add('cam_a', 0, 'a0', now_ns=0)
    sync.add('lidar', 0, 'l0', now_ns=0)
    # a newer scan arrives 500 ms later in stamps but only 100 ms later in time: l0 keeps waiting
    sync.add('cam_a', 500 * MS, 'a500', now_ns=100 * MS)
    assert not sync.add('lidar', 500 * MS, 'l500', now_ns=100 * MS).dropped
    result = sync.add('cam_b', 10 * MS, 'b10', now_ns=150 * MS)  # the late camera still completes l0
    assert [m['lidar'][1] for m in result.matched] == ['l0']
    result = sync.add('cam_b', 505 * MS, 'b505', now_ns=200 * MS)
    assert [m['lidar'][1] for m in result.matched] == ['l500']


def test_a_stalled_executor_does_not_time_out_a_frame_whose_images_are_queued():
    """The LiDAR callback ran, then the executor stalled past max_wait while every image was already
    received: each late image completes part of the set, so the frame is matched, not dropped."""
    sync = make(max_wait_ns=300 * MS)
    sync.add('lidar', 0, 'l0', now_ns=0)
    assert not sync.add('cam_a', 1 * MS, 'a1', now_ns=500 * MS).dropped  # 500 ms later: still waits
    result = sync.add('cam_b', 2 * MS, 'b2', now_ns=501 * MS)
    assert [m['lidar'][1] for m in result.matched] == ['l0'] and sync.counts['timeout'] == 0
    # a message that does not help (a newer scan) still times out a pivot whose camera is silent
    sync.add('lidar', 100 * MS, 'l100', now_ns=600 * MS)
    sync.add('cam_a', 101 * MS, 'a101', now_ns=601 * MS)
    result = sync.add('lidar', 200 * MS, 'l200', now_ns=1000 * MS)
    assert [(d.reason, d.stamp_ns) for d in result.dropped] == [('timeout', 100 * MS)]


def test_queue_overflow_bounds_waiting_pivots():
    sync = make(queue_size=3, max_wait_ns=10**12)
    reasons = []
    for k in range(6):
        reasons += [d.reason for d in sync.add('lidar', k * 100 * MS, 'l').dropped]
    assert reasons.count('queue_overflow') == 3
    assert sync.pending()['lidar'] == 3


def test_bad_construction_is_rejected():
    with pytest.raises(ValueError):
        ApproximateSynchronizer('lidar', ('lidar',), slop_ns=1)
    with pytest.raises(ValueError):
        ApproximateSynchronizer('lidar', ('a',), slop_ns=-1)
    with pytest.raises(KeyError):
        make().add('nope', 1, 'x')


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(['lidar', 'cam_a', 'cam_b']), st.integers(0, 3000)),
                max_size=80))
def test_every_match_is_within_slop_and_every_pivot_accounted_for(events):
    sync = make(queue_size=5)
    matched = []
    accepted_pivots = 0
    for stream, stamp_ms in events:
        result = sync.add(stream, stamp_ms * MS, stamp_ms, now_ns=stamp_ms * MS)
        accepted_pivots += stream == 'lidar' and not any(d.reason == 'out_of_order' for d in result.dropped)
        matched += result.matched
    for group in matched:
        pivot_stamp = group['lidar'][0]
        assert all(abs(stamp - pivot_stamp) <= 20 * MS for stamp, _ in group.values())
    pivot_drops = sum(sync.counts[r] for r in ('unmatched', 'timeout', 'queue_overflow'))
    assert accepted_pivots == len(matched) + pivot_drops + sync.pending()['lidar']
    assert all(n <= 20 for n in sync.pending().values())
