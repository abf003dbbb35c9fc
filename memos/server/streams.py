"""Background streams (Letta's `background: true`): a streamed turn that goes on when its client
leaves, whose chunks are kept so a client can read them again or resume where it stopped
(POST /v1/runs/{id}/stream, POST /v1/conversations/{id}/stream).

Chunks are numbered from 1 (their `seq_id`; `starting_after` names one). They are kept in the
server's memory while the server runs, for the newest KEEP_RUNS background runs and up to
KEEP_HOURS: a run started by another process, or before a restart, cannot be resumed.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator

KEEP_RUNS = 200
KEEP_HOURS = 3.0  # as Letta: older background runs have expired
DONE = "data: [DONE]\n\n"
PING_EVERY = 15.0  # seconds of silence before a keep-alive ping, when pings are asked for


class RunStream:
    """The chunks of one background streamed turn, filled by its thread, read by any client."""

    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.done = False
        self.started = time.monotonic()
        self.run_id: str | None = None
        self._changed = threading.Condition()

    def fill(self, lines: Iterator[str]) -> None:
        """Take every SSE line of the turn, numbering each message; run on the turn's own thread."""
        try:
            for line in lines:
                if line != DONE and line.startswith("data: "):
                    payload = json.loads(line[len("data: "):])
                    payload["seq_id"] = len(self.chunks) + 1
                    line = f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"
                with self._changed:
                    self.chunks.append(line)
                    self._changed.notify_all()
        finally:
            with self._changed:
                self.done = True
                self._changed.notify_all()

    def follow(self, starting_after: int = 0, pings: bool = False) -> Iterator[str]:
        """The chunks after ``starting_after``, then the new ones as they come, then [DONE]."""
        sent = max(0, starting_after)
        while True:
            with self._changed:
                if sent >= len(self.chunks) and not self.done:
                    self._changed.wait(PING_EVERY)
                fresh, finished = self.chunks[sent:], self.done
            for line in fresh:
                if line != DONE:
                    yield line
            sent += len(fresh)
            if finished and sent >= len(self.chunks):
                yield DONE
                return
            if not fresh and pings:
                yield f"data: {json.dumps({'message_type': 'ping', 'run_id': self.run_id})}\n\n"


class RunStreams:
    """The background streams of this server, by run id, newest last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_run: OrderedDict[str, RunStream] = OrderedDict()

    def name(self, stream: RunStream, run_id: str) -> None:
        with self._lock:
            stream.run_id = run_id
            self._by_run[run_id] = stream
            cutoff = time.monotonic() - KEEP_HOURS * 3600
            while self._by_run and (len(self._by_run) > KEEP_RUNS
                                    or next(iter(self._by_run.values())).started < cutoff):
                self._by_run.popitem(last=False)

    def get(self, run_id: str) -> RunStream | None:
        with self._lock:
            return self._by_run.get(run_id)

    def is_background(self, run_id: str) -> bool:
        return self.get(run_id) is not None
