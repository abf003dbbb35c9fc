from __future__ import annotations

import pytest

from memos.core.ingest import decode, parse
from memos.errors import InvalidInput


def test_lines_and_jsonl_are_detected():
    assert [r.text for r in parse("one\n\ntwo\n").records] == ["one", "two"]
    parsed = parse('{"text": "a", "tags": ["x"]}\n{"content": "b"}\n', tags=["extra"])
    assert [(r.text, r.tags) for r in parsed.records] == [("a", ["extra", "x"]), ("b", ["extra"])]


def test_bad_jsonl_line_is_named_and_nothing_passes():
    text = '{"text": "ok"}\n{"text": "also ok"}\n{"txt": "oops"}\nnot json\n'
    with pytest.raises(InvalidInput, match=r"line 3 .*\"text\".*and 1 more bad lines.*nothing was inserted"):
        parse(text)
    parsed = parse(text, skip_bad=True)
    assert [r.text for r in parsed.records] == ["ok", "also ok"]
    assert [b.line for b in parsed.bad] == [3, 4]


def test_empty_and_invalid_utf8():
    with pytest.raises(InvalidInput, match="empty"):
        parse("  \n\n")
    with pytest.raises(InvalidInput, match=r"not valid UTF-8 \(line 2"):
        decode(b"fine\nbad \xff byte\n")
