"""Proposals: from recorded tool calls and the agent's notes, the LLM proposes a change to
its tool code (a fix, an improvement or a new tool, with tests), committed on a branch."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from memos.core.context import transcript
from memos.core.llm import LLM
from memos.core.workspace import Workspace
from memos.errors import InvalidInput
from memos.store.base import Agent, Message, ToolCallRecord
from memos.tools.repo import SOURCE_SUFFIXES, ToolRepo

SLOW_MS = 2_000
MAX_FILE_CHARS = 100_000
MAX_SIGNAL_CALLS = 20

PROPOSE_SCHEMA = {"type": "function", "function": {
    "name": "propose_change",
    "description": "Propose one change to your tool repo: whole new contents of each file you change or add.",
    "parameters": {"type": "object", "properties": {
        "title": {"type": "string", "description": "Short imperative summary, e.g. 'Handle empty city names'."},
        "rationale": {"type": "string", "description": "Why: which recorded calls or notes it answers."},
        "files": {"type": "object", "additionalProperties": {"type": "string"},
                  "description": "Path in the repo -> full new file content (tools at top level, tests in tests/)."},
        "delete": {"type": "array", "items": {"type": "string"}, "description": "Paths to delete."},
    }, "required": ["title", "rationale", "files"]}}}
NO_CHANGE_SCHEMA = {"type": "function", "function": {
    "name": "no_change", "description": "Nothing in the tools needs changing now.",
    "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]}}}

PROMPT = """You are {name}, improving your own tool code while nobody is chatting.
Your tools are Python files in a git repo: `<tool>.py` holds a function named like the file,
with type hints and a docstring; tests live in `tests/test_<tool>.py` and run with pytest.
Tools run in a sandbox without network.

Your memory (your own notes about the user and yourself):
{memory}

Recorded problems since your last pass:
{signals}

Earlier attempts that were rejected or rolled back (do not propose the same idea again; if
you change the same tool, say in the rationale what you do differently):
{attempts}

Recent conversation (watch for the user correcting you):
{conversation}

The repo now:
{files}

If a change would help, call propose_change with the full new content of every file you
change or add, including tests that show the change works. Otherwise call no_change."""


@dataclass
class Proposal:
    title: str
    rationale: str
    files: dict[str, str]
    delete: list[str] = field(default_factory=list)


def problem_tools(calls: list[ToolCallRecord], custom: set[str]) -> set[str]:
    """The agent's own tools with a failed or slow recorded call."""
    return {c.name for c in calls if c.name in custom and (c.status == "error" or (c.duration_ms or 0) > SLOW_MS)}


def signals(calls: list[ToolCallRecord], custom: set[str]) -> list[str]:
    """Recorded calls worth a look: errors and slow calls of the agent's own tools."""
    lines = []
    for call in calls:
        if call.name not in custom:
            continue
        arguments = json.dumps(call.arguments, default=str)[:300]
        if call.status == "error":
            lines.append(f"- {call.name}({arguments}) failed: {(call.result or '')[:400]}")
        elif call.duration_ms is not None and call.duration_ms > SLOW_MS:
            lines.append(f"- {call.name}({arguments}) took {call.duration_ms / 1000:.1f}s")
        if len(lines) >= MAX_SIGNAL_CALLS:
            break
    return lines


ARCHIVE_SHOWN = 5
ENDED = ("rejected", "rolled_back")


def archived_attempts(ws: Workspace, agent: Agent, repo: ToolRepo, tools: set[str]) -> list[str]:
    """The agent's rejected and rolled-back evolutions, newest first, as lines for the prompt:
    those that touched ``tools`` (the tools with recorded problems), or the latest when none is
    named. Their branches stay in the repo; this is what the model is told of them."""
    from memos.evolve import branches
    from memos.evolve.checks import changed_tools, describe_shadow

    lines = []
    for evolution in ws.store.list_evolutions(agent.id):
        if evolution.status not in ENDED or not evolution.base_commit or not evolution.head_commit:
            continue
        try:
            touched = set(changed_tools(branches.changed_paths(repo, evolution.base_commit, evolution.head_commit)))
        except Exception:  # noqa: BLE001 - a commit gone from the repo: describe it without its tools
            touched = set()
        if tools and touched and not touched & tools:
            continue
        score = (evolution.utility or {}).get("score")
        lines.append(f"- {evolution.status.replace('_', ' ')}: \"{evolution.title}\" (tools: "
                     f"{', '.join(sorted(touched)) or '?'}; branch {evolution.branch}). Rationale: "
                     f"{evolution.rationale[:300]} Outcome: {describe_shadow(evolution.shadow_report)}"
                     + (f", utility {score:+.2f}" if score is not None else "")
                     + f". Why it ended: {evolution.reason or 'not recorded'}")
        if len(lines) >= ARCHIVE_SHOWN:
            break
    return lines


def ask(ws: Workspace, agent: Agent, repo: ToolRepo, problem_lines: list[str], recent: list[Message],
        llm: LLM | None = None, attempts: list[str] | None = None) -> Proposal | None:
    files = repo.source_files()
    shown = "\n\n".join(f"--- {path}\n{text}" for path, text in files.items() if path.endswith(".py"))
    memory = "\n".join(f"[{b.label}] {b.value}" for b in ws.store.list_agent_blocks(agent.id))
    prompt = PROMPT.format(name=agent.name, memory=memory or "(empty)", signals="\n".join(problem_lines) or "(none recorded)",
                           attempts="\n".join(attempts or []) or "(none)",
                           conversation=transcript(recent)[-20_000:] or "(none)", files=shown or "(empty)")
    completion = (llm or LLM(ws.config)).complete(agent.model, [{"role": "user", "content": prompt}],
                                                  [PROPOSE_SCHEMA, NO_CHANGE_SCHEMA], stream=False)
    call = next((c for c in completion.tool_calls if c.name in ("propose_change", "no_change")), None)
    if call is None or call.name == "no_change":
        return None
    try:
        raw = json.loads(call.arguments)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the proposal's arguments are not JSON ({exc.msg})") from None
    return checked(raw)


def checked(raw: Any) -> Proposal:
    """A proposal that only writes source files inside the repo."""
    if not isinstance(raw, dict) or not isinstance(raw.get("files"), dict):
        raise InvalidInput("the proposal has no files")
    paths = list(raw["files"]) + list(raw.get("delete") or [])
    for path in paths:
        pure = PurePosixPath(str(path))
        if pure.is_absolute() or ".." in pure.parts or pure.parts[:1] == (".git",) or not pure.parts:
            raise InvalidInput(f"the proposal writes outside the tool repo: {path}")
        if pure.suffix not in SOURCE_SUFFIXES:
            raise InvalidInput(f"the proposal writes a {pure.suffix or 'extensionless'} file: {path}")
    for path, text in raw["files"].items():
        if not isinstance(text, str) or len(text) > MAX_FILE_CHARS:
            raise InvalidInput(f"the proposal's {path} is not text of at most {MAX_FILE_CHARS:,} chars")
    if not raw["files"] and not raw.get("delete"):
        raise InvalidInput("the proposal changes nothing")
    return Proposal(str(raw.get("title") or "Change tools").strip()[:120], str(raw.get("rationale") or ""),
                    dict(raw["files"]), [str(p) for p in raw.get("delete") or []])


def branch_name(title: str, evolution_id: str, when: datetime | None = None) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40] or "change"
    day = (when or datetime.now(UTC)).strftime("%Y-%m-%d")
    return f"evolve/{day}-{slug}-{evolution_id.split('-')[1][:6]}"


def write(worktree: ToolRepo, proposal: Proposal) -> None:
    for path, text in proposal.files.items():
        target = worktree.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for path in proposal.delete:
        (worktree.path / path).unlink(missing_ok=True)
