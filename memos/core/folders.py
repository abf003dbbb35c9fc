"""Folders of files as agent memory (Letta's folders): reading an upload, cutting it into
embedded chunks, and the prompt's <directories> section with the files an agent has open."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath
from typing import Literal

from memos.core.limits import text_problem
from memos.errors import AlreadyExists, InvalidInput
from memos.store.base import Agent, AgentFile, FileChunk, Folder, FolderFile, Store

MAX_FILE_BYTES = 10 * 1024 * 1024  # one file's text; bigger ones are refused, not cut
CHUNK_CHARS = 1_000  # a chunk of lines for semantic search
MAX_FILES_OPEN = 5  # as Letta: opening a sixth closes the one opened longest ago
FILE_VIEW_CHARS = 10_000  # the most of one open file the prompt shows
Duplicates = Literal["error", "suffix", "replace", "skip"]


def decode_text(data: bytes, name: str) -> str:
    """The file's text; a binary or non-UTF-8 file is refused with what to do instead."""
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(f"{name} is {len(data):,} bytes; memos reads files up to {MAX_FILE_BYTES:,}",
                           "split it into smaller files")
    problem = text_problem(name)
    if problem:
        raise InvalidInput(f"the file name {name[:60]!r} {problem}", "rename the file")
    if b"\x00" in data:  # binary, or text no store keeps whole (PostgreSQL refuses NUL)
        raise InvalidInput(f"{name} looks binary; memos reads text files (UTF-8)",
                           "convert it to text first (e.g. pdftotext, pandoc)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{name} is not UTF-8 text (byte {exc.start})", "convert it to UTF-8 first") from None


def chunk_lines(text: str, size: int = CHUNK_CHARS) -> list[tuple[int, str]]:
    """(first line, text) pieces of whole lines, each about ``size`` characters (a longer line
    is a piece of its own, cut)."""
    pieces: list[tuple[int, str]] = []
    start, length = 1, 0
    current: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if current and length + len(line) > size:
            pieces.append((start, "\n".join(current)))
            current, length = [], 0
        if not current:
            start = number
        current.append(line[:size * 4])
        length += len(line) + 1
    if current and "".join(current).strip():
        pieces.append((start, "\n".join(current)))
    return [(line, piece) for line, piece in pieces if piece.strip()]


def embedded_chunks(text: str, model: str) -> list[FileChunk]:
    """The file's text in chunks of lines, each with its embedding (for semantic_search_files)."""
    from memos.store.embeddings import get_embedder

    pieces = chunk_lines(text)
    if not pieces:
        return []
    vectors = get_embedder(model).embed([piece for _, piece in pieces])
    return [FileChunk(line, piece, vector) for (line, piece), vector in zip(pieces, vectors)]


def free_name(taken: set[str], name: str) -> str:
    """``name`` with _1, _2 ... before its suffix until it is free in the folder (Letta's "suffix")."""
    if name not in taken:
        return name
    path = PurePath(name)
    for n in range(1, 10_000):
        candidate = f"{path.stem}_{n}{path.suffix}"
        if candidate not in taken:
            return candidate
    raise AlreadyExists(f"too many files named like '{name}'", "give the file another name")


def upload(store: Store, folder: Folder, name: str, data: bytes, *, file_type: str | None = None,
           duplicates: Duplicates = "suffix") -> tuple[FolderFile, bool]:
    """Read, chunk, embed and store one file in ``folder``; (the file, whether it was added): with
    ``duplicates`` "skip" and the name taken, the file already there. Nothing is stored if any
    step fails."""
    clean = PurePath(name.replace("\\", "/")).name
    if not clean or clean in (".", ".."):
        raise InvalidInput(f"'{name}' is not a file name")
    text = decode_text(data, clean)
    present = {f.file_name: f for f in store.list_files(folder.id)}
    file_name = clean
    if clean in present:
        if duplicates == "skip":
            return present[clean], False
        if duplicates == "error":
            raise AlreadyExists(f"folder '{folder.name}' already has a file named '{clean}'",
                                "upload with duplicate_handling suffix or replace")
        if duplicates == "suffix":
            file_name = free_name(set(present), clean)
    chunks = embedded_chunks(text, folder.embedding_model)
    return store.add_file(folder.id, file_name=file_name, original_file_name=clean, file_type=file_type,
                          content=text, chunks=chunks, replace=duplicates == "replace"), True


def file_label(item: AgentFile) -> str:
    """How the agent names a file: folder/file, as in Letta."""
    return f"{item.folder.name}/{item.file.file_name}"


def window(item: AgentFile) -> tuple[str, int, int]:
    """The open part of a file with line numbers, at most FILE_VIEW_CHARS; (text, first, last line)."""
    lines = item.file.content.splitlines()
    first = max(1, item.start_line or 1)
    last = min(len(lines), item.end_line or len(lines))
    out: list[str] = []
    size = 0
    for number in range(first, last + 1):
        line = f"{number}: {lines[number - 1]}"
        if size + len(line) > FILE_VIEW_CHARS and out:
            last = number - 1
            out.append(f"[the window ends at line {last} of {len(lines)}: open the file with an offset for more]")
            break
        out.append(line)
        size += len(line) + 1
    return "\n".join(out), first, last


def render_directories(files: Sequence[AgentFile], folders: Sequence[Folder]) -> str:
    """The prompt's <directories> section, as Letta writes it: each attached folder with its
    files, open ones with their window."""
    if not folders:
        return ""
    parts = ["<directories>", "<file_limits>", f"- current_files_open={sum(f.is_open for f in files)}",
             f"- max_files_open={MAX_FILES_OPEN}", "</file_limits>"]
    for folder in folders:
        parts.append(f'<directory name="{folder.name}">')
        if folder.description:
            parts.append(f"<description>{folder.description}</description>")
        if folder.instructions:
            parts.append(f"<instructions>{folder.instructions}</instructions>")
        for item in (f for f in files if f.folder.id == folder.id):
            status = "open" if item.is_open else "closed"
            parts.append(f'<file status="{status}" name="{file_label(item)}">')
            parts.append(f"<metadata>\n- chars_current={len(item.file.content)}\n- lines={len(item.file.content.splitlines())}"
                         "\n</metadata>")
            if item.is_open:
                text, _, _ = window(item)
                parts += ["<value>", text, "</value>"]
            parts.append("</file>")
        parts.append("</directory>")
    parts.append("</directories>")
    return "\n".join(parts)


def close_over_limit(store: Store, agent: Agent) -> list[str]:
    """Close the files opened longest ago while more than MAX_FILES_OPEN are open; their names."""
    open_now = sorted((f for f in store.agent_files(agent.id) if f.is_open),
                      key=lambda f: f.opened_at or f.file.created_at)
    excess = open_now[:max(0, len(open_now) - MAX_FILES_OPEN)]
    if excess:
        store.close_files(agent.id, [f.file.id for f in excess])
    return [file_label(f) for f in excess]


def directories_for(store: Store, agent: Agent) -> str:
    folders = store.agent_folders(agent.id)
    return render_directories(store.agent_files(agent.id), folders) if folders else ""
