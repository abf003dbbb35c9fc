"""The parts of archival memory both backends answer with the same SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from memos.errors import EmbeddingError, NotFound
from memos.store.base import Passage, PassageStats, TagMatch
from memos.store.sql import rows
from memos.store.sql.host import SQLHost
from memos.store.timeutil import from_db, to_db


def passage_filters(agent_id: str, tags: Sequence[str], tag_match: TagMatch, start: Any, end: Any,
                    alias: str = "p") -> tuple[str, dict[str, Any]]:
    """The WHERE clause (and its parameters) for an agent's passages with these tags and dates.
    ``@>`` (contains all) and ``&&`` (shares any) mean the same on DuckDB lists and PostgreSQL arrays."""
    col = f"{alias}." if alias else ""
    where = [f"{col}agent_id = $agent"]
    params: dict[str, Any] = {"agent": agent_id}
    if tags:
        params["tags"] = list(tags)
        where.append(f"{col}tags {'@>' if tag_match == 'all' else '&&'} $tags::VARCHAR[]")
    if start is not None:
        params["start"] = to_db(start)
        where.append(f"{col}created_at >= $start")
    if end is not None:
        params["end"] = to_db(end)
        where.append(f"{col}created_at <= $end")
    return " AND ".join(where), params


class PassageLookups(SQLHost):
    """Finding and paging an agent's passages, the same on both backends."""

    def get_passage(self, agent_id: str, passage_id: str) -> Passage:
        with self._read() as con:
            row = con.execute(f"SELECT {rows.PASSAGE_COLUMNS} FROM passages WHERE agent_id = ? AND id = ?",
                              [agent_id, passage_id]).fetchone()
        if row is None:
            raise NotFound(f"no passage '{passage_id}' for this agent", "see `memos archival list`")
        return rows.passage(row)

    def list_passages(self, agent_id: str, *, after: str | None = None, before: str | None = None,
                      limit: int = 50, ascending: bool = True, tags: Sequence[str] = (),
                      tag_match: TagMatch = "any") -> list[Passage]:
        where, params = passage_filters(agent_id, tags, tag_match, None, None)
        sign = 1 if ascending else -1
        params.update(limit=limit, sign=sign)
        with self._read() as con:
            for name, op, cursor in (("after", ">", after), ("before", "<", before)):
                if cursor:
                    params[name] = sign * self._passage_seq(con, agent_id, cursor)
                    where += f" AND $sign * p.seq {op} ${name}"
            nearest_first = "DESC" if before and not after else "ASC"
            found = con.execute(
                f"SELECT $sign * p.seq AS pos, {rows.PASSAGE_COLUMNS_P} FROM passages p WHERE {where} "
                f"ORDER BY pos {nearest_first} LIMIT $limit", params).fetchall()
        found.sort(key=lambda r: r[0])
        return [rows.passage(r[1:]) for r in found]

    def _passage_seq(self, con: Any, agent_id: str, passage_id: str) -> int:
        row = con.execute("SELECT seq FROM passages WHERE agent_id = ? AND id = ?", [agent_id, passage_id]).fetchone()
        if row is None:
            raise NotFound(f"no passage '{passage_id}' for this agent", "see `memos archival list`")
        return int(row[0])


def passage_stats(con: Any, agent_id: str, indexed_upto: int | None) -> PassageStats:
    """Counts, tags and dates of an agent's passages; ``indexed_upto`` is the highest seq the
    vector index covers (None: the index covers everything)."""
    total, first, last, indexed = con.execute(
        "SELECT count(*), min(created_at), max(created_at), "
        "count(*) FILTER (WHERE CAST($upto AS BIGINT) IS NULL OR seq <= CAST($upto AS BIGINT)) "
        "FROM passages WHERE agent_id = $agent", {"agent": agent_id, "upto": indexed_upto}).fetchone()
    tags = dict(con.execute(
        "SELECT tag, count(*) FROM (SELECT unnest(tags) AS tag FROM passages WHERE agent_id = ?) AS t "
        "GROUP BY tag ORDER BY count(*) DESC, tag", [agent_id]).fetchall())
    model = con.execute("SELECT embedding_model FROM agents WHERE id = ? UNION ALL "
                        "SELECT embedding_model FROM archives WHERE id = ?", [agent_id, agent_id]).fetchone()
    return PassageStats(total=total, tags=tags, first_at=from_db(first), last_at=from_db(last),
                        embedding_model=model[0] if model else "", indexed=indexed)


def passage_batches(con: Any, seqs: Sequence[int]) -> dict[int, int]:
    """The batch of each of these passages that has one (written together with others)."""
    if not seqs:
        return {}
    listed = ",".join(str(int(seq)) for seq in seqs)  # a literal list: DuckDB then uses its seq index
    return {int(seq): int(batch) for seq, batch in con.execute(
        f"SELECT seq, batch FROM passages WHERE seq IN ({listed}) AND batch IS NOT NULL").fetchall()}


PASSAGE_TABLES = frozenset({"passages"})  # what remembered facts of passages are read from (ConnectionMemo)


def check_width(con: Any, agent_id: str, model: str, width: int, dims: str = "len(embedding)") -> None:
    """Refuse vectors of another width than the agent's stored ones: an agent's passages are
    searched with one model, and a provider that changed its model's width under a name
    (or a caller's own embeddings of another model) would leave some of them unreachable.
    ``dims`` is the dialect's length of an embedding."""
    row = con.execute(f"SELECT {dims}, embedding_model FROM passages WHERE agent_id = ? LIMIT 1", [agent_id]).fetchone()
    if row is not None and int(row[0]) != width:
        raise EmbeddingError(
            f"this agent's passages have {row[0]}-dimension vectors ({row[1]}); these have {width} ({model})",
            f"embed them all with one model: memos archival reembed --agent NAME --model {model}")
