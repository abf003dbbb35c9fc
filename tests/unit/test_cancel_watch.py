"""The watch a running turn keeps for cancel requests stops with the turn and leaves no store read
under way: a process that exits while another thread is inside DuckDB can be aborted (`memos send`
once exited with SIGABRT after printing its answer)."""

from __future__ import annotations

import threading
import time

from memos.core import turns


class SlowStore:
    """A store whose cancel lookups take a while, as a read waiting on a busy file does."""

    def __init__(self) -> None:
        self.reading = threading.Event()
        self.reads_finished = 0

    def cancel_requested(self, run_id: str) -> bool:
        self.reading.set()
        time.sleep(0.3)
        self.reads_finished += 1
        return False


def test_stopping_the_watch_waits_for_its_store_read(monkeypatch) -> None:
    monkeypatch.setattr(turns, "CANCEL_POLL", 0.01)
    store = SlowStore()
    stop = turns.watch_for_cancel(store, "run-1", threading.Event())  # type: ignore[arg-type]
    assert store.reading.wait(10)  # a read is under way
    stop()
    assert store.reads_finished >= 1  # it finished before stop returned
    assert not any(t.name == "memos-cancel-watch" and t.is_alive() for t in threading.enumerate())


def test_a_cancel_request_in_the_store_sets_the_event(monkeypatch) -> None:
    monkeypatch.setattr(turns, "CANCEL_POLL", 0.01)

    class Cancelled:
        def cancel_requested(self, run_id: str) -> bool:
            return run_id == "run-2"

    cancel = threading.Event()
    stop = turns.watch_for_cancel(Cancelled(), "run-2", cancel)  # type: ignore[arg-type]
    try:
        assert cancel.wait(10)
    finally:
        stop()
