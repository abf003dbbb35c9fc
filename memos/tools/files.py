"""Letta's file tools, offered to an agent while it has folders attached: open a window of a
file into the prompt, grep the files, search them by meaning."""

from __future__ import annotations

import re
from typing import Any

from memos.core.folders import MAX_FILES_OPEN, close_over_limit, file_label, window
from memos.errors import InvalidInput
from memos.store.base import AgentFile
from memos.tools.builtins import ToolContext
from memos.tools.registry import ToolSpec

GREP_PAGE = 20  # matches per grep_files call, as Letta


def _files(ctx: ToolContext) -> list[AgentFile]:
    files = ctx.store.agent_files(ctx.agent.id)
    if not files:
        raise InvalidInput("no files: no folder with files is attached to you")
    return files


def _find(files: list[AgentFile], name: str) -> AgentFile:
    exact = [f for f in files if file_label(f) == name or f.file.file_name == name]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        raise InvalidInput(f"'{name}' is in several folders: give it as folder/file "
                           f"({', '.join(file_label(f) for f in exact)})")
    raise InvalidInput(f"no file '{name}'; the files are: {', '.join(file_label(f) for f in files)}")


def open_files(ctx: ToolContext, file_requests: list[dict[str, Any]], close_all_others: bool = False) -> str:
    files = _files(ctx)
    if not file_requests:
        raise InvalidInput("give at least one file to open")
    if len(file_requests) > MAX_FILES_OPEN:
        raise InvalidInput(f"at most {MAX_FILES_OPEN} files can be open at once")
    wanted = []
    for request in file_requests:
        if not isinstance(request, dict) or not isinstance(request.get("file_name"), str):
            raise InvalidInput("each file request needs a file_name")
        offset, length = request.get("offset"), request.get("length")
        for label, value in (("offset", offset), ("length", length)):
            if value is not None and (not isinstance(value, int) or value < (0 if label == "offset" else 1)):
                raise InvalidInput(f"{label} must be a whole number (offset from 0, length from 1)")
        wanted.append((_find(files, request["file_name"]), offset, length))
    if close_all_others:
        ctx.store.close_files(ctx.agent.id)
    for item, offset, length in wanted:
        start = (offset or 0) + 1
        end = start + length - 1 if length else None
        ctx.store.open_file(ctx.agent.id, item.file.id, start, end)
    closed = close_over_limit(ctx.store, ctx.agent)
    notes = ["closed to stay within the limit: " + ", ".join(closed)] if closed else []
    now = {f.file.id: f for f in ctx.store.agent_files(ctx.agent.id)}
    opened = []
    for item, _, _ in wanted:
        _, first, last = window(now[item.file.id])
        opened.append(f"{file_label(item)} (lines {first}-{last})")
    return "Opened " + ", ".join(opened) + (". " + "; ".join(notes) if notes else "") + \
        ". Their text is in the <directories> section of your prompt."


def grep_files(ctx: ToolContext, pattern: str, include: str | None = None, context_lines: int | None = 1,
               offset: int | None = None) -> str:
    try:
        matcher = re.compile(pattern, re.IGNORECASE)
        only = re.compile(include, re.IGNORECASE) if include else None
    except re.error as exc:
        raise InvalidInput(f"not a valid regex: {exc}") from None
    around = max(0, min(context_lines if context_lines is not None else 1, 10))
    matches: list[tuple[str, int, list[str]]] = []
    per_file: dict[str, int] = {}
    for item in _files(ctx):
        label = file_label(item)
        if only is not None and not only.search(label):
            continue
        lines = item.file.content.splitlines()
        for index, line in enumerate(lines):
            if matcher.search(line):
                per_file[label] = per_file.get(label, 0) + 1
                shown = [f"{'>' if n == index else ' '} {n + 1}: {lines[n]}"
                         for n in range(max(0, index - around), min(len(lines), index + around + 1))]
                matches.append((label, index + 1, shown))
    if not matches:
        return f"No matches for '{pattern}'."
    start = max(0, offset or 0)
    page = matches[start:start + GREP_PAGE]
    out = [f"Found {len(matches)} matches in {len(per_file)} files: "
           + ", ".join(f"{name} ({count})" for name, count in per_file.items())]
    for name, number, shown in page:
        out.append(f"=== {name}:{number} ===")
        out += shown
    if start + GREP_PAGE < len(matches):
        out.append(f"Showing matches {start + 1}-{start + len(page)}; for more call grep_files with offset={start + GREP_PAGE}.")
    return "\n".join(out)


def semantic_search_files(ctx: ToolContext, query: str, limit: int = 5) -> str:
    import numpy as np

    from memos.store.embeddings import get_embedder

    if not query.strip():
        raise InvalidInput("give a query")
    files = {f.file.id: f for f in _files(ctx)}
    folders = list(dict.fromkeys(f.folder.id for f in files.values()))
    chunks = ctx.store.folder_chunks(folders)
    if not chunks:
        return "No file content to search."
    # Each folder's files are embedded with its own model (and width): the query is embedded with
    # each model its chunks use, once, and every chunk scored against its own model's query.
    models = [files[file_id].folder.embedding_model for file_id, _ in chunks]
    queries = {model: get_embedder(model).embed([query])[0] for model in dict.fromkeys(models)}
    scores = np.asarray([float(np.dot(chunk.embedding, queries[model])) for (_, chunk), model in zip(chunks, models)])
    best = np.argsort(-scores)[:max(1, min(limit, 50))]
    out = []
    for index in best:
        file_id, chunk = chunks[int(index)]
        out.append(f"=== {file_label(files[file_id])} (from line {chunk.start_line}, score {scores[index]:.2f}) ===\n"
                   f"{chunk.text}")
    return "\n".join(out)


OPEN_PARAMETERS = {"type": "object", "properties": {
    "file_requests": {"type": "array", "description": "The files to open, each with an optional window of lines.",
                      "items": {"type": "object", "properties": {
                          "file_name": {"type": "string", "description": "The file, as folder/file."},
                          "offset": {"type": "integer", "description": "Lines to skip from the start (0 = line 1)."},
                          "length": {"type": "integer", "description": "How many lines to show (default: all)."}},
                          "required": ["file_name"]}},
    "close_all_others": {"type": "boolean", "description": "Close every other open file first."}},
    "required": ["file_requests"]}
GREP_PARAMETERS = {"type": "object", "properties": {
    "pattern": {"type": "string", "description": "A keyword or regex to find in the files' lines (case-insensitive)."},
    "include": {"type": "string", "description": "Only files whose folder/file name matches this regex."},
    "context_lines": {"type": "integer", "description": "Lines of context around each match (default 1)."},
    "offset": {"type": "integer", "description": "Matches to skip (20 are shown per call)."}},
    "required": ["pattern"]}
SEARCH_PARAMETERS = {"type": "object", "properties": {
    "query": {"type": "string", "description": "What to look for, in words."},
    "limit": {"type": "integer", "description": "How many passages to return (default 5)."}},
    "required": ["query"]}

FILE_TOOLS: dict[str, ToolSpec] = {spec.name: spec for spec in (
    ToolSpec("open_files", "Open one or more files of your folders into the <directories> section of your prompt "
             f"(at most {MAX_FILES_OPEN} open at once), whole or a window of lines.", OPEN_PARAMETERS, open_files),
    ToolSpec("grep_files", "Search the lines of your folders' files for a keyword or regex, with context; "
             "20 matches per call.", GREP_PARAMETERS, grep_files),
    ToolSpec("semantic_search_files", "Search your folders' files by meaning; returns the closest passages.",
             SEARCH_PARAMETERS, semantic_search_files),
)}
