"""Pipeline statistics (rates, latency, drop and error counters) and their /diagnostics message.
Thread-safe: callbacks and the worker update, the diagnostics timer reads."""
from __future__ import annotations

import threading
import time
from collections import Counter, deque

import numpy as np

LATENCY_WINDOW = 200  # frames kept for the latency percentiles


class PipelineStats:
    """Counts by key (`count`), event times for rates (`mark`), latencies in ms (`latency`)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.counts: Counter = Counter()
        self._events: dict[str, deque] = {}
        self._latencies_ms: deque = deque(maxlen=LATENCY_WINDOW)
        self._stages_ms: dict[str, deque] = {}
        self._reported = Counter()

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n

    def mark(self, key: str, now: float | None = None) -> None:
        """Record one event for the rate of `key` (and count it)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self.counts[key] += 1
            self._events.setdefault(key, deque(maxlen=100)).append(now)

    def latency(self, ms: float, stages_ms: dict | None = None) -> None:
        """One frame's end-to-end latency and, optionally, its per-stage times (ms)."""
        with self._lock:
            self._latencies_ms.append(float(ms))
            for stage, value in (stages_ms or {}).items():
                self._stages_ms.setdefault(stage, deque(maxlen=LATENCY_WINDOW)).append(float(value))

    def latency_stage(self, stage: str, ms: float) -> None:
        """A stage time (ms) of work that follows the frame's latency (e.g. the views after the grid)."""
        with self._lock:
            self._stages_ms.setdefault(stage, deque(maxlen=LATENCY_WINDOW)).append(float(ms))

    def stage_medians(self) -> dict:
        """stage -> median ms over the last LATENCY_WINDOW frames."""
        with self._lock:
            return {stage: float(np.median(values)) for stage, values in self._stages_ms.items() if values}

    def rate_hz(self, key: str, window_s: float = 5.0, now: float | None = None) -> float:
        """Events per second of `key` over the last `window_s` seconds."""
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = [t for t in self._events.get(key, ()) if now - t <= window_s]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-9)

    def latency_percentiles(self) -> tuple[float, float]:
        """(p50, p95) ms over the last LATENCY_WINDOW frames; (nan, nan) before the first."""
        with self._lock:
            values = np.array(self._latencies_ms)
        if values.size == 0:
            return float('nan'), float('nan')
        return float(np.percentile(values, 50)), float(np.percentile(values, 95))

    def snapshot(self) -> dict:
        with self._lock:
            return dict(self.counts)

    def new_problems(self) -> dict:
        """Drop/error counters that grew since the previous call."""
        with self._lock:
            current = {k: v for k, v in self.counts.items() if k.startswith(('drop.', 'error.'))}
            grown = {k: v - self._reported[k] for k, v in current.items() if v > self._reported[k]}
            self._reported.update(grown)
        return grown


def diagnostic_array(stats: PipelineStats, stamp, node_name: str, extra: dict):
    """diagnostic_msgs/DiagnosticArray with one status for the pipeline: WARN when frames were
    dropped or failed since the last report, OK otherwise. `extra`: more key/values (e.g. queue)."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    p50, p95 = stats.latency_percentiles()
    problems = stats.new_problems()
    values = {'input_rate_hz': f'{stats.rate_hz("lidar_in"):.2f}',
              'output_rate_hz': f'{stats.rate_hz("published"):.2f}',
              'latency_p50_ms': f'{p50:.1f}', 'latency_p95_ms': f'{p95:.1f}'}
    values.update({f'{stage}_p50_ms': f'{ms:.1f}' for stage, ms in sorted(stats.stage_medians().items())})
    values.update({k: str(v) for k, v in sorted(stats.snapshot().items())})
    values.update({k: str(v) for k, v in extra.items()})
    status = DiagnosticStatus(
        level=DiagnosticStatus.WARN if problems else DiagnosticStatus.OK,
        name=f'{node_name}: pipeline', hardware_id=node_name,
        message=('dropped/failed since last report: ' + ', '.join(f'{k} +{v}' for k, v in sorted(problems.items())))
        if problems else 'running',
        values=[KeyValue(key=k, value=v) for k, v in values.items()])
    msg = DiagnosticArray(status=[status])
    msg.header.stamp = stamp
    return msg


class ThrottledLog:
    """Log at most once per `period_s` per key (each drop reason gets its own budget)."""

    def __init__(self, logger, period_s: float = 3.0):
        self._logger = logger
        self._period_s = period_s
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self.suppressed = Counter()

    def _due(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, -1e18) < self._period_s:
                self.suppressed[key] += 1
                return False
            self._last[key] = now
            return True

    def warning(self, key: str, text: str) -> None:
        if self._due(key):
            self._logger.warning(text)

    def error(self, key: str, text: str) -> None:
        if self._due(key):
            self._logger.error(text)
