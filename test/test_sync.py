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
    accepted_pivots = cleared_pivots = 0
    for stream, stamp_ms in events:
        result = sync.add(stream, stamp_ms * MS, stamp_ms, now_ns=stamp_ms * MS)
        rejected = any(d.reason == 'out_of_order' for d in result.dropped) or \
            any(d.reason == 'before_time_jump' for d in result.discarded)
        accepted_pivots += stream == 'lidar' and not rejected
        cleared_pivots += sum(d.reason == 'time_jump' and d.stream == 'lidar' for d in result.discarded)
        matched += result.matched
    for group in matched:
        pivot_stamp = group['lidar'][0]
        assert all(abs(stamp - pivot_stamp) <= 20 * MS for stamp, _ in group.values())
    pivot_drops = sum(sync.counts[r] for r in ('unmatched', 'timeout', 'queue_overflow'))
    assert accepted_pivots == len(matched) + pivot_drops + sync.pending()['lidar'] + cleared_pivots
    assert all(n <= 20 for n in sync.pending().values())


SECOND = 1000 * MS


def _feed(sync, start_ns, frames, period_ns=100 * MS, lag_ns=20 * MS, now_ns=None, order=('cam_a', 'cam_b', 'lidar')):
    """`frames` frames of all three streams (cameras `lag_ns` before the LiDAR); returns the results."""
    results = []
    for k in range(frames):
        stamp = start_ns + k * period_ns
        for stream in order:
            at = stamp - (lag_ns if stream != 'lidar' else 0)
            results.append(sync.add(stream, at, (stream, k), now_ns=now_ns if now_ns is not None else at))
    return results


def _summary(results):
    return (sum(len(r.matched) for r in results), [d.reason for r in results for d in r.dropped],
            [j.direction for r in results for j in r.jumps])


def test_a_looped_bag_resets_once_per_loop_and_every_pass_matches():
    sync = make()
    passes = [_feed(sync, 10 * SECOND, 5, period_ns=500 * MS) for _ in range(3)]  # a 2 s bag, 3 passes
    assert _summary(sum(passes, [])) == (15, [], ['back', 'back'])
    assert sync.counts['resets'] == 2 and sync.counts['time_jump_back'] == 2
    # a loop shorter than the threshold looks like reordering: out of order until the stamps catch up
    short = make()
    _feed(short, 10 * SECOND, 5)  # 0.4 s
    assert _summary(_feed(short, 10 * SECOND, 5))[1:] == (['out_of_order'] * 15, [])
    shorter = make(jump_back_ns=200 * MS)  # ... unless the threshold is below the loop's length
    assert _summary(_feed(shorter, 10 * SECOND, 5) + _feed(shorter, 10 * SECOND, 5)) == (10, [], ['back'])


def test_a_jump_back_clears_waiting_messages_and_the_next_frame_matches():
    sync = make()
    _feed(sync, 10 * SECOND, 3)
    sync.add('cam_a', 10_300 * MS, 'a', now_ns=0)
    sync.add('lidar', 10_320 * MS, 'l', now_ns=0)  # waits for cam_b
    result = sync.add('cam_b', 2 * SECOND, 'b', now_ns=0)  # 8.3 s back: a driver restarted
    (jump,) = result.jumps
    assert (jump.direction, jump.stream, jump.stamp_ns, jump.reference_ns) == ('back', 'cam_b', 2 * SECOND,
                                                                               10_180 * MS)
    assert jump.cleared == 2 and abs(jump.seconds - 8.18) < 1e-9
    assert sorted((d.reason, d.stream) for d in result.discarded) == [('time_jump', 'cam_a'), ('time_jump', 'lidar')]
    assert not result.dropped
    sync.add('cam_a', 2_001 * MS, 'a', now_ns=0)
    assert [m['lidar'][1] for m in sync.add('lidar', 2_010 * MS, 'l2', now_ns=0).matched] == ['l2']


def test_small_reorderings_stay_out_of_order_drops():
    sync = make()
    _feed(sync, 10 * SECOND, 5)
    for stream, stamp in (('lidar', 10_100 * MS), ('cam_a', 10 * SECOND - 500 * MS), ('cam_b', 10_380 * MS)):
        result = sync.add(stream, stamp, 'late', now_ns=0)
        assert [d.reason for d in result.dropped] == ['out_of_order'] and not result.jumps
    assert sync.counts['resets'] == 0 and sync.counts['out_of_order'] == 3


def test_a_lidar_jump_forward_resets_and_a_silent_or_early_camera_does_not():
    sync = make()
    _feed(sync, 10 * SECOND, 3)
    # cam_b silent for 20 s while the others run: its next stamp is 20 s past its previous, no jump
    results = _feed(sync, 11 * SECOND, 200, order=('cam_a', 'lidar'), now_ns=0)
    assert not any(r.jumps for r in results)
    assert not any(r.jumps for r in _feed(sync, 31 * SECOND, 1)) and sync.counts['resets'] == 0
    # everything 29 s later, the cameras' callbacks first: the LiDAR's jump resets, the new-timeline
    # images already queued are kept and complete its frame
    results = _feed(sync, 60 * SECOND, 2)
    assert _summary(results) == (2, [], ['forward'])
    (jump,) = results[2].jumps
    assert (jump.stream, jump.reference_ns, jump.cleared) == ('lidar', 31 * SECOND, 0)
    # a camera running 8 s ahead of the LiDAR (its callbacks ran first after a stall) is no jump
    ahead = make()
    _feed(ahead, 10 * SECOND, 1)
    assert not ahead.add('cam_b', 18 * SECOND, 'b', now_ns=0).jumps


def test_messages_of_the_old_timeline_still_in_flight_do_not_reset_twice():
    """The bag loops while the last scan of the previous pass is still on its way: the first camera
    of the new pass resets, the late scan is discarded as from before the jump, not a second reset."""
    sync = make()
    _feed(sync, 10 * SECOND, 4)  # ... frame 3 complete
    sync.add('cam_a', 10_380 * MS, 'a4', now_ns=1)
    sync.add('cam_b', 10_380 * MS, 'b4', now_ns=1)
    result = sync.add('cam_a', 880 * MS, 'a0', now_ns=2)  # the next pass starts, 9.5 s back
    assert [j.direction for j in result.jumps] == ['back']
    late = sync.add('lidar', 10_400 * MS, 'l4', now_ns=3)  # the old pass's last scan, delivered late
    assert [d.reason for d in late.discarded] == ['before_time_jump'] and not late.jumps and not late.dropped
    results = _feed(sync, 1 * SECOND, 3, now_ns=4)
    assert _summary(results) == (3, [], [])
    assert sync.counts['resets'] == 1


def test_allow_partial_predicts_without_a_silent_camera():
    sync = make(max_wait_ns=150 * MS, allow_partial=True)
    matched = []
    for k in range(5):  # cam_b silent, received at the stamps
        now = (100 + 100 * k) * MS
        matched += sync.add('cam_a', now, 'a', now_ns=now).matched
        matched += sync.add('lidar', now, f'l{k}', now_ns=now).matched
    assert [sorted(m) for m in matched] == [['cam_a', 'lidar']] * 3  # each out after max_wait
    assert sync.counts['partial'] == 3 and sync.counts['timeout'] == 0
    only = make(max_wait_ns=150 * MS, allow_partial=True)
    got = []
    for k in range(4):  # no camera at all: LiDAR-only sets
        got += only.add('lidar', k * 100 * MS, k, now_ns=k * 100 * MS).matched
    assert [list(m) for m in got] == [['lidar'], ['lidar']]
    # far-apart stamps: a camera that moved past the scan is left out at once
    far = make(allow_partial=True)
    far.add('lidar', 100 * MS, 'l')
    far.add('cam_a', 101 * MS, 'a')
    result = far.add('cam_b', 500 * MS, 'b')
    assert [sorted(m) for m in result.matched] == [['cam_a', 'lidar']] and not result.dropped


def test_expire_times_out_a_scan_whose_camera_never_sends_once_the_grace_has_passed():
    sync = make(max_wait_ns=300 * MS)
    sync.add('cam_a', 0, 'a0', now_ns=0)
    sync.add('lidar', 0, 'l0', now_ns=0)  # cam_b's message never comes, nor anything after
    assert not sync.expire(now_ns=1000 * MS, grace_ns=1000 * MS).dropped  # 1.0 s < 0.3 + 1.0 s
    result = sync.expire(now_ns=1400 * MS, grace_ns=1000 * MS)
    assert [(d.reason, d.stamp_ns) for d in result.dropped] == [('timeout', 0)] and sync.pending()['lidar'] == 0
    partial = make(max_wait_ns=300 * MS, allow_partial=True)
    partial.add('cam_a', 0, 'a0', now_ns=0)
    partial.add('lidar', 0, 'l0', now_ns=0)
    assert [set(m) for m in partial.expire(now_ns=2400 * MS).matched] == [{'lidar', 'cam_a'}]
