from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from memos.errors import NotFound
from memos.store.base import NewMessage
from tests.conftest import every_store

pytestmark = every_store  # the store under test behaves the same on DuckDB and PostgreSQL


@pytest.fixture
def log(workspace, agent):  # type: ignore[no-untyped-def]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    messages = [NewMessage("user" if i % 2 == 0 else "assistant", f"message {i} " + ("cats" if i % 5 == 0 else "dogs"),
                           created_at=start + timedelta(days=i)) for i in range(30)]
    return workspace.store.append_messages(agent.id, messages)


def test_pagination_with_cursors_covers_everything_once(workspace, agent, log):
    store = workspace.store
    seen, cursor = [], None
    while True:
        page = store.list_messages(agent.id, after=cursor, limit=7, order="desc")
        if not page:
            break
        seen.extend(m.id for m in page)
        cursor = page[-1].id
    assert seen == [m.id for m in reversed(log)]
    asc = store.list_messages(agent.id, limit=5, order="asc")
    assert [m.content for m in asc] == [f"message {i} " + ("cats" if i % 5 == 0 else "dogs") for i in range(5)]
    before = store.list_messages(agent.id, before=log[10].id, limit=3, order="asc")
    assert [m.id for m in before] == [log[7].id, log[8].id, log[9].id]


def test_every_agents_messages_page_in_one_order(workspace, agent, log):
    """list_all_messages: two agents' logs as one, seq order, cursors as an agent's own list."""
    from memos.store.base import NewAgent

    store = workspace.store
    other = store.create_agent(NewAgent("bob", "system", "openai/m", "local/all-MiniLM-L6-v2", 8000), [])
    said = store.append_messages(other.id, [NewMessage("user", "bob's first"), NewMessage("assistant", "bob's second")])
    newest = store.list_all_messages(limit=3)
    assert [m.id for m in newest] == [said[1].id, said[0].id, log[-1].id]
    older = store.list_all_messages(limit=2, after=newest[-1].id)
    assert [m.id for m in older] == [log[-2].id, log[-3].id]
    # (with only `before`, the page just before the cursor)
    assert [m.id for m in store.list_all_messages(limit=2, order="asc", before=said[0].id)] == [log[-2].id, log[-1].id]
    with pytest.raises(NotFound):
        store.list_all_messages(after="message-00000000-0000-0000-0000-000000000000")


def test_unknown_cursor_is_not_found(workspace, agent, log):
    with pytest.raises(NotFound):
        workspace.store.list_messages(agent.id, after="message-00000000-0000-0000-0000-000000000000")


def test_text_and_date_search(workspace, agent, log):
    store = workspace.store
    cats = store.search_messages(agent.id, "cats", limit=100)
    assert sorted(m.seq for m in cats) == sorted(m.seq for m in log if "cats" in m.content)
    ranged = store.search_messages(agent.id, None, start=datetime(2026, 1, 3, tzinfo=UTC),
                                   end=datetime(2026, 1, 5, 23, tzinfo=UTC), limit=100)
    assert sorted(m.content.split()[1] for m in ranged) == ["2", "3", "4"]
    by_role = store.search_messages(agent.id, "dogs", roles=["assistant"], limit=100)
    assert by_role and all(m.role == "assistant" for m in by_role)
    # a literal % or _ is matched literally
    assert store.search_messages(agent.id, "100%") == []


def test_stats(workspace, agent, log):
    stats = workspace.store.message_stats(agent.id)
    assert stats.total == 30 and stats.by_role == {"assistant": 15, "user": 15}
    assert stats.first_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_a_rare_word_outranks_a_common_one_said_twice(workspace, agent):
    """conversation_search ranks by BM25: 'user' is in nearly every message, 'collie' in one; the
    collie message comes first although the others match as many query words and are newer."""
    store = workspace.store
    facts = [f"The user mentioned topic {i} today." for i in range(20)]
    facts[3] = "A border collie named Pixel sleeps by the door."
    facts.append("The user said the user was busy.")  # the newest, and 'user' twice
    store.append_messages(agent.id, [NewMessage("user", text) for text in facts])
    found = store.search_messages(agent.id, "does the user own a collie", limit=3)
    assert found[0].content == "A border collie named Pixel sleeps by the door."
    first, second = (store.search_messages(agent.id, "user topic", limit=5, offset=offset) for offset in (0, 5))
    both = store.search_messages(agent.id, "user topic", limit=10)
    assert [m.id for m in first + second] == [m.id for m in both]
