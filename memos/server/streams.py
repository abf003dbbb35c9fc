"""Background streams (Letta's `background: true`): a streamed turn that goes on when its client
leaves, whose chunks are kept so a client can read them again or resume where it stopped
(POST /v1/runs/{id}/stream, POST /v1/conversations/{id}/stream).

Chunks are numbered from 1 (their `seq_id`; `starting_after` names one). The server that runs
the turn serves its own followers from memory, and writes the chunks to the store every
FLUSH_SECONDS, so a client sent to another replica (or to this one after a restart) resumes from
the store, live while the turn still runs. The store keeps the newest KEEP_RUNS streams, up to
KEEP_HOURS.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator

from memos.store.base import Store

KEEP_RUNS = 200
KEEP_HOURS = 3.0  # as Letta: older background runs have expired
DONE = "data: [DONE]\n\n"
PING_EVERY = 15.0  # seconds of silence before a keep-alive ping, when pings are asked for
FLUSH_SECONDS = 0.1  # how far the store may lag the stream's own server
POLL_SECONDS = 0.1  # how often a follower on another replica looks for new chunks
ENDED_GRACE_SECONDS = 2.0  # past a run's end, how long a follower waits for its last chunks


def _ping(run_id: str | None) -> str:
    return f"data: {json.dumps({'message_type': 'ping', 'run_id': run_id})}\n\n"


class RunStream:
    """The chunks of one background streamed turn, filled by its thread, read by any client
    of this server, and copied to the store for the others."""

    def __init__(self, store: Store | None = None) -> None:
        self.chunks: list[str] = []
        self.done = False
        self.started = time.monotonic()
        self.run_id: str | None = None
        self._changed = threading.Condition()
        self._store = store
        self._stored = 0  # chunks written to the store so far

    def keep(self) -> None:
        """Copy the chunks to the store as they come, once the run is named (on a thread of its own,
        so a slow store never slows the stream)."""
        if self._store is not None:
            self._flush()  # at least the first chunk: other replicas know the run is resumable
            threading.Thread(target=self._keep, name="memos-stream-keeper", daemon=True).start()

    def _keep(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self.done or len(self.chunks) > self._stored)
                finished = self.done
            self._flush()
            if finished:
                self._flush()
                return
            time.sleep(FLUSH_SECONDS)

    def _flush(self) -> None:
        assert self._store is not None and self.run_id is not None
        with self._changed:
            fresh = list(enumerate(self.chunks[self._stored:], start=self._stored + 1))
        if fresh or not self._stored:
            try:
                self._store.add_run_chunks(self.run_id, fresh or [(0, "")])  # (0, ""): resumable, no chunk yet
            except Exception:  # noqa: BLE001 - this server's followers still have every chunk
                return
            self._stored += len(fresh)

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
                yield _ping(self.run_id)


def follow_stored(store: Store, run_id: str, starting_after: int = 0, pings: bool = False) -> Iterator[str]:
    """A background stream another server runs (or ran), read from the store: the kept chunks
    after ``starting_after``, then new ones as that server writes them, until [DONE] or the
    run ends without one (its server died: the run is interrupted)."""
    sent = max(0, starting_after)
    quiet_since = time.monotonic()
    ended_seen: float | None = None  # when the run was first seen ended without [DONE]
    while True:
        chunks = store.run_chunks(run_id, sent)
        for seq, line in chunks:
            sent = seq
            if line == DONE:
                yield DONE
                return
            yield line
        if chunks:
            quiet_since = time.monotonic()
            continue
        if ended_seen is None and store.get_run(run_id).status != "running":
            ended_seen = time.monotonic()
        # The run's row ends a moment before its last chunks (stop reason, usage) are kept: wait
        # for them, a little; a server that died meanwhile never writes [DONE].
        if ended_seen is not None and time.monotonic() - ended_seen >= ENDED_GRACE_SECONDS:
            yield DONE
            return
        if pings and time.monotonic() - quiet_since >= PING_EVERY:
            quiet_since = time.monotonic()
            yield _ping(run_id)
        time.sleep(POLL_SECONDS)


class RunStreams:
    """The background streams: this server's by run id (newest last), and every replica's in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
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
        self.store.prune_run_chunks(KEEP_RUNS, KEEP_HOURS)
        stream.keep()

    def follow(self, run_id: str, starting_after: int = 0, pings: bool = False) -> Iterator[str] | None:
        """The run's stream from ``starting_after``: from memory when this server runs it, else from
        the store; None when the run was not streamed in the background (or has expired)."""
        with self._lock:
            local = self._by_run.get(run_id)
        if local is not None:
            return local.follow(starting_after, pings)
        if not self.store.streamed_runs([run_id]):
            return None
        return follow_stored(self.store, run_id, starting_after, pings)

    def background(self, run_ids: list[str]) -> set[str]:
        """Which of these runs were streamed in the background, on any replica."""
        with self._lock:
            local = {run_id for run_id in run_ids if run_id in self._by_run}
        return local | self.store.streamed_runs([r for r in run_ids if r not in local])
