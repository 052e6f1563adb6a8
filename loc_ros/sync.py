"""Approximate time synchronisation of one pivot stream (the LiDAR) with N other streams (cameras).

message_filters is not installable here, so this is a small pure-Python equivalent of its
ApproximateTimeSynchronizer, pivot-based: every pivot message is matched with, per other stream, the
message closest in time if that is within `slop`. Stamps are int nanoseconds; each stream's stamps
must increase (a message older than or equal to its stream's previous one is dropped as out of order).

A pivot message is dropped, with a reason, when it can never match:
* 'unmatched': some stream already moved past pivot + slop without a message within slop
  (far-apart stamps);
* 'timeout': it has waited more than `max_wait` since it arrived (receive time, not stamps: topics
  are delivered with different delays) and some stream still sent nothing close enough (a missing
  or silent camera); checked whenever a message arrives that does not itself complete part of
  that pivot's set;
* 'queue_overflow': more than `queue_size` pivots wait at once.
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
class SyncResult:
    """What one `add` produced: matched sets (stream -> (stamp_ns, message)) and drops, oldest first."""

    matched: list[dict] = field(default_factory=list)
    dropped: list[Drop] = field(default_factory=list)


class ApproximateSynchronizer:
    """Match `pivot` messages with the closest message of every stream in `others` within `slop_ns`."""

    def __init__(self, pivot: str, others, slop_ns: int, queue_size: int = 10, max_wait_ns: int | None = None):
        if slop_ns < 0 or queue_size < 1:
            raise ValueError('slop must be >= 0 and queue_size >= 1')
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
        self.counts: Counter = Counter()  # 'matched' and one key per drop reason

    def add(self, stream: str, stamp_ns: int, message, now_ns: int | None = None) -> SyncResult:
        """Queue one message received at `now_ns` (monotonic ns; default: now) and return every set
        it completes and every message it rules out."""
        now_ns = time.monotonic_ns() if now_ns is None else int(now_ns)
        if stream not in self._queues:
            raise KeyError(f'unknown stream {stream!r} (have {list(self._queues)})')
        result = SyncResult()
        stamp_ns = int(stamp_ns)
        last = self._last_stamp[stream]
        if last is not None and stamp_ns <= last:
            self._drop(result, Drop('out_of_order', stream, stamp_ns,
                                    f'stamp {stamp_ns} not after previous {last} on {stream}'))
            return result
        self._last_stamp[stream] = stamp_ns
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
            if impossible:
                self._pop_pivot()
                self._drop(result, Drop('unmatched', self.pivot, stamp,
                                        f'no message within {self.slop_ns / 1e6:.0f} ms from {impossible}'))
            elif not waiting:
                self._pop_pivot()
                self._consume(chosen)
                self.counts['matched'] += 1
                result.matched.append({self.pivot: (stamp, message), **chosen})
            elif now_ns - self._arrivals[0] > self.max_wait_ns and not _helps(chosen, arriving):
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
