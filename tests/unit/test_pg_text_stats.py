"""PostgreSQL's BM25 statistics (passage counts, lengths and document frequencies per agent,
migration 0005) stay equal to a recount through inserts, COPY, deletes and agent deletion."""

from __future__ import annotations

import pytest

from memos.store.base import NewPassage, PassageQuery
from tests.conftest import unit_vectors

RECOUNT_STATS = ("SELECT agent_id, count(*), sum(length(tsv)) FROM passages GROUP BY agent_id ORDER BY agent_id")
RECOUNT_DF = ("SELECT agent_id, lexeme, count(*) FROM passages, unnest(tsvector_to_array(tsv)) AS lexeme "
              "GROUP BY agent_id, lexeme ORDER BY agent_id, lexeme")


def _kept(store) -> tuple[list, list]:  # type: ignore[no-untyped-def]
    with store._read() as con:
        stats = con.execute("SELECT agent_id, passages, lexemes FROM passage_text_stats ORDER BY agent_id").fetchall()
        df = con.execute("SELECT agent_id, lexeme, df FROM passage_lexemes ORDER BY agent_id, lexeme").fetchall()
    return [tuple(r) for r in stats], [tuple(r) for r in df]


def _recounted(store) -> tuple[list, list]:  # type: ignore[no-untyped-def]
    with store._read() as con:
        return ([tuple(r) for r in con.execute(RECOUNT_STATS).fetchall()],
                [tuple(r) for r in con.execute(RECOUNT_DF).fetchall()])


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_counts_follow_every_write(workspace, agent):
    from memos.core.agents import create_agent, delete_agent

    store = workspace.store
    other = create_agent(workspace, "bob")
    vectors = unit_vectors(40, seed=1)
    mine = store.insert_passages(agent.id, [NewPassage(f"the lighthouse keeper {i} feeds gulls" + " gulls" * (i % 3),
                                                       vectors[i]) for i in range(30)])
    store.insert_passages(other.id, [NewPassage(f"a ferry to island {i}", vectors[30 + i]) for i in range(10)])
    store.insert_passages(agent.id, [NewPassage("storm over the harbour", vectors[0])])  # one more statement
    assert _kept(store) == _recounted(store) and len(_kept(store)[0]) == 2

    store.delete_passages(agent.id, [p.id for p in mine[:12]])
    assert _kept(store) == _recounted(store)
    assert ("keeper" in {lexeme for _, lexeme, _ in _kept(store)[1]})

    store.delete_passages(agent.id, [p.id for p in mine[12:]])  # the last passages with 'keeper'
    stats, df = _kept(store)
    assert (stats, df) == _recounted(store) and "keeper" not in {lexeme for a, lexeme, _ in df if a == agent.id}

    delete_agent(workspace, other)
    assert _kept(store) == _recounted(store) and [a for a, *_ in _kept(store)[0]] == [agent.id]
    hits = store.search_passages(agent.id, PassageQuery(mode="hybrid", text="harbour storm",
                                                        embedding=vectors[0], top_k=1))
    assert hits[0].passage.text == "storm over the harbour"


def test_the_rarest_words_select_within_the_budget():
    from memos.store.postgres.passages import SELECT_BUDGET, _selecting

    frequencies = {"gull": 3, "harbour": SELECT_BUDGET // 2, "the": SELECT_BUDGET * 40, "zeppelin": 0,
                   "keeper": SELECT_BUDGET // 2 - 3}
    assert _selecting(frequencies) == ["gull", "keeper", "harbour"]  # 3 + (B/2 - 3) + B/2 = B rows
    assert _selecting({"the": SELECT_BUDGET * 40, "user": SELECT_BUDGET * 30}) == ["user"]  # at least one
    assert _selecting({"zeppelin": 0}) == []  # a word no passage has selects nothing
