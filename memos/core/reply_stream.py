"""A turn's events as a terminal shows them: the agent's send_message reply streams too.

Letta-style agents answer through the send_message tool most of the time. The model writes
that reply as the tool call's arguments, which the loop streams as ToolCallDelta events; this
decodes the message text from them as it arrives and adds it as AssistantDelta events, so
`memos chat`, `memos send` on a terminal and the TUI show it word by word, as plain-text
replies already are. (The API does the same for Letta's clients with ``stream_tokens``.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from memos.core.completion import partial_string_field
from memos.core.events import AssistantDelta, ToolCallDelta
from memos.tools.reply import REPLY_TOOL


def with_reply_text(events: Iterable[Any]) -> Iterator[Any]:
    """``events`` unchanged, plus AssistantDelta pieces of each send_message reply's text."""
    arguments: dict[str, str] = {}  # a streamed call's arguments so far
    shown: dict[str, str] = {}  # the reply text already passed on, per call
    for event in events:
        if isinstance(event, ToolCallDelta) and event.name == REPLY_TOOL:
            key = event.tool_call_id or f"index-{event.index}"
            arguments[key] = arguments.get(key, "") + event.arguments
            text = partial_string_field(arguments[key], "message")
            before = shown.get(key, "")
            if text.startswith(before) and len(text) > len(before):
                shown[key] = text
                yield AssistantDelta(text[len(before):])
        yield event
