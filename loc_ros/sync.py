"""Approximate time synchronisation of one pivot stream (the LiDAR) with N other streams (cameras).

message_filters is not installable here, so this is a small pure-Python equivalent of its
ApproximateTimeSynchronizer, pivot-based: every pivot message is matched with, per other stream, the
message closest in time if that is within `slop`. Stamps are int nanoseconds; each stream's stamps
must increase (a message older than or equal to its stream's previous one is dropped as out of order).

Time jumps (a looped or restarted bag, a restarted driver) reset the synchroniser instead:
* back: a stamp older than its stream's previous stamp by more than `jump_back_ns` (default 1 s,
  well above any reordering); smaller steps back stay 'out_of_order' drops;
* forward: a pivot (LiDAR) stamp newer than the previous pivot stamp by more than `jump_forward_ns`
  (default 5 s). Only the pivot is judged: a camera that was silent and comes back, or whose
  callbacks run ahead of the LiDAR's after a stall, is not a jump.
A reset forgets every stream's previous stamp and every queued message more than `jump_back_ns` away
from the stamp that revealed the jump (reported in `SyncResult.jumps`; the cleared messages in
`SyncResult.discarded`, reason 'time_jump'); that message starts the new timeline, with any
message of it already queued. Messages of the old timeline still in flight on other
topics when the jump is seen (topics are delivered independently) are discarded too, reason
'before_time_jump': a stream that has not yet sent a message on the new timeline, whose stamp is
more than `jump_back_ns` away from the new timeline and within the old one, for a short while
after the reset. So one loop of a bag is one reset, whatever order its topics arrive in.

A pivot message is dropped, with a reason, when it can never match:
* 'unmatched': some stream already moved past pivot + slop without a message within slop
  (far-apart stamps);
* 'timeout': it has waited more than `max_wait` since it arrived (receive time, not stamps: topics
  are delivered with different delays) and some stream still sent nothing close enough (a missing
  or silent camera); checked whenever a message arrives that does not itself complete part of
  that pivot's set, and by `expire` (the node calls it on a timer);
* 'queue_overflow': more than `queue_size` pivots wait at once.
With `allow_partial`, a pivot that would be dropped as 'unmatched' or 'timeout' is matched with the
streams that have a message within slop (possibly none: LiDAR only) and counted as 'partial'.
Not thread-safe: call `add` from one thread (or under a lock).
"""
from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field


@dataclass
class Drop:
    """One dropped message: `reason` a counter key, `stream` whose message, `stamp_ns`, `detail` text."""

    reason: str
    stream: str
    stamp_ns: int
    detail: str = ''


@dataclass
class TimeJump:
    """A reset: `stream`'s message at `stamp_ns` was `direction` ('back' or 'forward') of `reference_ns`
    (its stream's previous stamp, or the newest stamp of all streams) by more than the threshold;
    `cleared` waiting messages were forgotten."""

    direction: str
    stream: str
    stamp_ns: int
    reference_ns: int
    cleared: int = 0

    @property
    def seconds(self) -> float:
        return abs(self.stamp_ns - self.reference_ns) / 1e9


@dataclass
class SyncResult:
    """What one `add` produced: matched sets (stream -> (stamp_ns, message)), drops, time jumps and the
    messages a jump discarded, oldest first."""

    matched: list[dict] = field(default_factory=list)
    dropped: list[Drop] = field(default_factory=list)
    jumps: list[TimeJump] = field(default_factory=list)
    discarded: list[Drop] = field(default_factory=list)


class ApproximateSynchronizer:
    """Match `pivot` messages with the closest message of every stream in `others` within `slop_ns`."""

    def __init__(self, pivot: str, others, slop_ns: int, queue_size: int = 10, max_wait_ns: int | None = None,
                 jump_back_ns: int = 1_000_000_000, jump_forward_ns: int = 5_000_000_000,
                 allow_partial: bool = False):
        if slop_ns < 0 or queue_size < 1:
            raise ValueError('slop must be >= 0 and queue_size >= 1')
        if jump_back_ns <= 0 or jump_forward_ns <= 0:
            raise ValueError('time jump thresholds must be positive')
        self.pivot = pivot
        self.others = tuple(others)
        if pivot in self.others or len(set(self.others)) != len(self.others):
            raise ValueError(f'stream names must be unique: pivot {pivot!r}, others {self.others}')
        self.slop_ns = int(slop_ns)
        self.queue_size = int(queue_size)
        self.max_wait_ns = int(max_wait_ns) if max_wait_ns is not None else max(4 * self.slop_ns, 1)
        self._queues = {name: deque() for name in (pivot, *self.others)}
        self._last_stamp: dict[str, int | None] = {name: None for name in self._queues}
        self._arrivals: deque = deque()  # receive time (monotonic ns) of each waiting pivot
        self.jump_back_ns, self.jump_forward_ns = int(jump_back_ns), int(jump_forward_ns)
        self.allow_partial = bool(allow_partial)
        self._newest: int | None = None  # newest stamp of any stream since the last reset
        self._old_timeline = None  # (low, high, until_now_ns, streams still on it) after a reset
        self.counts: Counter = Counter()  # 'matched', 'partial', 'resets' and one key per drop reason

    def add(self, stream: str, stamp_ns: int, message, now_ns: int | None = None) -> SyncResult:
        """Queue one message received at `now_ns` (monotonic ns; default: now) and return every set
        it completes and every message it rules out."""
        now_ns = time.monotonic_ns() if now_ns is None else int(now_ns)
        if stream not in self._queues:
            raise KeyError(f'unknown stream {stream!r} (have {list(self._queues)})')
        result = SyncResult()
        stamp_ns = int(stamp_ns)
        if self._from_old_timeline(stream, stamp_ns, now_ns):
            self.counts['before_time_jump'] += 1
            result.discarded.append(Drop('before_time_jump', stream, stamp_ns,
                                         f'{stream} message of the timeline before the last time jump'))
            return result
        last = self._last_stamp[stream]
        if last is not None and stamp_ns < last - self.jump_back_ns:
            self._reset(result, TimeJump('back', stream, stamp_ns, last), now_ns)
        elif stream == self.pivot and last is not None and stamp_ns > last + self.jump_forward_ns:
            self._reset(result, TimeJump('forward', stream, stamp_ns, last), now_ns)
        elif last is not None and stamp_ns <= last:
            self._drop(result, Drop('out_of_order', stream, stamp_ns,
                                    f'stamp {stamp_ns} not after previous {last} on {stream}'))
            return result
        self._last_stamp[stream] = max(stamp_ns, self._last_stamp[stream] or stamp_ns)
        self._newest = stamp_ns if self._newest is None else max(self._newest, stamp_ns)
        if self._old_timeline is not None:
            self._old_timeline[3].discard(stream)
        queue = self._queues[stream]
        queue.append((stamp_ns, message))
        if stream == self.pivot:
            self._arrivals.append(now_ns)
            if len(queue) > self.queue_size:
                old_stamp, _ = queue.popleft()
                self._arrivals.popleft()
                self._drop(result, Drop('queue_overflow', stream, old_stamp, f'more than {self.queue_size} waiting'))
        self._match(result, now_ns, (stream, stamp_ns))
        self._prune_others()
        return result

    def expire(self, now_ns: int | None = None, grace_ns: int = 2_000_000_000) -> SyncResult:
        """Time out the pivots that have waited more than `max_wait` + `grace_ns` by `now_ns`
        (monotonic ns; default: now) without any message arriving: call it periodically, or a scan
        whose camera never sends (the last one before a camera dies, a message lost on the way) waits
        unreported until the next message. The grace keeps a busy executor, whose callbacks for
        already received images run late, from timing out complete sets."""
        now_ns = time.monotonic_ns() if now_ns is None else int(now_ns)
        result = SyncResult()
        self._match(result, now_ns - int(grace_ns), (None, None))
        return result

    def reset(self) -> int:
        """Forget every queued message and every stream's previous stamp; returns how many were queued."""
        cleared = sum(len(q) for q in self._queues.values())
        for queue in self._queues.values():
            queue.clear()
        self._arrivals.clear()
        self._last_stamp = {name: None for name in self._queues}
        self._newest = None
        self._old_timeline = None
        return cleared

    def _reset(self, result: SyncResult, jump: TimeJump, now_ns: int) -> None:
        """Reset for `jump`, keeping queued messages of the new timeline (within jump_back_ns of the
        jump's stamp); remember the old timeline's stamp range for its messages still in flight."""
        known = [s for s in self._last_stamp.values() if s is not None]
        low, high = min(known), max(known)
        near = lambda stamp: abs(stamp - jump.stamp_ns) <= self.jump_back_ns  # noqa: E731
        kept = {}
        for name, queue in self._queues.items():
            arrivals = list(self._arrivals) if name == self.pivot else [None] * len(queue)
            kept[name] = [(item, at) for item, at in zip(queue, arrivals) if near(item[0])]
            result.discarded += [Drop('time_jump', name, stamp, f'waiting when {jump.stream} jumped {jump.direction}')
                                 for stamp, _ in queue if not near(stamp)]
        jump.cleared = self.reset() - sum(len(v) for v in kept.values())
        for name, items in kept.items():
            self._queues[name].extend(item for item, _ in items)
            if name == self.pivot:
                self._arrivals.extend(at for _, at in items)
            if items:
                self._last_stamp[name] = max(item[0] for item, _ in items)
                self._newest = max(self._newest or self._last_stamp[name], self._last_stamp[name])
        self.counts['resets'] += 1
        self.counts[f'time_jump_{jump.direction}'] += 1
        self.counts['time_jump'] += jump.cleared
        result.jumps.append(jump)
        window = max(2_000_000_000, 4 * self.max_wait_ns)
        others = {name for name, items in kept.items() if not items} - {jump.stream}
        self._old_timeline = (low - self.jump_back_ns, high + self.jump_back_ns, now_ns + window, others)

    def _from_old_timeline(self, stream: str, stamp_ns: int, now_ns: int) -> bool:
        """A message sent before the last reset's jump and delivered after it: its stream has not yet
        sent on the new timeline, its stamp is far from the new timeline and within the old one."""
        if self._old_timeline is None:
            return False
        low, high, until, streams = self._old_timeline
        if now_ns > until or not streams:
            self._old_timeline = None
            return False
        return (stream in streams and self._newest is not None and low <= stamp_ns <= high
                and abs(stamp_ns - self._newest) > self.jump_back_ns)

    def pending(self) -> dict[str, int]:
        """Queue length per stream (for diagnostics: must not grow without bound)."""
        return {name: len(q) for name, q in self._queues.items()}

    def _drop(self, result: SyncResult, drop: Drop) -> None:
        self.counts[drop.reason] += 1
        result.dropped.append(drop)

    def _match(self, result: SyncResult, now_ns: int, arriving: tuple) -> None:
        """Match, rule out or time out waiting pivots, oldest first. `arriving` (stream, stamp) is the
        message just added: when it is part of the oldest pivot's set, that pivot made progress and is
        not timed out by it (its messages were late in reaching us, e.g. a stalled executor, not
        missing); a silent camera still times it out with the next message that does not help it."""
        pivots = self._queues[self.pivot]
        while pivots:
            stamp, message = pivots[0]
            chosen, impossible, waiting = {}, [], []
            for name in self.others:
                best = self._closest(name, stamp)
                if best is not None and abs(best[0] - stamp) <= self.slop_ns:
                    chosen[name] = best
                elif (self._last_stamp[name] or -1) > stamp + self.slop_ns:
                    impossible.append(name)
                else:
                    waiting.append(name)
            timed_out = bool(waiting) and now_ns - self._arrivals[0] > self.max_wait_ns \
                and not _helps(chosen, arriving)
            if (impossible or timed_out) and self.allow_partial:
                if waiting and not timed_out:
                    return  # some stream may still complete it: wait for it or the timeout
                self._pop_pivot()
                self._consume(chosen)
                self.counts['partial'] += 1
                result.matched.append({self.pivot: (stamp, message), **chosen})
            elif impossible:
                self._pop_pivot()
                self._drop(result, Drop('unmatched', self.pivot, stamp,
                                        f'no message within {self.slop_ns / 1e6:.0f} ms from {impossible}'))
            elif not waiting:
                self._pop_pivot()
                self._consume(chosen)
                self.counts['matched'] += 1
                result.matched.append({self.pivot: (stamp, message), **chosen})
            elif timed_out:
                self._pop_pivot()
                self._drop(result, Drop('timeout', self.pivot, stamp,
                                        f'nothing within {self.slop_ns / 1e6:.0f} ms from {waiting} after '
                                        f'{self.max_wait_ns / 1e6:.0f} ms'))
            else:
                return

    def _pop_pivot(self) -> None:
        self._queues[self.pivot].popleft()
        self._arrivals.popleft()

    def _closest(self, name: str, stamp: int):
        queue = self._queues[name]
        if not queue:
            return None
        return min(queue, key=lambda item: abs(item[0] - stamp))

    def _consume(self, chosen: dict) -> None:
        """Remove every chosen message and those older than it (no later pivot can prefer them)."""
        for name, (stamp, _) in chosen.items():
            queue = self._queues[name]
            while queue and queue[0][0] <= stamp:
                queue.popleft()

    def _prune_others(self) -> None:
        """Forget messages too old for any current or future pivot; bound every queue."""
        pivots = self._queues[self.pivot]
        if pivots:
            horizon = pivots[0][0] - self.slop_ns
        elif self._last_stamp[self.pivot] is not None:
            horizon = self._last_stamp[self.pivot] - self.slop_ns
        else:
            horizon = None
        for name in self.others:
            queue = self._queues[name]
            while queue and ((horizon is not None and queue[0][0] < horizon) or len(queue) > 4 * self.queue_size):
                queue.popleft()


def _helps(chosen: dict, arriving: tuple) -> bool:
    """Whether the message `arriving` (stream, stamp) is the one chosen for its stream."""
    stream, stamp = arriving
    return stream in chosen and chosen[stream][0] == stamp
