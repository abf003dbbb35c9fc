"""Conversations from the terminal: `memos send -c`, `memos chat -c`, `memos conversations`,
`memos messages list -c`: threads of one agent with their own context and shared memory."""

from __future__ import annotations

from tests.conftest import call, end_chat, say, spawn_memos


def _user_texts(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


def test_send_and_chat_in_named_conversations(memos, chat_agent, fake_llm):  # type: ignore[no-untyped-def]
    fake_llm.script(call("core_memory_append", label="human", content="Works on ticket 42"), say("On it."),
                    say("Hello from the main thread."), say("Still ticket 42."), say("Main again."))
    sent = memos("send", "-c", "ticket-42", "The printer in ticket 42 is on fire.")
    assert sent.code == 0, sent.err
    assert "started conversation 'ticket-42'" in sent.err and "On it." in sent.out
    assert memos("send", "hello").code == 0  # the agent's own conversation

    # The main thread's prompt had the shared memory but not the ticket's messages.
    main_request = fake_llm.requests[2]
    assert _user_texts(main_request) == ["hello"]
    assert "Works on ticket 42" in main_request["messages"][0]["content"]

    child = spawn_memos("chat", "-c", "ticket-42")
    child.expect("conversation ticket-42")
    child.expect("you> ")
    child.sendline("Any news?")
    child.expect("Still ticket 42.")
    child.expect("you> ")
    child.sendline("/conversation default")
    child.expect("conversation default")
    child.expect("others: ticket-42")
    child.expect("you> ")
    child.sendline("Back in the main thread.")
    child.expect("Main again.")
    child.expect("you> ")
    end_chat(child)
    assert _user_texts(fake_llm.requests[3]) == ["The printer in ticket 42 is on fire.", "Any news?"]

    listed = memos("conversations", "list", "--json").json()
    assert [c["name"] for c in listed] == ["ticket-42"] and listed[0]["last_message_at"]
    ticket = memos("messages", "list", "-c", "ticket-42", "--order", "asc", "--json").json()
    assert [m["content"] for m in ticket if m["role"] == "user"] == ["The printer in ticket 42 is on fire.",
                                                                     "Any news?"]
    own = memos("messages", "list", "--order", "asc", "--json").json()
    assert [m["content"] for m in own if m["role"] == "user"] == ["hello", "Back in the main thread."]
    everything = memos("messages", "list", "-c", "all", "--json").json()
    assert len([m for m in everything if m["role"] == "user"]) == 4


def test_manage_conversations_and_errors(memos, chat_agent, fake_llm):  # type: ignore[no-untyped-def]
    fake_llm.script(say("Red, noted."), say("You said red."))
    assert memos("conversations", "create", "colours", "--summary", "favourite colours").code == 0
    assert memos("send", "-c", "colours", "My favourite colour is red.").code == 0
    forked = memos("conversations", "fork", "colours", "colours-2", "--json")
    assert forked.code == 0, forked.err
    assert memos("send", "-c", "colours-2", "Which colour?").code == 0
    assert _user_texts(fake_llm.requests[-1]) == ["My favourite colour is red.", "Which colour?"]

    taken = memos("conversations", "create", "colours")
    assert taken.code == 1 and "already has a conversation named 'colours'" in taken.err
    bad = memos("conversations", "create", "two words")
    assert bad.code == 1 and "cannot name a conversation" in bad.err and "Traceback" not in bad.err
    missing = memos("approve", "-c", "nope")
    assert missing.code == 1 and "no conversation 'nope'" in missing.err

    assert memos("conversations", "rename", "colours-2", "shades").code == 0
    assert memos("conversations", "rm", "shades", "--yes").code == 0
    names = [c["name"] for c in memos("conversations", "list", "--json").json()]
    assert names == ["colours"]
    refused = memos("conversations", "rm", "colours")  # no terminal to confirm on
    assert refused.code != 0 and "--yes" in refused.err
