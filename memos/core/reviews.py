"""Sleep-time reviews started by a front end that does not stay up (`memos send`, `memos chat`,
the TUI): a detached process per review, so they return at once while the sleep-time agent
works (core/sleeptime.py). `memos serve` runs reviews on a thread of its own instead.

    python -m memos.core.reviews AGENT_ID  < review message

Its output goes to logs/sleeptime.log; its run is stored like any turn (`memos runs list`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from memos.core.agent import AgentRunner


def start_reviews(runner: AgentRunner) -> None:
    """Count the turn that just ended; start the sleep-time agent's review if one is due."""
    from memos.core.sleeptime import due_reviews

    if runner.conversation_id is not None:  # only the agent's own conversation is reviewed
        return
    for helper, text in due_reviews(runner.ws.store, runner.agent):
        log = runner.ws.home.logs_dir / "sleeptime.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as sink:
            child = subprocess.Popen([sys.executable, "-m", "memos.core.reviews", helper.id],
                                     stdin=subprocess.PIPE, stdout=sink, stderr=sink, start_new_session=True,
                                     env=os.environ.copy())
        assert child.stdin is not None
        child.stdin.write(text.encode())
        child.stdin.close()


def main(argv: list[str]) -> int:
    from datetime import datetime

    from memos.core.agent import runner_with_tools
    from memos.core.workspace import Workspace
    from memos.errors import MemosError

    text = sys.stdin.read()
    ws = Workspace()
    try:
        helper = ws.store.get_agent(argv[0])
        stop = None
        with runner_with_tools(ws, helper) as runner:  # its own tools, as when memos serve runs it
            for event in runner.send(text):
                if event.type == "stop_reason":
                    stop = event
        print(f"{datetime.now():%Y-%m-%d %H:%M:%S} {helper.name}: review done "
              f"({stop.reason if stop else 'no stop'}, run {stop.run_id if stop else '-'})", flush=True)
        return 0
    except MemosError as exc:
        print(f"{datetime.now():%Y-%m-%d %H:%M:%S} review by {argv[0]} failed: {exc}", flush=True)
        return 1
    finally:
        ws.close()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
