"""Reading a Letta agent file into plain records memos can import, refusing what it cannot take.

Two formats exist. The current one (Letta 0.8 on, `AgentFileSchema`) lists ``agents``,
``blocks``, ``tools``, ``groups``, ``files``, ``sources``, ``mcp_servers`` side by side, the
agents naming the rest by file-local ids ("block-0"). The older one is a single agent with its
``core_memory`` blocks, ``tools`` and ``messages`` inline. Both come out as one `AgentFile`.

Nothing here touches the store: a file that fails to read leaves nothing behind by construction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from memos.core.letta import PROVIDERS
from memos.core.limits import value_problem
from memos.errors import BadAgentFile

MAX_FILE_BYTES = 100 * 1024 * 1024  # Letta's own exports with long histories stay well under this
MAX_DEPTH = 64  # the deepest real file nests ~10 levels; more is a hostile or broken file

@dataclass
class FileBlock:
    key: str
    label: str
    value: str
    limit: int
    description: str = ""
    read_only: bool = False


@dataclass
class FileTool:
    key: str
    name: str
    tool_type: str
    description: str
    source_code: str | None
    json_schema: dict[str, Any] | None
    pip_requirements: list[Any]
    raw: dict[str, Any]  # as the file has it: kept for tools memos cannot run, so export can give them back


@dataclass
class FileMessage:
    role: str
    content: str
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    created_at: datetime | None = None
    in_context: bool = True


@dataclass
class FileAgent:
    key: str
    name: str
    description: str
    system: str
    agent_type: str
    llm_config: dict[str, Any]
    embedding_config: dict[str, Any]
    block_keys: list[str]
    tool_keys: list[str]
    tool_rules: list[dict[str, Any]]
    messages: list[FileMessage]
    tags: list[str]
    metadata: dict[str, Any]
    env_var_names: list[str]
    skipped_messages: int = 0  # approval records and the like, which memos's log has no place for
    extra: dict[str, Any] = field(default_factory=dict)  # the agent's Letta-only fields, for export


@dataclass
class AgentFile:
    agents: list[FileAgent]
    blocks: dict[str, FileBlock]
    tools: dict[str, FileTool]
    leftovers: dict[str, list[Any]]  # groups, files, sources, mcp_servers, skills: memos has none yet
    metadata: dict[str, Any]
    legacy: bool


def load_bytes(path: str) -> bytes:
    """A file's bytes ('-': standard input), at most one byte more than an agent file may have
    (read_agent_file refuses that); a file too big is refused before it is read."""
    import sys

    if path == "-":
        return sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    from memos.core.files import read_bytes

    return read_bytes(path, limit=MAX_FILE_BYTES, what="agent files")


def read_agent_file(data: bytes | str, source: str = "the agent file") -> AgentFile:
    """The file's agents and what they use, or BadAgentFile naming the first problem."""
    if len(data) > MAX_FILE_BYTES:  # read with one byte to spare: more than the limit, however much more
        raise BadAgentFile(f"{source} holds more than {MAX_FILE_BYTES // 1024 // 1024} MB; memos imports agent "
                           "files up to that", "export the agent without its messages")
    document = _parse(data, source)
    if isinstance(document, str):  # some published files hold their JSON as one JSON string
        document = _parse(document, source)
    if not isinstance(document, dict):
        raise BadAgentFile(f"{source} is not a Letta agent file: it holds a JSON {type(document).__name__}",
                           "give a .af file exported by Letta or memos")
    _check_depth(document, source)
    problem = value_problem(document, "the file")
    if problem:
        raise BadAgentFile(f"{source}: {problem}", "no agent file holds NUL bytes or text that is not Unicode")
    if isinstance(document.get("agents"), list):
        parsed = _current(document, source)
    elif "core_memory" in document or "llm_config" in document:
        parsed = _current(_from_legacy(document), source, legacy=True)
    else:
        raise BadAgentFile(f"{source} is not a Letta agent file: it has neither 'agents' nor 'core_memory'",
                           "give a .af file exported by Letta or memos")
    if not parsed.agents:
        raise BadAgentFile(f"{source} holds no agent")
    return parsed


def _parse(data: bytes | str, source: str) -> Any:
    try:
        return json.loads(data)
    except RecursionError:
        raise BadAgentFile(f"{source} is nested too deeply to be an agent file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise BadAgentFile(f"{source} is not valid JSON{where}", "give a .af file exported by Letta or memos") from None


def _check_depth(document: Any, source: str) -> None:
    todo: list[tuple[Any, int]] = [(document, 1)]
    while todo:
        node, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise BadAgentFile(f"{source} nests deeper than {MAX_DEPTH} levels; no agent file does")
        if isinstance(node, dict):
            todo.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            todo.extend((value, depth + 1) for value in node)


# -- the older single-agent format -------------------------------------------------------------
def _from_legacy(old: dict[str, Any]) -> dict[str, Any]:
    """The single-agent format rewritten as the current one (ids made up: "block-0", "tool-0")."""
    blocks = [{**block, "id": f"block-{i}"} for i, block in enumerate(_list(old.get("core_memory")))]
    tools = [{**tool, "id": f"tool-{i}"} for i, tool in enumerate(_list(old.get("tools")))]
    messages = [{**message, "id": f"message-{i}"} for i, message in enumerate(_list(old.get("messages")))]
    indices = old.get("in_context_message_indices")
    in_context = [f"message-{i}" for i in indices if isinstance(i, int)] if isinstance(indices, list) else None
    agent = {
        "id": "agent-0", "name": old.get("name"), "description": old.get("description"), "system": old.get("system"),
        "agent_type": old.get("agent_type"), "llm_config": old.get("llm_config"),
        "embedding_config": old.get("embedding_config"), "tool_rules": old.get("tool_rules"), "tags": old.get("tags"),
        "metadata": old.get("metadata_"), "block_ids": [b["id"] for b in blocks], "tool_ids": [t["id"] for t in tools],
        "messages": messages, "in_context_message_ids": in_context,
        "tool_exec_environment_variables": old.get("tool_exec_environment_variables"),
        "group_ids": ["group-0"] if old.get("multi_agent_group") else [],
    }
    groups = [old["multi_agent_group"]] if old.get("multi_agent_group") else []
    return {"agents": [agent], "blocks": blocks, "tools": tools, "groups": groups, "files": [], "sources": [],
            "mcp_servers": [], "metadata": {}}


# -- the current format ---------------------------------------------------------------------------
LEFTOVER_KINDS = ("groups", "files", "sources", "mcp_servers", "skills")
AGENT_FIELDS_USED = {"id", "name", "description", "system", "agent_type", "llm_config", "embedding_config",
                     "block_ids", "tool_ids", "tool_rules", "messages", "in_context_message_ids", "tags",
                     "metadata", "tool_exec_environment_variables", "secrets", "memory_blocks", "tools"}


def _current(document: dict[str, Any], source: str, legacy: bool = False) -> AgentFile:
    blocks = _keyed(document.get("blocks"), "block", source, _block)
    tools = _keyed(document.get("tools"), "tool", source, _tool)
    names: dict[str, str] = {}
    for tool in tools.values():
        if tool.name in names:
            raise BadAgentFile(f"{source} has two tools named '{tool.name}' ({names[tool.name]} and {tool.key})",
                               "an agent file names each tool once")
        names[tool.name] = tool.key
    agents = [_agent(raw, i, blocks, tools, source) for i, raw in enumerate(_list(document.get("agents")))]
    keys = [a.key for a in agents]
    if len(set(keys)) != len(keys):
        raise BadAgentFile(f"{source} has two agents with the same id", "an agent file names each agent once")
    leftovers = {kind: _list(document.get(kind)) for kind in LEFTOVER_KINDS if _list(document.get(kind))}
    return AgentFile(agents, blocks, tools, leftovers, _dict(document.get("metadata")), legacy)


def _keyed(items: Any, kind: str, source: str, make: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, raw in enumerate(_list(items)):
        if not isinstance(raw, dict):
            raise BadAgentFile(f"{kind} {i} of {source} is not a JSON object")
        key = str(raw.get("id") or f"{kind}-{i}")
        if key in out:
            raise BadAgentFile(f"{source} has two {kind}s with the id '{key}'", f"an agent file names each {kind} once")
        out[key] = make(raw, key, source)
    return out


def _block(raw: dict[str, Any], key: str, source: str) -> FileBlock:
    label, value = raw.get("label"), raw.get("value", "")
    if not isinstance(label, str) or not label.strip():
        raise BadAgentFile(f"block {key} of {source} has no label")
    if not isinstance(value, str):
        raise BadAgentFile(f"block {label} of {source} has a value that is not text")
    limit = raw.get("limit")
    if limit is None:
        limit = max(len(value), 20_000)  # Letta's default
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise BadAgentFile(f"block {label} of {source} has a limit that is not a whole number")
    return FileBlock(key, label, value, limit, _text(raw.get("description")), bool(raw.get("read_only")))


def _tool(raw: dict[str, Any], key: str, source: str) -> FileTool:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise BadAgentFile(f"tool {key} of {source} has no name")
    schema = raw.get("json_schema") if isinstance(raw.get("json_schema"), dict) else None
    code = raw.get("source_code")
    return FileTool(key, name, str(raw.get("tool_type") or "custom"), _text(raw.get("description")),
                    code if isinstance(code, str) and code.strip() else None, schema,
                    _list(raw.get("pip_requirements")), {k: v for k, v in raw.items() if k != "id"})


def _agent(raw: Any, index: int, blocks: dict[str, FileBlock], tools: dict[str, FileTool],
           source: str) -> FileAgent:
    if not isinstance(raw, dict):
        raise BadAgentFile(f"agent {index} of {source} is not a JSON object")
    key = str(raw.get("id") or f"agent-{index}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadAgentFile(f"agent {key} of {source} has no name")
    block_keys = [str(b) for b in _list(raw.get("block_ids"))]
    tool_keys = [str(t) for t in _list(raw.get("tool_ids"))]
    for wanted, have, kind in ((block_keys, blocks, "block"), (tool_keys, tools, "tool")):
        missing = [k for k in wanted if k not in have]
        if missing:
            raise BadAgentFile(f"agent {name} of {source} uses {kind} '{missing[0]}', which the file does not have")
    labels = [blocks[k].label for k in block_keys]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise BadAgentFile(f"agent {name} of {source} has two blocks labelled '{twice[0]}'",
                           "give each block of an agent its own label")
    system = raw.get("system")
    if system is not None and not isinstance(system, str):
        raise BadAgentFile(f"the system prompt of agent {name} in {source} is not text")
    messages, skipped = _messages(raw, name, source)
    env = raw.get("tool_exec_environment_variables")
    env_names = sorted(env) if isinstance(env, dict) else sorted(
        str(e.get("key")) for e in _list(env) if isinstance(e, dict) and e.get("key"))
    tags = [t for t in _list(raw.get("tags")) if isinstance(t, str)]
    rules = [r for r in _list(raw.get("tool_rules")) if isinstance(r, dict)]
    extra = {k: v for k, v in raw.items() if k not in AGENT_FIELDS_USED and v not in (None, [], {}, False)}
    return FileAgent(key, name, _text(raw.get("description")), system or "", str(raw.get("agent_type") or ""),
                     _dict(raw.get("llm_config")), _dict(raw.get("embedding_config")), block_keys, tool_keys,
                     rules, messages, tags, _dict(raw.get("metadata")), env_names, skipped, extra)


def _messages(raw: dict[str, Any], agent: str, source: str) -> tuple[list[FileMessage], int]:
    listed = raw.get("in_context_message_ids")
    in_context = {str(i) for i in listed} if isinstance(listed, list) else None
    out: list[FileMessage] = []
    skipped = 0
    for i, message in enumerate(_list(raw.get("messages"))):
        if not isinstance(message, dict):
            raise BadAgentFile(f"message {i} of agent {agent} in {source} is not a JSON object")
        role = {"function": "tool"}.get(str(message.get("role")), str(message.get("role")))
        if role not in ("system", "user", "assistant", "tool"):
            skipped += 1  # approval requests and answers: memos records those as tool calls, not messages
            continue
        key = str(message.get("id") or f"message-{i}")
        when, live = _when(message.get("created_at")), in_context is None or key in in_context
        name = message.get("name") if isinstance(message.get("name"), str) else None
        text = _content_text(message.get("content"))
        if role == "tool":
            returns = [r for r in _list(message.get("tool_returns")) if isinstance(r, dict)]
            if not text and returns:  # Letta's newer agents keep results in tool_returns
                for r in returns:
                    out.append(FileMessage("tool", _text(r.get("func_response")), name,
                                           tool_call_id=_opt_text(r.get("tool_call_id"))
                                           or _opt_text(message.get("tool_call_id")),
                                           created_at=when, in_context=live))
                continue
            out.append(FileMessage("tool", text, name, tool_call_id=_opt_text(message.get("tool_call_id")),
                                   created_at=when, in_context=live))
            continue
        calls = [_tool_call(c, agent, source) for c in _list(message.get("tool_calls"))] or None
        if role == "user":
            text = _unpacked_user_text(text)
        out.append(FileMessage(role, text, name, calls, created_at=when, in_context=live))
    return out, skipped


def _tool_call(raw: Any, agent: str, source: str) -> dict[str, Any]:
    function = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise BadAgentFile(f"a tool call of agent {agent} in {source} has no function name")
    arguments = function.get("arguments", "")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return {"id": str(raw.get("id") or ""), "name": function["name"], "arguments": arguments}


def _unpacked_user_text(text: str) -> str:
    """MemGPT-era files wrap what the user typed as {"type": "user_message", "message": ...}."""
    if text.startswith("{") and '"user_message"' in text:
        try:
            packed = json.loads(text)
        except json.JSONDecodeError:
            return text
        if isinstance(packed, dict) and packed.get("type") == "user_message" and isinstance(packed.get("message"), str):
            return packed["message"]
    return text


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = [str(part["text"]) for part in _list(content) if isinstance(part, dict)
             and part.get("type", "text") == "text" and isinstance(part.get("text"), str)]
    return "\n".join(parts)


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _opt_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def litellm_model(llm_config: dict[str, Any]) -> str | None:
    """The model a Letta llm_config names, as litellm names it ("openai/gpt-4o-mini")."""
    model = llm_config.get("model")
    if not isinstance(model, str) or not model:
        return None
    if llm_config.get("handle") == model:  # memos's export of a name without a known provider prefix
        return model
    endpoint = str(llm_config.get("model_endpoint_type") or "")
    prefix = PROVIDERS.get(endpoint, endpoint)
    return f"{prefix}/{model}" if prefix and not model.startswith(f"{prefix}/") else model
