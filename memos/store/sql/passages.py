"""The parts of archival memory both backends answer with the same SQL."""

from __future__ import annotations

from typing import Any

from memos.store.base import PassageStats
from memos.store.timeutil import from_db


def passage_stats(con: Any, agent_id: str, indexed_upto: int | None) -> PassageStats:
    """Counts, tags and dates of an agent's passages; ``indexed_upto`` is the highest seq the
    vector index covers (None: the index covers everything)."""
    total, first, last, indexed = con.execute(
        "SELECT count(*), min(created_at), max(created_at), count(*) FILTER (WHERE CAST($upto AS BIGINT) IS NULL OR seq <= CAST($upto AS BIGINT)) "
        "FROM passages WHERE agent_id = $agent", {"agent": agent_id, "upto": indexed_upto}).fetchone()
    tags = dict(con.execute(
        "SELECT tag, count(*) FROM (SELECT unnest(tags) AS tag FROM passages WHERE agent_id = ?) AS t "
        "GROUP BY tag ORDER BY count(*) DESC, tag", [agent_id]).fetchall())
    model = con.execute("SELECT embedding_model FROM agents WHERE id = ?", [agent_id]).fetchone()
    return PassageStats(total=total, tags=tags, first_at=from_db(first), last_at=from_db(last),
                        embedding_model=model[0] if model else "", indexed=indexed)
