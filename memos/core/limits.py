"""Sizes memos takes, checked where input enters (CLI, API, tools), with one clear error each.

Above these, text is refused before anything is stored, so no single input can make a
later prompt, search or export fail. Long documents belong in archival memory, where
`memos archival add --file` splits them into passages.
"""

from __future__ import annotations

from memos.errors import InvalidInput

DEFAULT_MAX_STEPS = 50  # LLM calls per turn, as Letta's default
MAX_MESSAGE_CHARS = 1_000_000  # a message a turn takes (the prompt shows long ones cut, with a pointer)
MAX_PASSAGE_CHARS = 20_000  # one archival passage; longer text is split into several on import
MAX_NAME_CHARS = 200  # names, labels, tags
MAX_DESCRIPTION_CHARS = 20_000  # agent and block descriptions
MAX_SYSTEM_CHARS = 200_000  # an agent's system prompt
MAX_REQUEST_BYTES = 32 * 1024 * 1024  # one HTTP request body to `memos serve`
TOOL_RETURN_LIMIT = 50_000  # the longest tool result the agent reads (Letta's default return_char_limit)


def check_text(value: str, what: str, limit: int, hint: str | None = None) -> str:
    """``value`` if it has no NUL byte and at most ``limit`` chars; else one InvalidInput line."""
    if "\x00" in value:
        raise InvalidInput(f"the {what} contains a NUL byte", "give plain text")
    if len(value) > limit:
        raise InvalidInput(f"the {what} is {len(value):,} chars; at most {limit:,} are taken",
                           hint or f"shorten the {what}")
    return value


def check_message_size(text: str) -> str:
    """A message a turn takes (or a person adds to the log): no NUL byte, at most MAX_MESSAGE_CHARS.
    The prompt shows long ones cut to a share of the window, with a pointer to the whole text."""
    return check_text(text, "message", MAX_MESSAGE_CHARS,
                      "put long text in archival memory (`memos archival add --file FILE`) and ask about it")
