from __future__ import annotations

import hashlib

import duckdb
import pytest

from memos.errors import SchemaTooNew
from memos.store.base import NewAgent, NewPassage, PassageQuery
from memos.store.duckdb.store import DuckDBStore
from memos.store.migrations import migrations_for
from tests.conftest import unit_vectors


def test_migrations_are_numbered_and_recorded(tmp_path):
    store = DuckDBStore(tmp_path / "m.duckdb")
    ids = [m.id for m in migrations_for("duckdb")]
    assert ids == sorted(ids) and ids[0] == "0001_initial"
    assert store.schema_version() == ids


def test_an_older_database_upgrades_itself_and_keeps_data(tmp_path):
    path = tmp_path / "old.duckdb"
    # Build a database at schema 0001 only, with data in it, the way an older memos left it.
    old = DuckDBStore.__new__(DuckDBStore)
    from memos.store.duckdb.connection import Connections
    old.path, old._db = path, Connections(path, timeout=5)
    old._migrate(upto="0001_initial")
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO agents VALUES ('agent-00000000-0000-0000-0000-000000000001', 'old', '', 's', 'm', "
                "'local/all-MiniLM-L6-v2', 1000, '[]', '{}', now(), now())")
    vec = "[" + ",".join(str(x) for x in unit_vectors(1)[0]) + "]"
    con.execute(f"INSERT INTO passages VALUES ('passage-1', 'agent-00000000-0000-0000-0000-000000000001', 1, "
                f"'the old lighthouse keeper', [], {vec}::FLOAT[384], 'local', now())")
    con.close()
    old.close()

    store = DuckDBStore(path)
    assert store.schema_version()[-1] == migrations_for("duckdb")[-1].id
    agent = store.get_agent("old")
    hits = store.search_passages(agent.id, PassageQuery(mode="text", text="lighthouse", top_k=3))
    assert [h.passage.text for h in hits] == ["the old lighthouse keeper"]  # backfilled terms
    store.insert_passages(agent.id, [NewPassage("new passage", unit_vectors(1, seed=2)[0])])
    assert store.passage_stats(agent.id).total == 2


def test_database_from_newer_memos_is_refused_and_untouched(tmp_path):
    path = tmp_path / "new.duckdb"
    store = DuckDBStore(path)
    store.create_agent(NewAgent("a", "s", "m", "local/all-MiniLM-L6-v2", 1000), [])
    store.close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_migrations VALUES ('9999_from_the_future', now())")
    con.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(SchemaTooNew, match="newer memos .*9999_from_the_future"):
        DuckDBStore(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_postgresql_records_the_same_migrations_and_refuses_a_newer_schema(postgres_url):
    import psycopg

    from memos.store.postgres.store import PostgresStore

    store = PostgresStore(postgres_url)
    ids = [m.id for m in migrations_for("postgresql")]
    assert store.schema_version() == ids == [m.id for m in migrations_for("duckdb")]  # the same numbers
    store.create_agent(NewAgent("a", "s", "m", "local/all-MiniLM-L6-v2", 1000), [])
    store.close()
    reopened = PostgresStore(postgres_url)
    assert reopened.schema_version() == ids  # reopening applies nothing twice
    reopened.close()
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("INSERT INTO schema_migrations VALUES ('9999_from_the_future', now())")
    with pytest.raises(SchemaTooNew, match="newer memos .*9999_from_the_future"):
        PostgresStore(postgres_url)
    with psycopg.connect(postgres_url) as con:
        assert con.execute("SELECT count(*) FROM agents").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(ids) + 1


def test_two_processes_migrating_one_postgresql_database_at_once(postgres_url):
    """Both open a fresh database together: the migrations run once, neither fails."""
    import subprocess
    import sys

    code = ("import sys; from memos.store.postgres.store import PostgresStore; "
            "print(PostgresStore(sys.argv[1]).schema_version()[-1])")
    procs = [subprocess.Popen([sys.executable, "-c", code, postgres_url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in results]
    assert {out.strip() for out, _ in results} == {migrations_for("postgresql")[-1].id}


@pytest.mark.parametrize("deleted", ["0001_initial", "all"])
def test_a_deleted_migration_record_gives_one_clear_error(tmp_path, deleted):
    from tests.conftest import run_memos

    home = tmp_path / "home"
    env = {"MEMOS_HOME": str(home)}
    assert run_memos("agents", "create", "ada", env=env).code == 0
    con = duckdb.connect(str(home / "memos.duckdb"))
    con.execute("DELETE FROM schema_migrations" + ("" if deleted == "all" else f" WHERE id = '{deleted}'"))
    con.close()
    result = run_memos("agents", "list", env=env)
    assert result.code == 1 and result.out == ""
    assert result.err.startswith("error: the schema table of") and "inconsistent" in result.err
    assert len(result.err.strip().splitlines()) == 1 and "Catalog" not in result.err
