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


# -- the one input check every route and command shares --------------------------------------
MAX_NESTING = 64  # JSON levels in one request or value (Letta's deepest real shapes use ~10)


def text_problem(text: str) -> str | None:
    """What makes ``text`` unstorable, or None: a NUL byte (PostgreSQL refuses it, and so would
    `db migrate-to` later) or a lone surrogate (not Unicode: it cannot be written as UTF-8)."""
    if "\x00" in text:
        return "contains a NUL byte"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text (it holds a lone surrogate)"
    return None


def value_problem(value: object, where: str) -> str | None:
    """The first thing in a JSON-like value that memos refuses (NUL, lone surrogates, nesting
    deeper than MAX_NESTING), as a phrase naming where it is; None when all is well."""
    todo: list[tuple[object, str, int]] = [(value, where, 0)]
    while todo:
        node, path, depth = todo.pop()
        if depth > MAX_NESTING:
            return f"{where} is nested deeper than {MAX_NESTING} levels"
        if isinstance(node, str):
            problem = text_problem(node)
            if problem:
                return f"{path} {problem}"
        elif isinstance(node, dict):
            for key, item in node.items():
                problem = text_problem(str(key))
                if problem:
                    return f"a key in {path} {problem}"
                todo.append((item, f"{path}.{str(key)[:40]}", depth + 1))
        elif isinstance(node, list):
            todo.extend((item, f"{path}[{index}]", depth + 1) for index, item in enumerate(node))
    return None


def check_value(value: object, where: str) -> None:
    """One InvalidInput line for the first problem :func:`value_problem` finds."""
    problem = value_problem(value, where)
    if problem:
        raise InvalidInput(problem, f"send UTF-8 text without NUL bytes, nested at most {MAX_NESTING} levels")


def storable(text: str) -> str:
    """Text from a tool or a model as memos keeps it: a NUL byte or a lone surrogate (which no
    database or UTF-8 file takes) becomes U+FFFD, so one odd character never fails a turn."""
    if text_problem(text) is None:
        return text
    cleaned = text.replace("\x00", "\ufffd")
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in cleaned)
