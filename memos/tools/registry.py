"""JSON schemas for tools, from a function's signature and its docstring.

The same code path serves the built-in tools and, later, the agent's own tools.
Google style (``Args:`` with ``name (type): text``) and NumPy style
(``Parameters`` / ``----------``) docstrings are understood. Parameters named
``ctx`` are supplied by memos and hidden from the model.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Union

HIDDEN_PARAMETERS = {"ctx"}
# A name a model can be given for a tool (OpenAI's function names; the other providers take these too).
FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class SchemaError(ValueError):
    """A tool whose schema cannot be built (missing docstring, unsupported type)."""


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]
    commit: str | None = None  # a custom tool's: the tool repo commit its code came from
    return_char_limit: int | None = None  # the longest result the agent reads (None: memos's cap)

    def openai_schema(self) -> dict[str, Any]:
        return {"type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}


def _json_type(annotation: Any, where: str) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is str:
        return {"type": "string"}
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is int:
        return {"type": "integer"}
    if annotation is float:
        return {"type": "number"}
    if annotation in (dict, dict) or origin is dict:
        return {"type": "object"}
    if annotation in (list, list):
        return {"type": "array"}
    if origin is list:
        return {"type": "array", "items": _json_type(args[0], where) if args else {}}
    if origin is Literal:
        kinds = {type(a) for a in args}
        base = _json_type(kinds.pop(), where) if len(kinds) == 1 else {}
        return {**base, "enum": list(args)}
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _json_type(rest[0], where)
        return {"anyOf": [_json_type(a, where) for a in rest]}
    raise SchemaError(f"{where}: unsupported type {annotation!r} (use str, int, float, bool, list, dict, Literal)")


def _is_optional(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (Union, types.UnionType) and type(None) in typing.get_args(annotation)


_GOOGLE_ARG = re.compile(r"^\s{2,}(\*{0,2}\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """(description, {parameter: description}) from a Google or NumPy style docstring."""
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    section = "summary"
    current: str | None = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        header = stripped.rstrip(":").lower()
        next_line = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if header in ("args", "arguments", "parameters", "params") and (stripped.endswith(":") or set(next_line) == {"-"}):
            section, current = "args", None
            continue
        if header in ("returns", "return", "raises", "yields", "examples", "example", "notes") and (
                stripped.endswith(":") or set(next_line) == {"-"}):
            section = "other"
            continue
        if set(stripped) == {"-"}:
            continue
        if section == "summary":
            summary.append(line)
        elif section == "args":
            google = _GOOGLE_ARG.match("  " + line if not line.startswith(" ") and ":" in line else line)
            numpy = re.match(r"^(\w+)\s*:\s*(.*)$", line) if not line.startswith(" ") else None
            if numpy:
                current = numpy.group(1)
                params[current] = ""
            elif google and not line.startswith("      "):
                current = google.group(1)
                params[current] = google.group(3).strip()
            elif current and stripped:
                params[current] = f"{params[current]} {stripped}".strip()
    description = " ".join(" ".join(summary).split())
    return description, params


def build_spec(function: Callable[..., Any], name: str | None = None) -> ToolSpec:
    tool_name = name or function.__name__
    doc = inspect.getdoc(function)
    if not doc:
        raise SchemaError(f"tool {tool_name} has no docstring: describe what it does and its arguments")
    description, documented = parse_docstring(doc)
    hints = typing.get_type_hints(function)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.name in HIDDEN_PARAMETERS:
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise SchemaError(f"tool {tool_name}: *args/**kwargs cannot be described to a model")
        if parameter.name not in hints:
            raise SchemaError(f"tool {tool_name}: parameter '{parameter.name}' has no type hint")
        annotation = hints[parameter.name]
        schema = _json_type(annotation, f"tool {tool_name}, parameter '{parameter.name}'")
        if parameter.name in documented and documented[parameter.name]:
            schema["description"] = documented[parameter.name]
        if parameter.default is not inspect.Parameter.empty and parameter.default is not None:
            schema["default"] = parameter.default
        properties[parameter.name] = schema
        if parameter.default is inspect.Parameter.empty and not _is_optional(annotation):
            required.append(parameter.name)
    return ToolSpec(tool_name, description, {"type": "object", "properties": properties, "required": required},
                    function)


def check_arguments(name: str, parameters: dict[str, Any], arguments: dict[str, Any]) -> None:
    """Refuse arguments the schema does not name, or that miss a required one (one message for both)."""
    from memos.errors import InvalidInput

    properties = parameters.get("properties", {})
    unknown = sorted(set(arguments) - set(properties))
    missing = [p for p in parameters.get("required", []) if p not in arguments]
    if unknown or missing:
        raise InvalidInput(f"{name} takes {', '.join(properties) or 'no arguments'}"
                           + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                           + (f"; missing: {', '.join(missing)}" if missing else ""))
