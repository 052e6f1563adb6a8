"""Opening a ROS 2 bag (folder, or a bare .mcap / .db3 file) with errors that name the problem,
and the small raw-CDR helpers the reader and the player share."""
from __future__ import annotations

import struct
from contextlib import contextmanager
from pathlib import Path


class BagError(ValueError):
    """A bag that cannot be read (missing, truncated, damaged, or lacking what is asked of it)."""


@contextmanager
def open_bag(path):
    """Yield an open rosbags Reader; BagError for a missing, unrecognised or damaged bag. Errors
    raised while iterating its messages are turned into BagError by `guarded_messages`."""
    from rosbags.rosbag2 import Reader
    from rosbags.rosbag2.errors import ReaderError

    path = Path(path)
    if not path.exists():
        raise BagError(f'bag not found: {path}')
    try:
        reader = Reader(path)
        reader.open()
    except (ReaderError, FileNotFoundError, OSError, KeyError, ValueError) as exc:
        raise BagError(f'cannot open bag {path}: {exc} (truncated or not a ROS 2 bag?)') from exc
    try:
        yield reader
    finally:
        reader.close()


def guarded_messages(reader, connections, start_ns: int | None = None, stop_ns: int | None = None):
    """reader.messages(connections) logged in [start_ns, stop_ns) (None: open end), turning storage
    errors mid-way into BagError."""
    from rosbags.rosbag2.errors import ReaderError

    try:
        yield from reader.messages(connections=connections, start=start_ns, stop=stop_ns)
    except (ReaderError, OSError, EOFError, ValueError, struct.error) as exc:
        raise BagError(f'bag {reader.path} is damaged: {exc}') from exc


def connections_for(reader, topics) -> list:
    """The reader's connections on `topics` (an iterable of names; None = all)."""
    wanted = None if topics is None else set(topics)
    return [c for c in reader.connections if wanted is None or c.topic in wanted]


def header_stamp_ns(raw: bytes) -> int:
    """The std_msgs/Header stamp at the start of a CDR message (every stamped message begins
    with its header), read without deserialising the rest."""
    if len(raw) < 12:
        raise BagError(f'message of {len(raw)} bytes is too short for a header')
    order = '<' if raw[1] == 1 else '>'
    sec, nanosec = struct.unpack_from(order + 'iI', raw, 4)
    return sec * 1_000_000_000 + nanosec
