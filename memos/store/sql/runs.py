"""Runs, steps and tool calls: what the agent loop did, one transaction per step."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from memos.errors import NotFound
from memos.store import ids
from memos.store.base import Message, NewMessage, Run, StepRecord, ToolCallRecord
from memos.store.sql.host import SQLHost
from memos.store.timeutil import from_db, to_db, utcnow

TOOL_CALL_COLUMNS = ("id, agent_id, tool_call_id, name, arguments, result, status, duration_ms, step_id, "
                     "tool_commit, created_at")


def _tool_call(row: Sequence[Any]) -> ToolCallRecord:
    arguments = row[4]
    return ToolCallRecord(id=row[0], agent_id=row[1], tool_call_id=row[2], name=row[3],
                          arguments=json.loads(arguments) if isinstance(arguments, str) else arguments,
                          result=row[5], status=row[6], duration_ms=row[7], step_id=row[8], tool_commit=row[9],
                          created_at=from_db(row[10]))


class RunsMixin(SQLHost):
    def running_runs(self, agent_id: str) -> list[str]:
        with self._read() as con:
            return [r[0] for r in con.execute(
                "SELECT id FROM runs WHERE agent_id = ? AND status = 'running' ORDER BY created_at",
                [agent_id]).fetchall()]

    def interrupt_running_runs(self, agent_id: str) -> list[str]:
        running = self.running_runs(agent_id)  # the common case writes nothing
        if running:
            with self._write() as con:
                con.execute("UPDATE runs SET status = 'interrupted', stop_reason = 'interrupted', completed_at = ? "
                            "WHERE agent_id = ? AND status = 'running'", [to_db(utcnow()), agent_id])
        return running

    def start_run(self, agent_id: str) -> Run:
        run_id, now = ids.new_id("run"), to_db(utcnow())
        with self._write() as con:
            con.execute("INSERT INTO runs (id, agent_id, status, stop_reason, created_at, completed_at) "
                        "VALUES (?, ?, 'running', NULL, ?, NULL)", [run_id, agent_id, now])
        return Run(run_id, agent_id, "running", None, from_db(now), None)

    def finish_run(self, run_id: str, status: str, stop_reason: str) -> None:
        with self._write() as con:
            con.execute("UPDATE runs SET status = ?, stop_reason = ?, completed_at = ? WHERE id = ?",
                        [status, stop_reason, to_db(utcnow()), run_id])

    def record_step(self, agent_id: str, step: StepRecord, messages: Sequence[NewMessage],
                    tool_calls: Sequence[ToolCallRecord]) -> tuple[str, list[Message]]:
        step_id, now = ids.new_id("step"), to_db(utcnow())
        with self._write() as con:
            con.execute("INSERT INTO steps (id, run_id, agent_id, model, prompt_tokens, completion_tokens, cost_usd, "
                        "latency_ms, stop_reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [step_id, step.run_id, agent_id, step.model, step.prompt_tokens, step.completion_tokens,
                         step.cost_usd, step.latency_ms, step.stop_reason, now])
            stored = self.append_messages(agent_id, [
                NewMessage(m.role, m.content, m.name, m.tool_calls, m.tool_call_id, step_id, step.run_id,
                           m.in_context, m.created_at) for m in messages])
            if any(call.status == "pending" for call in tool_calls):
                self._db.memo.pending_call_added(agent_id)
            for call in tool_calls:
                con.execute(f"INSERT INTO tool_calls ({TOOL_CALL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [call.id, agent_id, call.tool_call_id, call.name, json.dumps(call.arguments),
                             call.result, call.status, call.duration_ms, step_id, call.tool_commit, now])
        return step_id, stored

    def pending_tool_calls(self, agent_id: str) -> list[ToolCallRecord]:
        with self._read() as con:
            # Asked before every turn; while this process keeps the file, only it can add one.
            if self._db.memo.has_no_pending_calls(agent_id):
                return []
            pending = [_tool_call(r) for r in con.execute(
                f"SELECT {TOOL_CALL_COLUMNS} FROM tool_calls WHERE agent_id = ? AND status = 'pending' "
                "ORDER BY created_at, id", [agent_id]).fetchall()]
            if not pending:
                self._db.memo.no_pending_calls(agent_id)
            return pending

    def resolve_tool_call(self, tool_call_row_id: str, *, status: str, result: str, duration_ms: float | None,
                          message: NewMessage) -> Message:
        with self._write() as con:
            self._lock(con, tool_call_row_id)  # settled once, by one caller
            row = con.execute("SELECT agent_id, status FROM tool_calls WHERE id = ?", [tool_call_row_id]).fetchone()
            if row is None or row[1] != "pending":
                raise NotFound("no pending tool call to settle", "see `memos approve --list`")
            con.execute("UPDATE tool_calls SET status = ?, result = ?, duration_ms = ? WHERE id = ?",
                        [status, result, duration_ms, tool_call_row_id])
            return self.append_messages(row[0], [message])[0]

    def list_tool_calls(self, agent_id: str, *, name: str | None = None, limit: int = 100) -> list[ToolCallRecord]:
        where, params = "agent_id = ?", [agent_id]
        if name:
            where += " AND name = ?"
            params.append(name)
        with self._read() as con:
            return [_tool_call(r) for r in con.execute(
                f"SELECT {TOOL_CALL_COLUMNS} FROM tool_calls WHERE {where} ORDER BY created_at DESC LIMIT ?",
                [*params, limit]).fetchall()]
