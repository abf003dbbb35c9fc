"""The host the SQL store's mixins are written against: its connection manager and the few
hooks each backend supplies. Messages, runs, tools, evolutions and passages live in mixins
(one module each) that inherit this, so each is typed against what it really uses."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from memos.errors import InvalidInput, NotFound
from memos.store import ids
from memos.store.base import Agent, Store
from memos.store.sessions import Sessions
from memos.store.sql import rows

AGENT_TABLES = frozenset({"agents"})  # what a remembered agent row is read from

class SQLHost(Store):
    dialect: str
    location: str  # what error messages call the database (a path, or a URL without its password)
    _db: Sessions

    # -- what each backend supplies ---------------------------------------------
    def _lock(self, con: Any, *keys: str) -> None:
        """Keep concurrent writers of these things apart until the transaction ends.

        DuckDB needs nothing: one process writes the file at a time."""

    def _insert_many(self, con: Any, table: str, columns: str, values: Iterable[Sequence[Any]]) -> None:
        """Insert many rows at once, the engine's fastest way (DuckDB: one statement of list
        parameters; PostgreSQL: COPY). NumPy arrays in a column are vectors (float lists)."""
        raise NotImplementedError

    # -- sessions ----------------------------------------------------------------
    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self._db.session(write=False) as con:
            yield con

    @contextmanager
    def _write(self) -> Iterator[Any]:
        with self._db.session(write=True) as con:
            yield con

    def _remembered_agent(self, con: Any, id_or_name: str) -> Agent:
        """The agent's row, read again only after agents is written (ConnectionMemo): a turn, an
        insert and the route before them each ask for it."""
        return self._db.memo.read(("agent", id_or_name), AGENT_TABLES, lambda: self._agent_row(con, id_or_name))

    def _delete_agent_extras(self, con: Any, agent_id: str) -> None:
        """Delete what only this backend keeps for an agent or an archive (their passages'
        indexes), inside the transaction that deletes it."""

    def _passage_model(self, con: Any, owner_id: str) -> str:
        """The embedding model of whoever owns passages: an agent, or an archive (shared passages)."""
        if ids.looks_like("archive", owner_id):
            row = con.execute("SELECT embedding_model FROM archives WHERE id = ?", [owner_id]).fetchone()
            if row is None:
                raise NotFound(f"no archive '{owner_id}'", "see GET /v1/archives/")
            return str(row[0])
        return self._remembered_agent(con, owner_id).embedding_model

    def _agent_row(self, con: Any, id_or_name: str) -> Agent:
        column = "id" if ids.looks_like("agent", id_or_name) else "name"
        found = con.execute(f"SELECT {rows.AGENT_COLUMNS} FROM agents WHERE {column} = ? LIMIT 3",
                            [id_or_name]).fetchall()
        if not found:
            raise NotFound(f"no agent named '{id_or_name}'", "see `memos agents list`")
        if len(found) > 1:  # Letta's clients may give two agents one name; memos's CLI never does
            raise InvalidInput(f"'{id_or_name}' names {len(found)} agents "
                               f"({', '.join(r[0] for r in found[:2])}{', ...' if len(found) > 2 else ''})",
                               "use the agent's id (memos agents list shows it)")
        return rows.agent(found[0])
