"""Turning raw input (an argument, a file, stdin) into passages: lines, JSONL or one text."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from memos.errors import InvalidInput

Format = Literal["auto", "lines", "jsonl", "text"]
FORMATS: tuple[Format, ...] = ("auto", "lines", "jsonl", "text")


def format_named(name: str) -> Format:
    """The input format called ``name`` (as a front end's option gives it)."""
    for known in FORMATS:
        if known == name:
            return known
    raise InvalidInput(f"unknown format '{name}'", f"use one of: {', '.join(FORMATS)}")


@dataclass(frozen=True)
class Record:
    text: str
    tags: list[str] = field(default_factory=list)
    line: int = 0
    created_at: datetime | None = None  # when it was written, if not now (an API client may say)


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str


@dataclass(frozen=True)
class Parsed:
    records: list[Record]
    bad: list[BadLine]


PASSAGE_CHARS = 4_000  # longer text becomes several passages (the embedding model reads ~1,000 chars)


def split_passage(text: str, size: int = PASSAGE_CHARS) -> list[str]:
    """``text`` in pieces of at most ``size`` chars, cut at a paragraph, line, sentence or word
    break where one falls in the second half of a piece. Nothing is lost: the pieces, joined
    with the whitespace between them, are the text. Linear in the text's length (a 50 MB
    paste must not be copied once per piece)."""
    pieces: list[str] = []
    start, end = 0, len(text)
    while start < end:
        while start < end and text[start].isspace():
            start += 1
        if end - start <= size:
            if start < end:
                pieces.append(text[start:end].rstrip())
            break
        limit = start + size
        cut = next((at + len(mark) for mark in ("\n\n", "\n", ". ", " ")
                    if (at := text.rfind(mark, start + size // 2, limit)) >= 0 and at + len(mark) <= limit), limit)
        piece = text[start:cut].strip()
        if piece:
            pieces.append(piece)
        start = cut
    return pieces


def split_records(records: list[Record]) -> list[Record]:
    """Records whose text is longer than a passage, each split into several with its tags."""
    out: list[Record] = []
    for record in records:
        if len(record.text) <= PASSAGE_CHARS:
            out.append(record)
        else:
            out.extend(Record(piece, record.tags, record.line, record.created_at)
                       for piece in split_passage(record.text))
    return out


def decode(data: bytes, source: str = "the input") -> str:
    """UTF-8 text, or one clear error naming the line where it breaks."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInput(f"{source} is not valid UTF-8 (line {line}, byte {exc.start})",
                           "convert it to UTF-8, e.g. with iconv") from None
    if "\x00" in text:  # the shared input rule (memos.core.limits): no store keeps NUL everywhere
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise InvalidInput(f"{source} contains a NUL byte (line {line}): it is not text",
                           "give plain UTF-8 text")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def _jsonl_record(raw: str, line: int) -> Record:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if isinstance(value, str):
        value = {"text": value}
    if not isinstance(value, dict):
        raise ValueError("expected an object like {\"text\": \"...\", \"tags\": [...]}")
    text = value.get("text", value.get("content"))
    if not isinstance(text, str) or not text.strip():
        raise ValueError("missing a non-empty \"text\" field")
    tags = value.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        raise ValueError("\"tags\" must be a list of non-empty strings")
    return Record(text.strip(), [t.strip() for t in tags], line)


def detect_format(text: str, filename: str | None) -> Format:
    if filename and filename.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return "jsonl" if first.startswith("{") else "lines"


def parse(text: str, fmt: Format = "auto", *, tags: list[str] | None = None,
          skip_bad: bool = False, filename: str | None = None) -> Parsed:
    """Split input into records. Bad JSONL lines fail the whole input unless ``skip_bad``."""
    extra = [t for t in (tags or [])]
    if not text.strip():
        raise InvalidInput("the input is empty", "give some text, a file, or pipe text on stdin")
    if fmt == "auto":
        fmt = detect_format(text, filename)
    if fmt == "text":
        return Parsed([Record(text.strip(), extra, 1)], [])
    records: list[Record] = []
    bad: list[BadLine] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        if fmt == "lines":
            records.append(Record(raw.strip(), extra, number))
            continue
        try:
            record = _jsonl_record(raw, number)
        except ValueError as exc:
            bad.append(BadLine(number, str(exc)))
            continue
        records.append(Record(record.text, sorted(set(record.tags + extra)), number))
    if bad and not skip_bad:
        first = bad[0]
        more = f" (and {len(bad) - 1} more bad lines)" if len(bad) > 1 else ""
        raise InvalidInput(f"line {first.line} of the input is not a valid JSONL record: {first.reason}{more}; "
                           "nothing was inserted", "fix it, or pass --skip-bad to insert the good lines")
    if not records:
        raise InvalidInput("the input has no usable records", "check the input format (--format)")
    return Parsed(records, bad)
