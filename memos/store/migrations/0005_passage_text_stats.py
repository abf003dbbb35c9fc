"""What BM25 needs to know of an agent's passages on PostgreSQL, kept by triggers: how many
passages and lexemes it has (the average length), and in how many passages each lexeme is
(document frequency). Counting them per search cost a scan of the agent's passages, hundreds
of milliseconds at a million (bench/scale.py). Statement-level triggers with transition
tables update them in the same transaction as the insert or delete (COPY included), one
aggregated upsert per statement, rows in key order so concurrent writers lock them in the
same order. Existing passages are counted here once.

DuckDB's text index (memos/store/duckdb/text_index.py) knows these itself: nothing to do.
"""

from __future__ import annotations

from typing import Any

POSTGRESQL = """
CREATE TABLE passage_text_stats (
    agent_id VARCHAR PRIMARY KEY,
    passages BIGINT NOT NULL,
    lexemes BIGINT NOT NULL
);
CREATE TABLE passage_lexemes (
    agent_id VARCHAR NOT NULL,
    lexeme VARCHAR NOT NULL,
    df BIGINT NOT NULL,
    PRIMARY KEY (agent_id, lexeme)
);

{counted_added}
{counted_removed}
CREATE TRIGGER passages_counted_insert AFTER INSERT ON passages
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION memos_passages_added();
CREATE TRIGGER passages_counted_delete AFTER DELETE ON passages
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION memos_passages_removed();

INSERT INTO passage_text_stats (agent_id, passages, lexemes)
    SELECT agent_id, count(*), coalesce(sum(length(tsv)), 0) FROM passages GROUP BY agent_id;
INSERT INTO passage_lexemes (agent_id, lexeme, df)
    SELECT agent_id, lexeme, count(*) FROM passages, unnest(tsvector_to_array(tsv)) AS lexeme
    GROUP BY agent_id, lexeme;
"""


# The body of both triggers: ``changed`` is the statement's transition table, ``sign`` +1 for
# rows inserted and -1 for rows deleted.
COUNTED = """
CREATE FUNCTION memos_passages_{name}() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO passage_text_stats AS s (agent_id, passages, lexemes)
        SELECT agent_id, {sign} * count(*), {sign} * coalesce(sum(length(tsv)), 0)
        FROM changed GROUP BY agent_id ORDER BY agent_id
        ON CONFLICT (agent_id) DO UPDATE
        SET passages = s.passages + EXCLUDED.passages, lexemes = s.lexemes + EXCLUDED.lexemes;
    INSERT INTO passage_lexemes AS l (agent_id, lexeme, df)
        SELECT agent_id, lexeme, {sign} * count(*)
        FROM changed, unnest(tsvector_to_array(tsv)) AS lexeme
        GROUP BY agent_id, lexeme ORDER BY agent_id, lexeme
        ON CONFLICT (agent_id, lexeme) DO UPDATE SET df = l.df + EXCLUDED.df;
    {cleanup}
    RETURN NULL;
END
$fn$;
"""
REMOVE_EMPTY = """DELETE FROM passage_lexemes WHERE agent_id IN (SELECT DISTINCT agent_id FROM changed) AND df <= 0;
    DELETE FROM passage_text_stats WHERE agent_id IN (SELECT DISTINCT agent_id FROM changed) AND passages <= 0;"""


def upgrade(con: Any, dialect: str) -> None:
    if dialect == "postgresql":
        con.execute(POSTGRESQL.format(
            counted_added=COUNTED.format(name="added", sign=1, cleanup=""),
            counted_removed=COUNTED.format(name="removed", sign=-1, cleanup=REMOVE_EMPTY)))
    elif dialect != "duckdb":
        raise ValueError(f"no {dialect} variant of this migration")
