"""Tool rules (Letta's types): which tools may run next, when the loop must stop or go on.

Rules are dicts ``{"type": ..., "tool_name": ..., ...}`` stored on the agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from memos.errors import InvalidInput

RULE_TYPES = {"run_first", "exit_loop", "continue_loop", "constrain_child_tools", "max_count_per_step",
              "requires_approval", "parent_last_tool", "required_before_exit", "conditional"}
SUPPORTED = {"run_first", "exit_loop", "continue_loop", "constrain_child_tools", "max_count_per_step",
             "requires_approval", "required_before_exit", "conditional"}
ALIASES = {"child": "constrain_child_tools", "terminal": "exit_loop", "init": "run_first"}


def normalise(rule: dict[str, Any], known_tools: set[str], *, any_tool: bool = False) -> dict[str, Any]:
    """A rule in memos's shape, or InvalidInput. ``any_tool``: as Letta's API takes rules, naming
    tools the agent does not have (yet); such a rule does nothing until it has them."""
    if any_tool and isinstance(rule, dict):
        named = [rule.get("tool_name"), *(rule.get("children") or []),
                 *((rule.get("child_output_mapping") or {}).values()), rule.get("default_child")]
        known_tools = known_tools | {n for n in named if isinstance(n, str) and n}
    return _normalise(rule, known_tools)


def _normalise(rule: dict[str, Any], known_tools: set[str]) -> dict[str, Any]:
    if not isinstance(rule, dict):
        raise InvalidInput("a tool rule must be a JSON object with 'type' and 'tool_name'")
    kind = ALIASES.get(str(rule.get("type")), rule.get("type"))
    name = rule.get("tool_name")
    if kind not in RULE_TYPES:
        raise InvalidInput(f"unknown tool rule type '{rule.get('type')}'", f"use one of {', '.join(sorted(SUPPORTED))}")
    if kind not in SUPPORTED:
        raise InvalidInput(f"tool rule type '{kind}' is not supported yet")
    if not isinstance(name, str) or name not in known_tools:
        raise InvalidInput(f"tool rule names an unknown tool '{name}'", f"known tools: {', '.join(sorted(known_tools))}")
    out: dict[str, Any] = {"type": kind, "tool_name": name}
    if kind == "constrain_child_tools":
        children = rule.get("children")
        if not isinstance(children, list) or not children or not all(c in known_tools for c in children):
            raise InvalidInput(f"constrain_child_tools for {name} needs 'children': a list of known tools")
        out["children"] = children
    if kind == "max_count_per_step":
        limit = rule.get("max_count_limit", rule.get("limit"))
        if not isinstance(limit, int) or limit < 1:
            raise InvalidInput(f"max_count_per_step for {name} needs 'max_count_limit': a whole number >= 1")
        out["max_count_limit"] = limit
    if kind == "conditional":
        out.update(_conditional(rule, name, known_tools))
    return out


def _conditional(rule: dict[str, Any], name: str, known_tools: set[str]) -> dict[str, Any]:
    """Letta's conditional rule: the tool's output picks the next tool (mapping keys are outputs)."""
    mapping = rule.get("child_output_mapping")
    if not isinstance(mapping, dict) or not mapping:
        raise InvalidInput(f"conditional rule for {name} needs 'child_output_mapping': output -> tool")
    default = rule.get("default_child")
    for child in [*mapping.values(), *([default] if default is not None else [])]:
        if child not in known_tools:
            raise InvalidInput(f"conditional rule for {name} names an unknown tool '{child}'")
    return {"child_output_mapping": {str(k): v for k, v in mapping.items()}, "default_child": default,
            "require_output_mapping": bool(rule.get("require_output_mapping", False))}


def _matches(output: str, key: str) -> bool:
    """An output matches a mapping key as Letta matches it: true/false without case, numbers by value."""
    text = output.strip()
    if key.lower() in ("true", "false"):
        return text.lower() == key.lower()
    try:
        return float(text) == float(key)
    except ValueError:
        return text == key


@dataclass
class RuleState:
    """Where a turn stands with respect to the agent's rules."""

    rules: list[dict[str, Any]]
    calls: list[str] = field(default_factory=list)
    last_output: str | None = None  # what the last call returned (conditional rules read it)

    def _of(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.rules if r["type"] == kind]

    def allowed(self, available: list[str]) -> list[str]:
        """Tools the model may call now."""
        firsts = [r["tool_name"] for r in self._of("run_first") if r["tool_name"] in available]
        if not self.calls and firsts:  # a rule for a tool the agent does not have does nothing
            return firsts
        allowed = list(available)
        if self.calls:
            last = self.calls[-1]
            for rule in self._of("constrain_child_tools"):
                if rule["tool_name"] == last:
                    allowed = [t for t in allowed if t in rule["children"]]
            for rule in self._of("conditional"):
                if rule["tool_name"] == last:
                    allowed = [t for t in allowed if t in self._chosen_by(rule, allowed)]
        for rule in self._of("max_count_per_step"):
            if self.calls.count(rule["tool_name"]) >= rule["max_count_limit"]:
                allowed = [t for t in allowed if t != rule["tool_name"]]
        return allowed

    def violation(self, name: str, available: list[str]) -> str | None:
        if name not in available:  # a name the model made up: not a rule's doing
            return f"there is no tool named '{name}'; the tools are: {', '.join(available) or 'none'}"
        if name not in self.allowed(available):
            return f"tool '{name}' is not allowed now by the agent's tool rules; allowed: {', '.join(self.allowed(available)) or 'none'}"
        return None

    def _chosen_by(self, rule: dict[str, Any], allowed: list[str]) -> list[str]:
        output = self.last_output
        if output is not None:
            for key, child in rule["child_output_mapping"].items():
                if _matches(output, key):
                    return [child]
        if rule["require_output_mapping"]:
            return []
        return [rule["default_child"]] if rule["default_child"] else allowed

    def record(self, name: str) -> None:
        self.calls.append(name)
        self.last_output = None

    def returned(self, name: str, output: str) -> None:
        """A call's output; kept when it is the last call recorded (built-ins run after the others)."""
        if self.calls and self.calls[-1] == name:
            self.last_output = output

    def needs_approval(self, name: str) -> bool:
        return any(r["tool_name"] == name for r in self._of("requires_approval"))

    def ends_turn(self, name: str, terminal_by_default: bool) -> bool:
        if any(r["tool_name"] == name for r in self._of("continue_loop")):
            return False
        if any(r["tool_name"] == name for r in self._of("exit_loop")):
            return True
        return terminal_by_default

    def missing_before_exit(self) -> list[str]:
        return [r["tool_name"] for r in self._of("required_before_exit") if r["tool_name"] not in self.calls]
