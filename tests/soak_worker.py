"""A long-lived soak pipeline: runs turns in-process, one per line of output. See tests/soak.py.

Prints ``ack NAME OVERHEAD_MS PEAK_RSS_MIB`` for each answered turn; overhead is the turn's
time holding the agent (from taking its turn lock to the end) less the LLM's own latency.
"""

from __future__ import annotations

import resource
import sys
import time


def main() -> None:
    label, first = sys.argv[1], int(sys.argv[2])
    from memos.core.agent import AgentRunner
    from memos.core.workspace import Workspace

    ws = Workspace()
    runner = AgentRunner(ws, ws.resolve_agent())
    serial = first
    while True:
        name = f"{label}-{serial}"
        serial += 1
        try:
            events = list(runner.send(f"turn {name}"))
        except Exception as exc:  # noqa: BLE001 -- reported, and the pipeline goes on
            print(f"fail {name} {type(exc).__name__}: {exc}".replace("\n", " "), flush=True)
            continue
        ended = time.monotonic()
        stop = events[-1]
        if stop.type == "stop_reason" and stop.reason == "end_turn":
            llm_ms = sum(e.latency_ms for e in events if e.type == "usage")
            overhead = (ended - runner.turn_started) * 1000 - llm_ms
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"ack {name} {overhead:.2f} {rss:.1f}", flush=True)
        else:
            print(f"fail {name} {getattr(stop, 'reason', stop.type)}", flush=True)


if __name__ == "__main__":
    main()
