"""Runs, steps and tool calls: what the agent loop did, one transaction per step."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Literal

from memos.errors import AgentBusy, NotFound
from memos.store import ids
from memos.store.base import (
    ALL_CONVERSATIONS,
    HELD,
    ConversationScope,
    Decision,
    Message,
    NewMessage,
    Run,
    RunActor,
    RunSummary,
    Step,
    StepRecord,
    ToolCallRecord,
    UsageGroup,
    UsageRow,
)
from memos.store.sql.host import SQLHost
from memos.store.sql.keyset import page_after
from memos.store.sql.messages import scope_to
from memos.store.sql.rows import json_value
from memos.store.timeutil import from_db, to_db, utcnow

TOOL_CALL_COLUMNS = ("id, agent_id, tool_call_id, name, arguments, result, status, duration_ms, step_id, "
                     "tool_commit, created_at, decision, decision_reason, decision_batch")


_RUN_TABLES = frozenset({"runs"})  # what running_runs reads (ConnectionMemo)
RUN_COLUMNS = "id, agent_id, status, stop_reason, created_at, completed_at, actor, conversation_id, request_config"
STEP_COLUMNS = ("id, run_id, agent_id, model, prompt_tokens, completion_tokens, cached_tokens, cost_usd, latency_ms, "
                "duration_ms, stop_reason, created_at, feedback, feedback_tags")


def _run(row: Sequence[Any]) -> Run:
    return Run(row[0], row[1], row[2], row[3], from_db(row[4]), from_db(row[5]) if row[5] else None,
               row[6] or "agent", row[7], json_value(row[8]))


def _step(row: Sequence[Any], calls: tuple[ToolCallRecord, ...]) -> Step:
    return Step(row[0], row[1], row[2], row[3], int(row[4] or 0), int(row[5] or 0), int(row[6] or 0), row[7], row[8],
                row[9], row[10], from_db(row[11]), calls, row[12], tuple(json_value(row[13], ())))


def _ms(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def _tool_call(row: Sequence[Any]) -> ToolCallRecord:
    arguments = row[4]
    return ToolCallRecord(id=row[0], agent_id=row[1], tool_call_id=row[2], name=row[3],
                          arguments=json_value(arguments),
                          result=row[5], status=row[6], duration_ms=row[7], step_id=row[8], tool_commit=row[9],
                          created_at=from_db(row[10]), decision=row[11], decision_reason=row[12],
                          decision_batch=row[13])


class RunsMixin(SQLHost):
    def running_runs(self, agent_id: str, actor: RunActor = "agent",
                     conversation: ConversationScope = ALL_CONVERSATIONS) -> list[str]:
        where, params = self._running_where(agent_id, actor, conversation)
        with self._read() as con:  # asked before every turn: remembered, kept by start_run and finish_run
            return list(self._db.memo.read(("running", agent_id, actor, conversation), _RUN_TABLES, lambda: tuple(
                r[0] for r in con.execute(f"SELECT id FROM runs WHERE {where} ORDER BY created_at", params).fetchall())))

    def set_run_request_config(self, run_id: str, config: dict[str, Any]) -> None:
        with self._write() as con:
            con.execute("UPDATE runs SET request_config = ? WHERE id = ?", [json.dumps(config), run_id])

    def last_stop_reasons(self, agent_ids: Sequence[str]) -> dict[str, str | None]:
        if not agent_ids:
            return {}
        marks = ", ".join("?" for _ in agent_ids)
        with self._read() as con:
            return {r[0]: r[1] for r in con.execute(
                "SELECT r.agent_id, r.stop_reason FROM runs r JOIN (SELECT agent_id, max(created_at) AS newest "
                f"FROM runs WHERE agent_id IN ({marks}) AND actor = 'agent' GROUP BY agent_id) latest "
                "ON r.agent_id = latest.agent_id AND r.created_at = latest.newest WHERE r.actor = 'agent'",
                list(agent_ids)).fetchall()}

    def interrupt_running_runs(self, agent_id: str, actor: RunActor = "agent",
                               conversation: ConversationScope = ALL_CONVERSATIONS) -> list[str]:
        running = self.running_runs(agent_id, actor, conversation)  # the common case writes nothing
        if running:
            where, params = self._running_where(agent_id, actor, conversation)
            with self._write() as con:
                con.execute("UPDATE runs SET status = 'interrupted', stop_reason = 'interrupted', completed_at = $now "
                            f"WHERE {where}", {**params, "now": to_db(utcnow())})
        return running

    def request_cancel(self, agent_id: str, conversation: ConversationScope = ALL_CONVERSATIONS,
                       run_ids: Sequence[str] | None = None) -> list[str]:
        running = [r for r in self.running_runs(agent_id, "agent", conversation) if run_ids is None or r in run_ids]
        if running:
            with self._write() as con:
                con.execute("UPDATE runs SET cancel_requested_at = ? WHERE id IN (SELECT unnest(?::VARCHAR[])) "
                            "AND status = 'running' AND cancel_requested_at IS NULL", [to_db(utcnow()), running])
        return running

    def cancel_requested(self, run_id: str) -> bool:
        with self._read() as con:
            row = con.execute("SELECT cancel_requested_at FROM runs WHERE id = ?", [run_id]).fetchone()
        return bool(row and row[0] is not None)

    def add_run_chunks(self, run_id: str, chunks: Sequence[tuple[int, str]]) -> None:
        now = to_db(utcnow())
        with self._write() as con:
            for seq, line in chunks:
                con.execute("INSERT INTO run_chunks (run_id, seq, line, created_at) VALUES (?, ?, ?, ?) "
                            "ON CONFLICT DO NOTHING", [run_id, seq, line, now])

    def run_chunks(self, run_id: str, after: int = 0) -> list[tuple[int, str]]:
        with self._read() as con:
            return [(int(r[0]), r[1]) for r in con.execute(
                "SELECT seq, line FROM run_chunks WHERE run_id = ? AND seq > ? ORDER BY seq", [run_id, after]).fetchall()]

    def streamed_runs(self, run_ids: Sequence[str]) -> set[str]:
        if not run_ids:
            return set()
        marks = ", ".join("?" for _ in run_ids)
        with self._read() as con:
            return {r[0] for r in con.execute(f"SELECT DISTINCT run_id FROM run_chunks WHERE run_id IN ({marks})",
                                              list(run_ids)).fetchall()}

    def prune_run_chunks(self, keep_runs: int, keep_hours: float) -> None:
        cutoff = to_db(utcnow() - timedelta(hours=keep_hours))
        with self._write() as con:
            con.execute("DELETE FROM run_chunks WHERE created_at < ? OR run_id NOT IN (SELECT run_id FROM "
                        "(SELECT run_id, max(created_at) AS newest FROM run_chunks GROUP BY run_id "
                        "ORDER BY newest DESC LIMIT ?) AS kept)", [cutoff, keep_runs])

    @staticmethod
    def _running_where(agent_id: str, actor: RunActor, conversation: ConversationScope) -> tuple[str, dict[str, Any]]:
        where = ["agent_id = $agent", "status = 'running'", "coalesce(actor, 'agent') = $actor"]
        params: dict[str, Any] = {"agent": agent_id, "actor": actor}
        scope_to(conversation, where, params)
        return " AND ".join(where), params

    def start_run(self, agent_id: str, actor: RunActor = "agent", conversation_id: str | None = None) -> Run:
        run_id, now = ids.new_id("run"), to_db(utcnow())
        with self._write() as con:
            running = self._db.memo.kept(("running", agent_id))
            con.execute(f"INSERT INTO runs ({RUN_COLUMNS}) VALUES (?, ?, 'running', NULL, ?, NULL, ?, ?, NULL)",
                        [run_id, agent_id, now, actor, conversation_id])
            for key, ids_ in running.items():
                _, _, of_actor, scope = key
                mine = of_actor == actor and scope in (ALL_CONVERSATIONS, conversation_id)
                self._db.memo.put(key, _RUN_TABLES, (*ids_, run_id) if mine else ids_)
        return Run(run_id, agent_id, "running", None, from_db(now), None, actor, conversation_id)

    def get_run(self, run_id: str) -> Run:
        with self._read() as con:
            return self._run_row(con, run_id)

    @staticmethod
    def _run_row(con: Any, run_id: str) -> Run:
        row = con.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", [run_id]).fetchone()
        if row is None:
            raise NotFound(f"no run '{run_id}'", "see `memos runs list`")
        return _run(row)

    def list_runs(self, *, agent_id: str | None = None, since: datetime | None = None,
                  status: str | None = None, actor: RunActor | None = None, limit: int = 50,
                  after: str | None = None, run_ids: Sequence[str] | None = None,
                  agent_ids: Sequence[str] | None = None, statuses: Sequence[str] | None = None,
                  order: Literal["asc", "desc"] = "desc", conversation_id: str | None = None) -> list[RunSummary]:
        where, params = ["true"], list[Any]()
        for column, values in (("r.id", run_ids), ("r.agent_id", agent_ids), ("r.status", statuses)):
            if values is not None:
                if not values:
                    return []
                where.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params += list(values)
        for column, value in (("r.agent_id", agent_id), ("r.status", status), ("r.actor", actor),
                              ("r.conversation_id", conversation_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("r.created_at >= ?")
            params.append(to_db(since))
        with self._read() as con:
            direction = page_after(con, "runs", "created_at", after, order, where, params, alias="r.", what="run")
            # The runs first (a page of them), then their steps' and tool calls' totals: the
            # aggregate touches only the page's rows, however many runs there are.
            found = con.execute(
                f"SELECT {', '.join('r.' + c for c in RUN_COLUMNS.split(', '))}, a.name FROM runs r "
                f"JOIN agents a ON a.id = r.agent_id WHERE {' AND '.join(where)} "
                f"ORDER BY r.created_at {direction}, r.id {direction} LIMIT ?", [*params, limit]).fetchall()
            if not found:
                return []
            marks = ", ".join("?" for _ in found)
            run_ids = [r[0] for r in found]
            totals = {r[0]: r[1:] for r in con.execute(
                "SELECT run_id, count(*), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0), "
                "coalesce(sum(cached_tokens), 0), sum(cost_usd), count(*) - count(cost_usd) "
                f"FROM steps WHERE run_id IN ({marks}) GROUP BY run_id", run_ids).fetchall()}
            calls = {r[0]: r[1:] for r in con.execute(
                "SELECT s.run_id, count(*), sum(CASE WHEN t.status = 'error' THEN 1 ELSE 0 END) FROM tool_calls t "
                f"JOIN steps s ON s.id = t.step_id WHERE s.run_id IN ({marks}) GROUP BY s.run_id", run_ids).fetchall()}
        out = []
        for row in found:
            steps, prompt, completion, cached, cost, unpriced = totals.get(row[0], (0, 0, 0, 0, None, 0))
            n_calls, n_errors = calls.get(row[0], (0, 0))
            out.append(RunSummary(_run(row[:-1]), row[-1], int(steps), int(prompt), int(completion), int(cached),
                                  None if unpriced else float(cost or 0.0),
                                  int(unpriced), int(n_calls), int(n_errors or 0)))
        return out

    def list_steps(self, *, run_id: str | None = None, agent_id: str | None = None, limit: int = 100,
                   after: str | None = None, order: Literal["asc", "desc"] = "asc", model: str | None = None,
                   start: datetime | None = None, end: datetime | None = None) -> list[Step]:
        where, params = ["true"], list[Any]()
        for column, value in (("run_id", run_id), ("agent_id", agent_id), ("model", model)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        for bound, moment in ((">=", start), ("<=", end)):
            if moment is not None:
                where.append(f"created_at {bound} ?")
                params.append(to_db(moment))
        with self._read() as con:
            direction = page_after(con, "steps", "created_at", after, order, where, params, what="step")
            rows = con.execute(f"SELECT {STEP_COLUMNS} FROM steps WHERE {' AND '.join(where)} "
                               f"ORDER BY created_at {direction}, id {direction} LIMIT ?", [*params, limit]).fetchall()
            return self._with_calls(con, rows)

    def get_step(self, step_id: str) -> Step:
        with self._read() as con:
            rows = con.execute(f"SELECT {STEP_COLUMNS} FROM steps WHERE id = ?", [step_id]).fetchall()
            if not rows:
                raise NotFound(f"no step '{step_id}'", "see `memos runs show RUN`")
            return self._with_calls(con, rows)[0]

    def set_step_feedback(self, step_id: str, feedback: str | None, tags: Sequence[str] | None) -> Step:
        with self._write() as con:
            if con.execute("SELECT 1 FROM steps WHERE id = ?", [step_id]).fetchone() is None:
                raise NotFound(f"no step '{step_id}'", "see `memos runs show RUN`")
            if feedback is not None:
                con.execute("UPDATE steps SET feedback = ? WHERE id = ?", [feedback, step_id])
            if tags is not None:
                con.execute("UPDATE steps SET feedback_tags = ? WHERE id = ?", [json.dumps(list(tags)), step_id])
            rows = con.execute(f"SELECT {STEP_COLUMNS} FROM steps WHERE id = ?", [step_id]).fetchall()
            return self._with_calls(con, rows)[0]

    def delete_run(self, run_id: str) -> None:
        with self._write() as con:
            run = self._run_row(con, run_id)
            if run.status == "running":
                raise AgentBusy(f"run {run_id} is still running", "cancel it first: memos cancel / POST "
                                "/v1/agents/{id}/messages/cancel")
            step_ids = [r[0] for r in con.execute("SELECT id FROM steps WHERE run_id = ?", [run_id]).fetchall()]
            if step_ids:
                marks = ", ".join("?" for _ in step_ids)
                # A call still waiting for approval is the agent's open question, not history.
                con.execute(f"DELETE FROM tool_calls WHERE step_id IN ({marks}) AND status <> 'pending'", step_ids)
            con.execute("DELETE FROM steps WHERE run_id = ?", [run_id])
            con.execute("DELETE FROM run_chunks WHERE run_id = ?", [run_id])
            con.execute("DELETE FROM runs WHERE id = ?", [run_id])

    def _with_calls(self, con: Any, rows: list[Any]) -> list[Step]:
        if not rows:
            return []
        step_ids = [r[0] for r in rows]
        by_step: dict[str, list[ToolCallRecord]] = {}
        for r in con.execute(f"SELECT {TOOL_CALL_COLUMNS} FROM tool_calls WHERE step_id IN "
                             f"({', '.join('?' for _ in step_ids)}) ORDER BY created_at, id", step_ids).fetchall():
            call = _tool_call(r)
            by_step.setdefault(call.step_id or "", []).append(call)
        return [_step(r, tuple(by_step.get(r[0], ()))) for r in rows]

    def usage(self, *, since: datetime | None = None, agent_id: str | None = None, model: str | None = None,
              by: UsageGroup = "none") -> list[UsageRow]:
        where, params = ["true"], list[Any]()
        calls_where, calls_params = "", list[Any]()
        if since is not None:
            where.append("s.created_at >= ?")
            params.append(to_db(since))
            # A step's tool calls carry its time (record_step writes both), so the same bound
            # leaves out no call of a counted step and spares aggregating the older ones.
            calls_where, calls_params = "WHERE created_at >= ? ", [to_db(since)]
        for column, value in (("s.agent_id", agent_id), ("s.model", model)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        key = {"day": "CAST(CAST(s.created_at AS DATE) AS VARCHAR)", "agent": "a.name", "model": "s.model",
               "none": "'all'"}[by]
        p50, p95 = (self._percentile("s.duration_ms", q) for q in (0.5, 0.95))
        # Tool calls are counted per step first, so joining them does not repeat the step's tokens.
        sql = (f"SELECT {key} AS k, coalesce(r.actor, 'agent') AS actor, count(*), sum(s.prompt_tokens), "
               "sum(s.completion_tokens), sum(coalesce(s.cached_tokens, 0)), coalesce(sum(s.cost_usd), 0), "
               f"count(*) - count(s.cost_usd), coalesce(sum(t.calls), 0), coalesce(sum(t.errors), 0), {p50}, {p95} "
               "FROM steps s JOIN runs r ON r.id = s.run_id JOIN agents a ON a.id = s.agent_id "
               "LEFT JOIN (SELECT step_id, count(*) AS calls, "
               f"sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS errors FROM tool_calls {calls_where}"
               "GROUP BY step_id) t "
               f"ON t.step_id = s.id WHERE {' AND '.join(where)} GROUP BY 1, 2 ORDER BY 1, 2")
        with self._read() as con:
            found = con.execute(sql, [*calls_params, *params]).fetchall()
        return [UsageRow(str(r[0]), str(r[1]), int(r[2]), int(r[3] or 0), int(r[4] or 0), int(r[5] or 0),
                         float(r[6] or 0.0), int(r[7]), int(r[8]), int(r[9]), _ms(r[10]), _ms(r[11]))
                for r in found]

    def _percentile(self, expression: str, q: float) -> str:
        if self.dialect == "postgresql":
            return f"percentile_cont({q}) WITHIN GROUP (ORDER BY {expression})"
        return f"quantile_cont({expression}, {q})"

    def finish_run(self, run_id: str, status: str, stop_reason: str) -> None:
        with self._write() as con:
            running = self._db.memo.kept(("running",))
            con.execute("UPDATE runs SET status = ?, stop_reason = ?, completed_at = ? WHERE id = ?",
                        [status, stop_reason, to_db(utcnow()), run_id])
            for key, ids_ in running.items():  # no longer running, whatever its new status
                self._db.memo.put(key, _RUN_TABLES, tuple(i for i in ids_ if i != run_id))

    def record_step(self, agent_id: str, step: StepRecord, messages: Sequence[NewMessage],
                    tool_calls: Sequence[ToolCallRecord]) -> tuple[str, list[Message]]:
        step_id, now = step.id or ids.new_id("step"), to_db(utcnow())
        with self._write() as con:
            con.execute("INSERT INTO steps (id, run_id, agent_id, model, prompt_tokens, completion_tokens, cost_usd, "
                        "latency_ms, stop_reason, created_at, cached_tokens, duration_ms) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [step_id, step.run_id, agent_id, step.model, step.prompt_tokens, step.completion_tokens,
                         step.cost_usd, step.latency_ms, step.stop_reason, now, step.cached_tokens, step.duration_ms])
            stored = self.append_messages(agent_id, [replace(m, step_id=step_id, run_id=step.run_id)
                                                     for m in messages])
            if any(call.status == "pending" for call in tool_calls):
                self._db.memo.pending_call_added(agent_id)
            written = from_db(now)
            for index, call in enumerate(tool_calls):
                # a microsecond apart: listed by created_at, a step's calls keep the model's order
                con.execute(f"INSERT INTO tool_calls ({TOOL_CALL_COLUMNS}) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [call.id, agent_id, call.tool_call_id, call.name, json.dumps(call.arguments),
                             call.result, call.status, call.duration_ms, step_id, call.tool_commit,
                             to_db(written + timedelta(microseconds=index)), call.decision, call.decision_reason,
                             call.decision_batch])
        return step_id, stored

    def pending_tool_calls(self, agent_id: str, conversation: ConversationScope = ALL_CONVERSATIONS
                           ) -> list[ToolCallRecord]:
        return [call for call in self.unsettled_tool_calls(agent_id, conversation) if call.decision != HELD]

    def unsettled_tool_calls(self, agent_id: str, conversation: ConversationScope = ALL_CONVERSATIONS
                             ) -> list[ToolCallRecord]:
        with self._read() as con:
            # Asked before every turn; while this process keeps the file, only it can add one.
            if self._db.memo.has_no_pending_calls(agent_id):
                return []
            pending = [(_tool_call(r[:-1]), r[-1]) for r in con.execute(
                f"SELECT {', '.join('c.' + c for c in TOOL_CALL_COLUMNS.split(', '))}, r.conversation_id "
                "FROM tool_calls c LEFT JOIN steps s ON s.id = c.step_id LEFT JOIN runs r ON r.id = s.run_id "
                "WHERE c.agent_id = ? AND c.status = 'pending' ORDER BY c.created_at, c.id", [agent_id]).fetchall()]
            if not pending:
                self._db.memo.no_pending_calls(agent_id)
            # A call belongs to the conversation of the run that made it.
            return [call for call, where in pending
                    if conversation == ALL_CONVERSATIONS or where == conversation]

    def resolve_tool_call(self, tool_call_row_id: str, *, status: str, result: str, duration_ms: float | None,
                          message: NewMessage, decision: Decision | None = None) -> Message:
        with self._write() as con:
            self._lock(con, tool_call_row_id)  # settled once, by one caller
            row = con.execute("SELECT agent_id, status FROM tool_calls WHERE id = ?", [tool_call_row_id]).fetchone()
            if row is None or row[1] != "pending":
                raise NotFound("no pending tool call to settle", "see `memos approve --list`")
            con.execute("UPDATE tool_calls SET status = ?, result = ?, duration_ms = ?, decision = ?, "
                        "decision_reason = ?, decision_batch = ? WHERE id = ?",
                        [status, result, duration_ms, decision.kind if decision else None,
                         decision.reason if decision else None, decision.batch if decision else None,
                         tool_call_row_id])
            return self.append_messages(row[0], [message])[0]

    def decided_calls(self, agent_id: str, tool_call_ids: Sequence[str]) -> list[ToolCallRecord]:
        if not tool_call_ids:
            return []
        marks = ", ".join("?" for _ in tool_call_ids)
        with self._read() as con:
            return [_tool_call(r) for r in con.execute(
                f"SELECT {TOOL_CALL_COLUMNS} FROM tool_calls WHERE agent_id = ? AND decision_batch IN "
                f"(SELECT decision_batch FROM tool_calls WHERE agent_id = ? AND tool_call_id IN ({marks}) "
                "AND decision_batch IS NOT NULL) ORDER BY created_at, id",
                [agent_id, agent_id, *tool_call_ids]).fetchall()]

    def list_tool_calls(self, agent_id: str, *, name: str | None = None, limit: int = 100) -> list[ToolCallRecord]:
        where, params = "agent_id = ?", [agent_id]
        if name:
            where += " AND name = ?"
            params.append(name)
        with self._read() as con:
            return [_tool_call(r) for r in con.execute(
                f"SELECT {TOOL_CALL_COLUMNS} FROM tool_calls WHERE {where} ORDER BY created_at DESC LIMIT ?",
                [*params, limit]).fetchall()]
