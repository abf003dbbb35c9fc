"""`memos tui` in a real terminal (tmux): it starts, draws at 80x24, and quits cleanly."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import MEMOS_BIN

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.tui,  # run on their own after the rest (scripts/dev): load slows the screens they wait on
]


def test_tui_starts_draws_and_quits_in_tmux(memos, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert memos("agents", "create", "ada").code == 0
    socket = f"memos-test-{os.getpid()}"
    tmux = ["tmux", "-L", socket]
    env = {**os.environ, "TERM": "xterm-256color"}
    env.pop("TMUX", None)
    command = f"{MEMOS_BIN} tui; echo EXIT=$?; sleep 60"
    subprocess.run([*tmux, "new-session", "-d", "-s", "memos", "-x", "80", "-y", "24", command], env=env, check=True)

    def screen() -> str:
        return subprocess.run([*tmux, "capture-pane", "-p", "-t", "memos"], capture_output=True, text=True).stdout

    try:
        deadline = time.monotonic() + 30
        while "Conversation" not in screen() or "Quit" not in screen():
            assert time.monotonic() < deadline, f"the TUI did not draw:\n{screen()}"
            time.sleep(0.2)
        drawn = screen()
        assert "agent ada" in drawn and "Evolution" in drawn and "Quit" in drawn
        subprocess.run([*tmux, "send-keys", "-t", "memos", "C-q"], check=True)
        while "EXIT=" not in screen():
            assert time.monotonic() < deadline + 15, f"the TUI did not quit:\n{screen()}"
            time.sleep(0.2)
        assert "EXIT=0" in screen()
        assert "Traceback" not in screen()
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
