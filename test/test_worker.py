"""One-slot latest-frame buffer and the worker thread (pure Python threads)."""
import threading
import time

from loc_ros.worker import LatestSlot, Worker


def test_slot_keeps_only_the_newest_and_counts_drops():
    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True and slot.put(3) is True
    assert slot.dropped == 2 and slot.occupied == 1
    assert slot.take(timeout=0.1) == 3
    assert slot.take(timeout=0.05) is None and slot.occupied == 0


def test_worker_survives_errors_drops_stale_items_and_stops():
    slot = LatestSlot()
    gate = threading.Event()
    handled, errors = [], []

    def handle(item):
        if item == 'boom':
            raise RuntimeError('bad frame')
        gate.wait(5)
        handled.append(item)

    worker = Worker(slot, handle, lambda item, exc: errors.append((item, str(exc))))
    worker.start()
    slot.put('boom')
    deadline = time.monotonic() + 5
    while not errors and time.monotonic() < deadline:
        time.sleep(0.01)
    slot.put('a')             # taken at once, blocks on the gate
    while slot.occupied and time.monotonic() < deadline:
        time.sleep(0.01)
    for item in ('b', 'c', 'd'):
        slot.put(item)        # worker busy: b and c are replaced
    gate.set()
    while len(handled) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert errors == [('boom', 'bad frame')]
    assert handled == ['a', 'd'] and slot.dropped == 2
    assert worker.stop(timeout=2)
