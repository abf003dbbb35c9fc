"""Loop events as Letta messages: a step's calls go out together, and what goes out at the end
of a stream is filtered and labelled as everything else."""

from __future__ import annotations

from memos.core import events as ev
from memos.server.shapes import EventShaper


def test_a_steps_calls_go_out_as_one_message_before_what_follows() -> None:
    shaper = EventShaper()
    assert shaper.shape(ev.RunStarted("run-1")) == []
    assert shaper.shape(ev.ToolCall("call_1", "roll", {"sides": 6})) == []
    assert shaper.shape(ev.ToolCall("call_2", "roll", {"sides": 12})) == []
    sent = shaper.shape(ev.ToolReturn("call_1", "roll", "success", "4"))
    assert [m["message_type"] for m in sent] == ["tool_call_message", "tool_return_message"]
    assert [c["tool_call_id"] for c in sent[0]["tool_calls"]] == ["call_1", "call_2"]
    assert {m["run_id"] for m in sent} == {"run-1"}


def test_calls_still_gathered_at_the_end_are_filtered_and_labelled_as_the_rest() -> None:
    only_replies = EventShaper(only=["assistant_message"])
    only_replies.shape(ev.RunStarted("run-1"))
    only_replies.shape(ev.ToolCall("call_1", "roll", {}))
    assert only_replies.flush() == []  # a type the client did not ask for

    everything = EventShaper()
    everything.shape(ev.RunStarted("run-2"))
    everything.shape(ev.StepStarted("step-1"))
    everything.shape(ev.ApprovalRequest("call_1", "roll", {}))
    (pending,) = everything.flush()
    assert pending["message_type"] == "approval_request_message"
    assert (pending["run_id"], pending["step_id"]) == ("run-2", "step-1")
    assert everything.flush() == []  # sent once
