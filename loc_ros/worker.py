"""A one-slot latest-item buffer and the worker thread that drains it.

Subscription callbacks only `put` into the slot; the worker thread takes the newest item and runs
the slow work (decoding, inference, publishing). An item still waiting when a newer one arrives is
replaced and counted as dropped, so the queue can never grow."""
from __future__ import annotations

import threading
from typing import Callable


class LatestSlot:
    """Holds at most one item. Thread-safe."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item = None
        self._has_item = False
        self._closed = False
        self.put_count = 0
        self.dropped = 0  # items replaced before the worker took them

    def put(self, item) -> bool:
        """Store `item`; returns True when it replaced an untaken older one (counted in `dropped`)."""
        with self._cond:
            replaced = self._has_item
            self.dropped += int(replaced)
            self.put_count += 1
            self._item, self._has_item = item, True
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None):
        """Wait for and remove the item; None on timeout or once closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._has_item or self._closed, timeout):
                return None
            if not self._has_item:
                return None
            item, self._item, self._has_item = self._item, None, False
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def occupied(self) -> int:
        """1 while an item waits, else 0 (the queue length, for diagnostics)."""
        with self._cond:
            return int(self._has_item)


class Worker:
    """A daemon thread calling `handle(item)` for every item taken from `slot`; exceptions from
    `handle` go to `on_error(item, exc)` and the loop continues."""

    def __init__(self, slot: LatestSlot, handle: Callable, on_error: Callable, name: str = 'loc_worker'):
        self._slot = slot
        self._handle = handle
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.busy = False

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self._slot.take(timeout=0.2)
            if item is None:
                continue
            self.busy = True
            try:
                self._handle(item)
            except Exception as exc:  # noqa: BLE001 - one bad frame must not end the node
                self._on_error(item, exc)
            finally:
                self.busy = False

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the loop to end, wake it, wait; True when the thread finished."""
        self._stop.set()
        self._slot.close()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()
