"""memos: a terminal-first, stateful agent workstation."""

__version__ = "0.1.0"
