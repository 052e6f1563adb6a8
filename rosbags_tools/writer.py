"""`write_frames_to_bag`: any iterable of Frames -> one ROS 2 bag (mcap or sqlite3) with the
calibration YAML inside the bag folder, written all-or-nothing (see `output.py`).

Messages are written in stamp order per topic: a frame's messages span a few tens of ms (camera
stamps differ from the LiDAR's), so they wait in a small time-ordered queue and leave it once a
later frame has moved the horizon past them."""
from __future__ import annotations

import heapq
import itertools
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from loc_core.data.calibration import RigCalibration, save_calibration
from rosbags_tools import conventions as C
from rosbags_tools.frame_messages import FrameEncoder, Outgoing, static_transforms, topics_and_types
from rosbags_tools.output import atomic_folder, check_destination

LOG = logging.getLogger(__name__)
REORDER_HORIZON_NS = 200_000_000  # messages this much older than the newest frame's are final


@dataclass
class WriteReport:
    """What a conversion wrote: frames, messages per topic, bytes on disk, what was left out."""

    path: Path
    storage: str
    frames: int = 0
    messages: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    bytes: int = 0
    seconds: float = 0.0
    source: dict = field(default_factory=dict)  # the source's own report (missing blobs, ...)

    @property
    def megabytes_per_second(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        lines = [f'wrote {self.path} ({self.storage}): {self.frames} frames, '
                 f'{sum(self.messages.values())} messages, {self.bytes / 1e6:.1f} MB in {self.seconds:.2f} s '
                 f'({self.megabytes_per_second:.1f} MB/s)']
        lines += [f'  {topic}: {count}' for topic, count in sorted(self.messages.items())]
        if self.dropped:
            lines.append(f'  left out: {dict(self.dropped)}')
        for key, value in self.source.items():
            lines.append(f'  source {key}: {value}')
        return '\n'.join(lines)


class _OrderedBagWriter:
    """Serialises Outgoing messages and writes them through a stamp-ordered queue."""

    def __init__(self, writer, calibration: RigCalibration):
        self.writer = writer
        self.connections = {}
        for topic, msgtype in topics_and_types(calibration):
            qos = C.LATCHED_QOS if topic == C.TF_STATIC_TOPIC else C.SENSOR_QOS
            self.connections[topic] = writer.add_connection(topic, msgtype, typestore=C.typestore(),
                                                            offered_qos_profiles=[qos])
        self.counts: Counter = Counter()  # messages written per topic
        self.out_of_order = 0
        self._queue: list = []
        self._order = itertools.count()
        self._last_stamp: dict[str, int] = {}

    def push(self, messages: list[Outgoing]):
        serialize = C.typestore().serialize_cdr
        for msg in messages:
            raw = serialize(msg.message, msg.msgtype)
            heapq.heappush(self._queue, (msg.stamp_ns, next(self._order), msg.topic, raw))
        if messages:
            self._flush_before(min(m.stamp_ns for m in messages) - REORDER_HORIZON_NS)

    def finish(self):
        self._flush_before(None)

    def _flush_before(self, horizon_ns):
        while self._queue and (horizon_ns is None or self._queue[0][0] < horizon_ns):
            stamp, _, topic, raw = heapq.heappop(self._queue)
            if stamp < self._last_stamp.get(topic, stamp):
                LOG.warning('%s: message at %d is older than one already written (frames out of time order)',
                            topic, stamp)
                self.out_of_order += 1
            self._last_stamp[topic] = stamp
            self.writer.write(self.connections[topic], stamp, raw)
            self.counts[topic] += 1


def _storage_plugin(storage: str):
    from rosbags.rosbag2 import StoragePlugin

    if storage not in C.STORAGES:
        raise ValueError(f'unknown storage {storage!r}; choose one of {C.STORAGES}')
    return StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3


def write_frames_to_bag(frames, calibration: RigCalibration, out, storage: str = 'mcap', force: bool = False,
                        progress: bool = True, total: int | None = None, custom_data: dict | None = None,
                        description: str = 'frames') -> WriteReport:
    """Write `frames` (an iterable of Frame, in time order) as a ROS 2 bag folder at `out`.

    The folder holds the storage file, metadata.yaml and `calibration.yaml` (C.CALIBRATION_FILE).
    Raises OutputExistsError when `out` exists and not `force`, ValueError for an unknown storage
    or when no frame came; on any error nothing is left at `out`."""
    from rosbags.rosbag2 import Writer
    from tqdm import tqdm

    plugin = _storage_plugin(storage)
    out = check_destination(out, force)
    report = WriteReport(path=Path(out), storage=storage)
    start = time.perf_counter()
    encoder = FrameEncoder(calibration)
    with atomic_folder(out, force) as work:
        writer = Writer(work, version=Writer.VERSION_LATEST, storage_plugin=plugin)
        for key, value in (custom_data or {}).items():
            writer.set_custom_data(key, str(value))
        writer.open()
        try:
            ordered = _OrderedBagWriter(writer, calibration)
            for frame in tqdm(frames, total=total, desc=description, unit='frame', disable=not progress):
                messages = encoder.encode(frame)
                if report.frames == 0:
                    messages.append(static_transforms(calibration, min(m.stamp_ns for m in messages)))
                ordered.push(messages)
                report.frames += 1
            if report.frames == 0:
                raise ValueError('no frames to write (the source yielded none)')
            ordered.finish()
        except BaseException:
            writer.abort()
            raise
        writer.close()
        os.chmod(save_calibration(work / C.CALIBRATION_FILE, calibration), 0o644)  # readable like the bag
        report.bytes = sum(p.stat().st_size for p in work.iterdir())
    report.messages = ordered.counts
    report.dropped = encoder.dropped + Counter(out_of_order=ordered.out_of_order)
    report.seconds = time.perf_counter() - start
    return report
