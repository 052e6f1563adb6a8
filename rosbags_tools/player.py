"""`BagPlayer`: publish a bag into a live ROS 2 graph with rclpy, without `ros2 bag`.

Messages go out as the bag stores them (raw CDR, `publisher.publish(bytes)`), paced by their
bag timestamps at real time times `rate`, optionally looped and filtered by topic. A publisher
needs the topic's Python message type: /tf and /tf_static need tf2_msgs (a ROS package; in a PyPI
environment the ros_tf2_msgs wheel of ../shared/ros2cli); topics whose type is not importable here
are reported, logged once and skipped, counted per topic in the report. Latched topics (offered
transient-local in the bag, and /tf_static always, as tf2 expects) are published transient-local
so late subscribers (a node started after the player) still receive them. With `clock` (Hz; True = 40 Hz),
the playback time (bag time) is published on /clock (rosgraph_msgs/Clock) at that rate while playing,
like `ros2 bag play --clock`, and also at each message's log time just before the message, so a node
with use_sim_time has reached a message's time when it receives it. Each pass of a loop starts the
clock over at the bag's start (a jump back in time, as with `ros2 bag play --loop --clock`).
Before `play` returns it waits (up to `ack_timeout_s`) until the subscribers acknowledged every message,
so a player that exits right after its last message does not take that message with it.

Stopping: with `handle_signals` (what `loc-bag play` uses), SIGINT (Ctrl-C, and what `ros2 launch` sends
on shutdown) and SIGTERM ask playback to stop after the current message; rclpy's own handlers are left
out, so the context stays valid until `play` shuts it down itself. `play` then returns the report so
far with `interrupted` set, and `loc-bag play` exits 0 like `ros2 bag play`. Without it, a
KeyboardInterrupt or a context shut down by someone else mid-publish ends playback the same way."""
from __future__ import annotations

import importlib
import logging
import signal
import time
from collections import Counter
from dataclasses import dataclass, field

from rosbags_tools.bag_access import BagError, connections_for, guarded_messages, open_bag
from rosbags_tools.conventions import TF_STATIC_TOPIC

LOG = logging.getLogger(__name__)
DEFAULT_CLOCK_HZ = 40.0  # `ros2 bag play --clock` without a value


def message_class(msgtype: str):
    """'sensor_msgs/msg/PointCloud2' -> the installed rclpy message class; ImportError if absent."""
    package, kind, name = msgtype.split('/')
    try:
        return getattr(importlib.import_module(f'{package}.{kind}'), name)
    except (ImportError, AttributeError) as exc:
        raise ImportError(f'message type {msgtype} is not importable here ({exc})') from exc


def qos_for(connection, depth: int):
    """rclpy QoS from the bag's offered profiles: transient-local and depth 1 when latched,
    /tf_static transient-local with `depth`, else reliable, volatile, keep-last `depth`."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rosbags.interfaces import QosDurability

    offered = getattr(connection.ext, 'offered_qos_profiles', None) or []
    latched = connection.topic == TF_STATIC_TOPIC or \
        any(profile.durability == QosDurability.TRANSIENT_LOCAL for profile in offered)
    # /tf_static keeps `depth` messages: a bag may hold one per static broadcaster, all needed
    keep = depth if connection.topic == TF_STATIC_TOPIC or not latched else 1
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=keep,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


@dataclass
class PlayReport:
    published: Counter = field(default_factory=Counter)  # topic -> messages sent
    skipped: Counter = field(default_factory=Counter)  # topic -> messages not sent (type not importable)
    unplayable: dict = field(default_factory=dict)  # topic -> why
    loops: int = 0
    seconds: float = 0.0
    interrupted: bool = False  # stopped by SIGINT/SIGTERM (or KeyboardInterrupt) before the end

    def summary(self) -> str:
        lines = [f'published {sum(self.published.values())} messages on {len(self.published)} topics '
                 f'in {self.seconds:.2f} s ({self.loops} pass(es))' + ('; interrupted' if self.interrupted else '')]
        lines += [f'  {topic}: {count}' for topic, count in sorted(self.published.items())]
        lines += [f'  skipped {topic}: {self.skipped[topic]} messages ({why})'
                  for topic, why in sorted(self.unplayable.items())]
        return '\n'.join(lines)


class BagPlayer:
    """Plays `bag` through `node` (or a node of its own on an rclpy context it initialises).
    `start_offset_s` / `stop_offset_s`: play only the messages logged in [start, stop) seconds after
    the bag's first message (stop None: to the end), as `ros2 bag play --start-offset` does."""

    def __init__(self, bag, rate: float = 1.0, loop: bool = False, topics=None, node=None,
                 wait_for_subscribers_s: float = 0.0, depth: int = 100, clock: float | bool = False,
                 start_offset_s: float = 0.0, stop_offset_s: float | None = None, ack_timeout_s: float = 5.0,
                 handle_signals: bool = False):
        if not rate > 0:
            raise ValueError(f'rate must be positive, got {rate}')
        if not start_offset_s >= 0 or (stop_offset_s is not None and not stop_offset_s > start_offset_s):
            raise ValueError(f'need 0 <= start offset < stop offset, got {start_offset_s} and {stop_offset_s}')
        self.start_offset_s, self.stop_offset_s = float(start_offset_s), stop_offset_s
        self.bag, self.rate, self.loop, self.topics = bag, float(rate), loop, topics
        self.node, self.wait_for_subscribers_s, self.depth = node, wait_for_subscribers_s, depth
        if clock is True:
            clock = DEFAULT_CLOCK_HZ
        if clock and not float(clock) > 0:
            raise ValueError(f'clock rate must be positive (Hz), got {clock}')
        self.clock_hz = float(clock) if clock else 0.0
        self._clock_publisher = None
        self._clock_last_ns = None
        self._stop = False
        self._started = None
        self.ack_timeout_s = float(ack_timeout_s)
        self.handle_signals = handle_signals

    def stop(self):
        """Ask a running `play` (e.g. a loop) to end after the current message."""
        self._stop = True

    def play(self) -> PlayReport:
        """Publish the bag (BagError when it cannot be read or a filtered topic is absent). With a
        node of the caller's, the publishers stay on it after playing (latched data stays offered)."""
        import rclpy
        from rclpy.signals import SignalHandlerOptions

        self._stop, self._started = False, None
        report = PlayReport()
        restore = self._catch_signals(report) if self.handle_signals else {}
        own_context = self.node is None and not rclpy.ok()
        if own_context:
            rclpy.init(signal_handler_options=SignalHandlerOptions.NO if self.handle_signals else None)
        node = self.node or rclpy.create_node('loc_bag_player')
        try:
            with open_bag(self.bag) as reader:
                return self._play(reader, node, report)
        except KeyboardInterrupt:
            return self._interrupted(report)
        except Exception:
            if node.context.ok():
                raise
            return self._interrupted(report)  # a signal shut the context down under a publish or wait
        finally:
            if self.node is None:
                node.destroy_node()
            if own_context:
                rclpy.try_shutdown()
            for signum, handler in restore.items():
                signal.signal(signum, handler)

    def _catch_signals(self, report: PlayReport) -> dict:
        """SIGINT and SIGTERM stop playback; returns the previous handlers."""
        def stop(signum, frame):
            report.interrupted = True
            self.stop()
        return {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}

    def _interrupted(self, report: PlayReport) -> PlayReport:
        report.interrupted = True
        report.seconds = time.perf_counter() - self._started if self._started is not None else 0.0
        return report

    def _play(self, reader, node, report: PlayReport) -> PlayReport:
        connections = connections_for(reader, self.topics)
        missing = set(self.topics or ()) - {c.topic for c in connections}
        if missing:
            raise BagError(f'{self.bag} has no topic(s) {sorted(missing)}; it has '
                           f'{sorted({c.topic for c in reader.connections})}')
        publishers = self._publishers(node, connections, report)
        if self.clock_hz:
            from rosgraph_msgs.msg import Clock

            self._clock_publisher = node.create_publisher(Clock, '/clock', 10)
        self._wait_for_subscribers([*publishers.values(), *filter(None, [self._clock_publisher])])
        window = self._window_ns(reader)
        start = self._started = time.perf_counter()
        while not self._stop:
            self._one_pass(reader, connections, publishers, report, window)
            report.loops += 1
            if not self.loop:
                break
        report.seconds = time.perf_counter() - start
        if not report.interrupted:
            self._wait_for_acks(publishers, connections)
        return report

    def _wait_for_acks(self, publishers: dict, connections):
        """Block until every reliable subscriber acknowledged what was published (or the timeout);
        an unacknowledged topic is logged, since its last messages may never arrive."""
        from rclpy.duration import Duration

        topics = {c.id: c.topic for c in connections}
        deadline = time.monotonic() + self.ack_timeout_s
        for connection_id, publisher in publishers.items():
            left = max(0.0, deadline - time.monotonic())
            if not publisher.wait_for_all_acked(Duration(nanoseconds=round(left * 1e9))):
                LOG.warning('%s: not every subscriber acknowledged the last messages within %.1f s',
                            topics[connection_id], self.ack_timeout_s)

    def _window_ns(self, reader) -> tuple:
        """(start, stop) log times in ns for reader.messages (None = open end)."""
        first = reader.start_time
        start = first + round(self.start_offset_s * 1e9) if self.start_offset_s > 0 else None
        stop = first + round(self.stop_offset_s * 1e9) if self.stop_offset_s is not None else None
        return start, stop

    def _publishers(self, node, connections, report: PlayReport) -> dict:
        publishers, logged_types = {}, set()
        for connection in connections:
            try:
                cls = message_class(connection.msgtype)
            except ImportError as exc:
                unplayable = sorted(c.topic for c in connections if c.msgtype == connection.msgtype)
                if connection.msgtype not in logged_types:
                    LOG.warning('skipping %s: %s', ', '.join(unplayable), exc)
                logged_types.add(connection.msgtype)
                report.unplayable[connection.topic] = str(exc)
                continue
            publishers[connection.id] = node.create_publisher(cls, connection.topic, qos_for(connection, self.depth))
        return publishers

    def _wait_for_subscribers(self, publishers: list):
        deadline = time.monotonic() + self.wait_for_subscribers_s
        while not self._stop and time.monotonic() < deadline and any(p.get_subscription_count() == 0 for p in publishers):
            time.sleep(0.02)

    def _one_pass(self, reader, connections, publishers: dict, report: PlayReport, window: tuple):
        wall_start, bag_start = time.perf_counter(), None
        self._last_tick = wall_start
        for connection, stamp, raw in guarded_messages(reader, connections, *window):
            if self._stop:
                return
            publisher = publishers.get(connection.id)
            if publisher is None:
                report.skipped[connection.topic] += 1
                continue
            bag_start = stamp if bag_start is None else bag_start
            due = wall_start + (stamp - bag_start) / 1e9 / self.rate
            self._wait_until(due, wall_start, bag_start)
            if self._stop:
                return
            self._publish_clock(stamp)
            publisher.publish(bytes(raw))
            report.published[connection.topic] += 1

    def _wait_until(self, due: float, wall_start: float, bag_start: int):
        """Sleep until perf_counter() reaches `due`; with a clock, tick /clock at clock_hz meanwhile
        with the playback time (bag_start + elapsed wall time x rate)."""
        while not self._stop:
            now = time.perf_counter()
            if now >= due:
                return
            if self._clock_publisher is None:
                time.sleep(due - now)
                return
            period = 1.0 / self.clock_hz
            tick = self._last_tick + period
            if now >= tick:
                self._last_tick = now
                self._publish_clock(bag_start + round((now - wall_start) * self.rate * 1e9))
                continue
            time.sleep(min(due, tick) - now)

    def _publish_clock(self, stamp_ns: int):
        if self._clock_publisher is None:
            return
        from builtin_interfaces.msg import Time
        from rosgraph_msgs.msg import Clock

        sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
        self._clock_publisher.publish(Clock(clock=Time(sec=sec, nanosec=nanosec)))
