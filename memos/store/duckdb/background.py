"""Index upkeep off the request path, for a long-lived process (`memos serve`).

After a write, an agent's sidecar indexes (text, vector) are normally caught up before the write
returns: a one-shot command has no later moment. A server has: this thread catches them up just
after, batching the writes that arrived meanwhile into one commit, so an insert returns without
paying for an index commit (or, every 2,048 passages, a vector index batch of a second or
more). Nothing is lost or wrong meanwhile: a search finds an index behind its table and scores
the tail exactly or catches the index up first (passage_search.py), and a process that dies
before the thread ran leaves exactly that state."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)
BATCH_SECONDS = 0.05  # writes arriving this close together share one catch-up


class BackgroundUpkeep:
    def __init__(self, catch_up: Callable[[str], None]) -> None:
        self._catch_up = catch_up
        self._pending: set[str] = set()
        self._busy = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def request(self, agent_id: str) -> None:
        with self._changed:
            self._pending.add(agent_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="memos-index-upkeep", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Until every requested catch-up has run (tests, and a clean shutdown)."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._pending and not self._busy, timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._pending))
                self._changed.wait(BATCH_SECONDS)  # let the writes of this moment gather
                agents, self._pending = self._pending, set()
                self._busy = True
            for agent_id in sorted(agents):
                try:
                    self._catch_up(agent_id)
                except Exception as exc:  # the rows are committed; the next search catches up
                    log.warning("indexes of %s not updated in the background (%s)", agent_id, exc)
            with self._changed:
                self._busy = False
                self._changed.notify_all()
