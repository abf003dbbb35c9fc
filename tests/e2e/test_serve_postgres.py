"""`memos serve` on PostgreSQL: 16 clients writing at once through the API, every write kept."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import letta_client
import pytest

from tests.conftest import say
from tests.e2e.test_serve import running_server

WRITERS, PASSAGES_EACH, SENDS_EACH = 16, 5, 2


@pytest.mark.slow
def test_sixteen_concurrent_writers_lose_nothing(postgres_url, fake_llm):  # type: ignore[no-untyped-def]
    fake_llm.default = say("noted")
    with running_server() as url:  # inherits MEMOS_DATABASE_URL from the postgres_url fixture
        def client() -> letta_client.Letta:
            return letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0, timeout=120)

        crowd = client().agents.create(name="crowd", model="openai/fake-model", memory_blocks=[
            {"label": "human", "value": "Many people."}, {"label": "persona", "value": "I listen."}])

        def writer(w: int) -> str:
            sdk = client()
            mine = sdk.agents.create(name=f"writer-{w}", model="openai/fake-model", memory_blocks=[
                {"label": "human", "value": f"Writer {w}."}, {"label": "persona", "value": "I write."}])
            for i in range(PASSAGES_EACH):
                sdk.agents.passages.create(agent_id=crowd.id, text=f"writer {w} passage {i}", tags=[f"w{w}"])
                if i < SENDS_EACH:
                    reply = sdk.agents.messages.create(agent_id=mine.id, messages=[
                        {"role": "user", "content": f"writer {w} says {i}"}])
                    assert reply.messages[-1].content == "noted"
            sdk.agents.blocks.update("human", agent_id=mine.id, value=f"Writer {w}, done.")
            return mine.id

        with ThreadPoolExecutor(WRITERS) as pool:
            writer_ids = list(pool.map(writer, range(WRITERS)))

        sdk = client()
        assert sorted(a.name for a in sdk.agents.list(limit=100)) == sorted(
            ["crowd"] + [f"writer-{w}" for w in range(WRITERS)])
        for w, agent_id in enumerate(writer_ids):
            said = [m.content for m in sdk.agents.messages.list(agent_id=agent_id, limit=100)
                    if m.message_type == "user_message"]
            assert sorted(said) == [f"writer {w} says {i}" for i in range(SENDS_EACH)]
            assert sdk.agents.blocks.retrieve("human", agent_id=agent_id).value == f"Writer {w}, done."

    # And straight from the database, with the server gone.
    from memos.store.postgres.store import PostgresStore

    store = PostgresStore(postgres_url)
    try:
        passages = store.list_passages(crowd.id, limit=1000)
        assert sorted(p.text for p in passages) == sorted(
            f"writer {w} passage {i}" for w in range(WRITERS) for i in range(PASSAGES_EACH))
        for w in range(WRITERS):  # each writer's passages in the order it wrote them
            assert [p.text for p in store.list_passages(crowd.id, tags=[f"w{w}"])] == [
                f"writer {w} passage {i}" for i in range(PASSAGES_EACH)]
        seqs = [m.seq for agent_id in writer_ids for m in store.list_messages(agent_id, limit=100)]
        # each turn: the user's message, the send_message call and its return; no seq taken twice
        assert len(seqs) == len(set(seqs)) == WRITERS * SENDS_EACH * 3
    finally:
        store.close()
