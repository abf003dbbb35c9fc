"""A turn's stream of server-sent events, read on one thread of its own.

Starlette reads a plain iterator body one item per worker-thread call (a thread-pool round trip
for each event of a turn); here one thread runs the iterator and hands each line to the event
loop as it comes. When the client goes, the thread closes the iterator after the line in hand,
which cancels the turn as closing it always did (server/turns.py), and what it produced is kept."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import cast

_END = object()


async def on_own_thread(lines: Iterator[str]) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    gone = threading.Event()

    def pump() -> None:
        try:
            for line in lines:
                loop.call_soon_threadsafe(queue.put_nowait, line)
                if gone.is_set():
                    break
        except BaseException as exc:  # noqa: BLE001 -- raised again on the loop's side
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            close = getattr(lines, "close", None)
            if close is not None:
                close()  # a client that left: the turn is cancelled and keeps what it made
            try:
                loop.call_soon_threadsafe(queue.put_nowait, _END)
            except RuntimeError:
                pass  # the loop has closed (the server is stopping)

    threading.Thread(target=pump, name="memos-sse", daemon=True).start()
    try:
        while (item := await queue.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield cast(str, item)
    finally:
        gone.set()
