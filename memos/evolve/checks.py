"""The checks a proposal must pass: the repo's tests, then shadow replay.

Shadow replay runs recorded real calls of the changed tools on the old code and
on the new, both in the sandbox, and compares them call by call: errors fixed,
errors introduced, outputs changed, time. Recorded results are not trusted as
the baseline (they may come from older code); the old code is run again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any

from memos.store.base import Agent, Store
from memos.tools.sandbox import Sandbox, SandboxResult

TEST_OUTPUT_CHARS = 4_000


@dataclass
class TestReport:
    passed: bool
    summary: str
    output: str

    @classmethod
    def from_result(cls, result: SandboxResult) -> TestReport:
        """The sandbox's pytest job: `ok` means pytest ran; its exit code says whether the tests passed."""
        text = (result.stdout + ("\n" + result.stderr if result.stderr.strip() else "")).strip()
        if not result.ok:
            return cls(False, f"the tests did not finish: {result.message}", text[-TEST_OUTPUT_CHARS:])
        value = result.value or {}
        code = value.get("exit_code")
        summary = f"{value.get('passed', 0)} passed, {value.get('failed', 0)} failed"
        if code == 5:
            summary = "no tests collected"
        elif code not in (0, 1):
            summary += f" (pytest exit code {code})"
        return cls(code in (0, 5), summary, text[-TEST_OUTPUT_CHARS:])


@dataclass
class ReplayedCall:
    tool: str
    arguments: Any
    old: str
    new: str
    old_ok: bool
    new_ok: bool
    old_ms: float
    new_ms: float

    @property
    def outcome(self) -> str:
        if self.old_ok and not self.new_ok:
            return "error introduced"
        if not self.old_ok and self.new_ok:
            return "error fixed"
        if not self.old_ok:
            return "still failing"
        return "same" if self.old == self.new else "output changed"


@dataclass
class ShadowReport:
    calls: list[ReplayedCall] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why some recorded calls were not replayed

    def count(self, outcome: str) -> int:
        return sum(1 for call in self.calls if call.outcome == outcome)

    @property
    def regressions(self) -> int:
        return self.count("error introduced") + self.count("output changed")

    def to_dict(self) -> dict[str, Any]:
        calls = [{**asdict(c), "outcome": c.outcome} for c in self.calls]
        old = sum(c.old_ms for c in self.calls)
        new = sum(c.new_ms for c in self.calls)
        return {"replayed": len(self.calls), "errors_fixed": self.count("error fixed"),
                "errors_introduced": self.count("error introduced"), "outputs_changed": self.count("output changed"),
                "same": self.count("same"), "still_failing": self.count("still failing"),
                "old_ms": round(old, 1), "new_ms": round(new, 1), "calls": calls, "skipped": self.skipped}


def run_tests(sandbox: Sandbox, files: dict[str, str]) -> TestReport:
    has_tests = any(PurePosixPath(p).parts[0] == "tests" and PurePosixPath(p).name.startswith("test_") for p in files)
    if not has_tests:
        return TestReport(True, "no tests in the repo", "")
    return TestReport.from_result(sandbox.pytest(files))


def changed_tools(paths: list[str]) -> list[str]:
    """Tools whose own file changed (a change to a shared helper counts for every tool)."""
    tops = [PurePosixPath(p) for p in paths if len(PurePosixPath(p).parts) == 1 and p.endswith(".py")]
    return sorted({p.stem for p in tops if not p.stem.startswith("_")})


def _text(result: SandboxResult) -> str:
    return result.for_agent() if result.ok else f"Error: {result.message}"


@dataclass(frozen=True)
class RecordedCall:
    tool: str
    arguments: dict[str, Any]
    failed: bool


def recorded_calls(store: Store, agent: Agent, tools: list[str], limit: int) -> list[RecordedCall]:
    """Distinct recorded calls of the tools, errors first, then the most recent; at most ``limit``."""
    found: list[RecordedCall] = []
    seen: set[tuple[str, str]] = set()
    for tool in tools:
        for record in store.list_tool_calls(agent.id, name=tool, limit=limit * 3):
            if record.status not in ("success", "error"):
                continue
            arguments = record.arguments if isinstance(record.arguments, dict) else _parsed(record.arguments)
            if not isinstance(arguments, dict):
                continue
            key = (tool, json.dumps(arguments, sort_keys=True, default=str))
            if key not in seen:
                seen.add(key)
                found.append(RecordedCall(tool, arguments, record.status == "error"))
    found.sort(key=lambda call: not call.failed)  # stable: errors first, each group newest first
    return found[:limit]


def replayable(tools: list[str], old_files: dict[str, str], new_files: dict[str, str],
               report: ShadowReport) -> list[str]:
    kept = []
    for tool in tools:
        if f"{tool}.py" not in old_files:
            report.skipped.append(f"{tool}: new tool, no recorded calls")
        elif f"{tool}.py" not in new_files:
            report.skipped.append(f"{tool}: removed by the change")
        else:
            kept.append(tool)
    return kept


def shadow_replay(sandbox: Sandbox, old_files: dict[str, str], new_files: dict[str, str],
                  calls: list[RecordedCall], report: ShadowReport) -> ShadowReport:
    """Run each recorded call on the old code and on the new, adding to ``report``."""
    for call in calls:
        old = sandbox.call(old_files, call.tool, call.tool, call.arguments)
        new = sandbox.call(new_files, call.tool, call.tool, call.arguments)
        report.calls.append(ReplayedCall(call.tool, call.arguments, _text(old), _text(new), old.ok, new.ok,
                                         old.duration_ms, new.duration_ms))
    return report


def _parsed(raw: Any) -> Any:
    try:
        return json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return None



def describe_shadow(report: dict[str, Any] | None, *, short: bool = False) -> str:
    """A shadow report in words, the same in the CLI, the TUI and archival memory."""
    if not report:
        return "-" if short else "shadow replay not run"
    if short:
        return (f"{report.get('errors_fixed', 0)} fixed / {report.get('errors_introduced', 0)} broke / "
                f"{report.get('outputs_changed', 0)} changed")
    return (f"shadow replay of {report.get('replayed', 0)} recorded calls: {report.get('errors_fixed', 0)} errors "
            f"fixed, {report.get('errors_introduced', 0)} introduced, {report.get('outputs_changed', 0)} outputs "
            f"changed")
