"""Hybrid search on everyday notes (issue 32): never below its vector half. Neighbour context
is lent only within passages written together, a match made only of words most passages share
counts for nothing, and ten one-line facts asked about in other words are each in the top 3."""

from __future__ import annotations

import pytest

from memos.core import archival
from memos.core.ingest import Record
from memos.store.base import NewPassage, PassageQuery
from tests.conftest import both_backends, every_store, unit_vectors

TEN = [("The user's sister Ines runs a bakery in Porto.", "what does the user's sibling do for work"),
       ("The user is training for a half marathon in May.", "upcoming running race"),
       ("The user's cat Biscuit hates thunderstorms.", "what frightens the user's pet"),
       ("The user studied mechanical engineering in Delft.", "where did the user go to university"),
       ("The user takes the 7:40 train to work.", "how does the user commute in the morning"),
       ("The user is lactose intolerant.", "foods the user cannot digest"),
       ("The user's favourite film is Spirited Away.", "which movie does the user love most"),
       ("The user grows tomatoes on the balcony.", "what vegetables does the user garden"),
       ("The user's anniversary is on the 12th of June.", "when did the user get married"),
       ("The user speaks Dutch, English and some Japanese.", "which languages can the user talk in")]


@pytest.mark.slow
@both_backends
def test_ten_facts_added_as_lines_are_each_found_in_other_words(memos, backend) -> None:
    assert memos("agents", "create", "ada", "--model", "openai/fake-model").code == 0
    added = memos("archival", "add", "--agent", "ada", "-", input="\n".join(fact for fact, _ in TEN) + "\n")
    assert added.code == 0, added.err
    for fact, question in TEN:
        found = memos("archival", "search", "--agent", "ada", "-k", "3", "--json", "--explain", question)
        assert found.code == 0, found.err
        hits = found.json()
        assert fact in [hit["text"] for hit in hits], (question, [hit["text"] for hit in hits])
        # independent notes lend each other nothing
        assert all(hit["explain"]["neighbour"]["offset"] is None for hit in hits), question


@every_store
def test_neighbours_lend_only_within_what_was_written_together(workspace, agent) -> None:
    vectors = unit_vectors(6, seed=5)
    texts = ["alpha report", "beta filler", "gamma filler", "delta report", "epsilon filler", "zeta filler"]
    store = workspace.store
    store.insert_passages(agent.id, [NewPassage(t, v) for t, v in zip(texts[:3], vectors[:3])], batch=41)
    for text, vector in zip(texts[3:], vectors[3:]):  # three notes, each its own
        store.insert_passages(agent.id, [NewPassage(text, vector)])
    hits = store.search_passages(agent.id, PassageQuery(text="report", embedding=vectors[0], mode="hybrid", top_k=6))
    lent = {hit.passage.text: hit.explain["neighbour"]["offset"] for hit in hits}
    assert lent["beta filler"] == -1  # written with "alpha report", just after it
    assert lent["epsilon filler"] is None and lent["zeta filler"] is None  # next to "delta report", but separate


@every_store
def test_words_most_passages_share_are_no_text_match(workspace, agent) -> None:
    vectors = unit_vectors(8, seed=6)
    texts = [f"the user note number {word}" for word in ("one", "two", "three", "four", "five", "six", "seven")]
    texts.append("something else entirely")
    workspace.store.insert_passages(agent.id, [NewPassage(t, v) for t, v in zip(texts, vectors)])
    hits = workspace.store.search_passages(agent.id, PassageQuery(text="user note", embedding=vectors[7],
                                                                  mode="hybrid", top_k=3))
    assert hits[0].passage.text == "something else entirely"  # the vector decides
    assert all(hit.explain["text"]["score"] == 0 for hit in hits)


def test_a_document_is_one_source_and_lines_are_many(memos, tmp_path) -> None:
    from memos.core.workspace import Workspace

    assert memos("agents", "create", "ada", "--model", "openai/fake-model").code == 0
    document = tmp_path / "doc.txt"
    document.write_text("\n\n".join(f"Paragraph {i} of the design notes, about part {i}." * 20 for i in range(6)))
    assert memos("archival", "add", "--agent", "ada", "--format", "text", "--file", str(document)).code == 0
    assert memos("archival", "add", "--agent", "ada", "-", input="note one\nnote two\n").code == 0
    ws = Workspace()
    with ws.store._read() as con:  # type: ignore[attr-defined]
        batches = dict(con.execute("SELECT text, batch FROM passages").fetchall())
    ws.close()
    document_batches = {batch for text, batch in batches.items() if text.startswith("Paragraph")}
    assert len(document_batches) == 1 and None not in document_batches
    assert batches["note one"] is None and batches["note two"] is None


def test_archival_insert_keeps_a_long_note_in_one_piece_of_context(workspace, agent) -> None:
    long_note = "A long note. " * 400  # longer than a passage: split, and its pieces belong together
    archival.insert(workspace.store, agent, [Record(long_note), Record("short one")], related=False)
    with workspace.store._read() as con:  # type: ignore[attr-defined]
        rows = con.execute("SELECT text, batch FROM passages ORDER BY seq").fetchall()
    pieces = [batch for text, batch in rows if text.startswith("A long note")]
    assert len(pieces) > 1 and len(set(pieces)) == 1 and pieces[0] is not None
    assert [batch for text, batch in rows if text == "short one"] == [None]
