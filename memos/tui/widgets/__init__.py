"""One widget per module; they talk through the app-level messages in memos/tui/events.py."""
