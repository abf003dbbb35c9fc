"""Hot reload: watch an agent's tool repo and reload its tools when files change.

A background thread runs watchfiles; each batch of changes reloads the tools
(in the sandbox) and attaches tools that newly appeared, so a running chat,
server or TUI picks up added, changed and removed tools at its next step.
Warnings (a broken edit keeps the last good version) go to ``on_message``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from memos.tools.custom import AgentTools


def _relevant(change: tuple[object, str], root: Path) -> bool:
    path = Path(change[1])
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return False
    return bool(parts) and parts[0] != ".git" and "__pycache__" not in parts and path.suffix == ".py"


class ToolWatcher:
    def __init__(self, tools: AgentTools, on_message: Callable[[str], None]) -> None:
        self.tools = tools
        self.on_message = on_message
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="memos-tool-watch", daemon=True)
        self.reloads = 0  # how many reloads ran (tests wait on it)

    def start(self) -> ToolWatcher:
        from watchfiles._rust_notify import RustNotify

        # Set up inotify here, not in the thread: a file saved right after start() must not be missed.
        self._root = self.tools.repo.path.resolve()
        self._notify = RustNotify([str(self._root)], False, False, 300, True, False)
        self._thread.start()
        return self

    def _watch(self) -> None:
        try:
            while True:
                raw = self._notify.watch(200, 50, 0, self._stop)  # debounce, step (ms), no timeout
                if raw == "stop" or self._stop.is_set():
                    return
                if isinstance(raw, set) and any(_relevant(change, self._root) for change in raw):
                    self._reload()
        except Exception as exc:  # noqa: BLE001 - a watcher failure must not take the session down
            self.on_message(f"tool reload stopped: {exc}")
        finally:
            self._notify.close()

    def _reload(self) -> None:
        previous = dict(self.tools.tools)
        before = set(previous)
        try:
            warnings = self.tools.load()
        except Exception as exc:  # noqa: BLE001 - keep the last good tools
            warnings = [f"reloading tools failed, keeping the previous ones: {exc}"]
        after = set(self.tools.tools)
        for name in sorted(after - before):
            self.tools.attach(name)
            self.on_message(f"tool {name} added")
        for name in sorted(before - after):
            self.on_message(f"tool {name} removed")
        for name in sorted(before & after):
            old, new = previous[name], self.tools.tools[name]
            if old is not new and (old.files.get(old.file) != new.files.get(new.file) or old.schema() != new.schema()):
                self.on_message(f"tool {name} updated")
        for warning in warnings:
            self.on_message(warning)
        self.reloads += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
