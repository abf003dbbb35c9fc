"""A scripted OpenAI-compatible LLM that does what a Letta test's prompt asks, by simple rules.

Letta's integration tests talk to an agent in plain instructions ("Call the roll_dice tool with
16 sides", "Reply with the message 'X'", "Remember the word: APPLE", "Send a message to all
agents with tags [...]"). This server answers those the way a capable model would, so what the
tests then check is the agent server (memos), not a model's whim:

- a prompt that names tools the request offers and asks to call or use them: one call per tool,
  or one per value when it lists several ('a', 'b', 'c' or num_sides=6, num_sides=12), all in one
  response (parallel calls); arguments from the prompt (quoted text, N sides, agent ids, tags);
- for Claude models (reasoners to Letta's tests: extended thinking), a line of thought before
  every answer;
- after tool results: a reply that quotes them;
- a system prompt saying "respond with a single word: "X"": X; asked about skills, the names in the
  prompt's <available_skills>;
- "Reply with the message 'X'" / "Say 'X' back": X; "Remember the word: X" and later "what word":
  X; "my favorite color is X" and later "favorite color?": X; asked what a tool returned: the
  last tool result in the conversation;
- anything else: "OK, noted."

Also /v1/embeddings (a bag of hashed words, so texts sharing words are near; 1536 wide for
OpenAI's -3-small and ada, 3072 for -3-large, else 768) and /v1/models. Used by
scripts/letta_sdk_tests.py; not part of memos's own suite (tests/fakellm.py is).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

import numpy as np

WIDTHS = {"text-embedding-3-small": 1536, "text-embedding-ada-002": 1536, "text-embedding-3-large": 3072}
DEFAULT_REPLY = "OK, noted."


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def embed(text: str, width: int) -> list[float]:
    vector = np.zeros(width, dtype=np.float64)
    for word in re.findall(r"\w+", text.lower()):
        seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
        vector += np.random.default_rng(seed).standard_normal(width)
    if not vector.any():
        vector[0] = 1.0
    return (vector / np.linalg.norm(vector)).tolist()


def _quoted(prompt: str) -> list[str]:
    return re.findall(r"'([^']+)'", prompt)


def _arguments(tool: dict[str, Any], prompt: str, quoted: list[str], number: int | None) -> dict[str, Any]:
    """A value for each parameter the prompt can fill, and for every required one."""
    schema = tool.get("parameters") or {}
    properties: dict[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    arguments: dict[str, Any] = {}
    agent_id = re.search(r"agent-[0-9a-f-]{36}", prompt)
    tags = re.search(r"\[([^\]]*)\]", prompt)
    for name, spec in properties.items():
        kind = spec.get("type")
        if name in ("other_agent_id", "agent_id") and agent_id:
            arguments[name] = agent_id.group(0)
        elif name == "message" and kind == "string":
            arguments[name] = prompt
        elif name in ("match_all", "tags") and kind == "array" and tags:
            arguments[name] = [t.strip().strip("'\"") for t in tags.group(1).split(",") if t.strip()]
        elif name == "match_some" and kind == "array":
            arguments[name] = []
        elif kind == "integer" and number is not None:
            arguments[name] = number
        elif kind == "string" and quoted:
            arguments[name] = quoted[0]
        elif name in required:
            arguments[name] = {"integer": 6, "number": 1.0, "boolean": False, "array": [],
                               "object": {}}.get(kind, quoted[0] if quoted else "hello")
    return arguments


def tool_calls_for(prompt: str, tools: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The calls a prompt asks for: tools it names (longest names first, so roll_dice_tool is not
    also roll_dice), when it asks to call, use or send."""
    lowered = prompt.lower()
    if not re.search(r"\b(call|use|send)\b", lowered):
        return []
    named: list[str] = []
    rest = prompt
    for name in sorted(tools, key=len, reverse=True):
        if re.search(rf"\b{re.escape(name)}\b", rest):
            named.append(name)
            rest = re.sub(rf"\b{re.escape(name)}\b", " ", rest)
    if not named and "send a message to all agents with tags" in lowered:
        named = [n for n in tools if n == "send_message_to_agents_matching_tags"]
    calls: list[tuple[str, dict[str, Any]]] = []
    quoted = _quoted(prompt)
    sided = re.search(r"(\d+)[- ]sided|(\d+) sides", prompt)
    sides = int(sided.group(1) or sided.group(2)) if sided else None
    for name in sorted(named, key=prompt.find):
        tool = tools[name]
        properties = (tool.get("parameters") or {}).get("properties") or {}
        listed = {key: [int(v) for v in re.findall(rf"\b{re.escape(key)}\s*=\s*(\d+)", prompt)] for key in properties}
        several = next(((key, values) for key, values in listed.items() if len(values) > 1), None)
        strings = [key for key, spec in properties.items() if spec.get("type") == "string" and key != "message"]
        if several:
            key, values = several
            calls += [(name, {**_arguments(tool, prompt, quoted, None), key: value}) for value in values]
        elif strings and len(quoted) > 1 and re.search(r"\b(times|parallel|each)\b", lowered):
            calls += [(name, _arguments(tool, prompt, [text], sides)) for text in quoted]
        else:
            single = next(iter(listed.values()), [])
            calls.append((name, _arguments(tool, prompt, quoted, single[0] if single else sides)))
    return calls


def reply_for(messages: list[dict[str, Any]]) -> str:
    """A text answer to the newest user message, from the conversation the request carries."""
    system = next((text_of(m) for m in messages if m.get("role") == "system"), "")
    dictated = re.search(r"respond with a single word:\s*[\"']([^\"']+)[\"']", system, re.IGNORECASE)
    if dictated:
        return dictated.group(1)
    users = [text_of(m) for m in messages if m.get("role") == "user"]
    prompt = users[-1] if users else ""
    lowered = prompt.lower()
    skills = re.search(r"<available_skills>(.*?)</available_skills>", system, re.DOTALL)
    if skills and "skill" in lowered:
        return "Available skills: " + ", ".join(re.findall(r"^- ([^:(\n]+?)(?::|\s\(|$)", skills.group(1), re.MULTILINE))
    asked = re.search(r"(?:reply with the message|say) '([^']+)'", prompt, re.IGNORECASE)
    if asked:
        return asked.group(1)
    if "what word" in lowered and "remember" in lowered:
        words = [w for u in users for w in re.findall(r"remember the word:\s*(\w+)", u, re.IGNORECASE)]
        if words:
            return words[-1]
    if "favorite color" in lowered and "?" in prompt:
        colors = [c for u in users for c in re.findall(r"favorite colou?r is (\w+)", u, re.IGNORECASE)]
        if colors:
            return f"Your favorite color is {colors[-1]}."
    if re.search(r"what (was|did)|repeat it|what did the other agent say", lowered):
        returned = [text_of(m) for m in messages if m.get("role") == "tool"]
        if returned:
            return returned[-1]
    if lowered.startswith("remember"):
        return f"I will remember: {prompt.split(':', 1)[-1].strip()}"
    return DEFAULT_REPLY


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """The assistant message for a chat request (OpenAI's shape)."""
    messages = request.get("messages") or []
    tools = {t["function"]["name"]: t["function"] for t in request.get("tools") or [] if t.get("type") == "function"}
    last = next((m for m in reversed(messages) if m.get("role") in ("user", "tool")), {})
    # Claude (a reasoner to Letta's tests: extended thinking) thinks before every answer; gpt-4o-mini does not
    reasoner = "claude" in str(request.get("model", ""))
    if last.get("role") == "tool":
        tail = []
        for message in reversed(messages):
            if message.get("role") != "tool":
                break
            tail.append(text_of(message))
        return {"role": "assistant", "content": "Here is what came back: " + "; ".join(reversed(tail)),
                "reasoning_content": "Reporting what the tools returned." if reasoner else None}
    calls = tool_calls_for(text_of(last), tools) if last else []
    forced = request.get("tool_choice")
    if not calls and tools and (forced == "required" or isinstance(forced, dict)):
        name = forced["function"]["name"] if isinstance(forced, dict) else (
            "send_message" if "send_message" in tools else next(iter(tools)))
        text = reply_for(messages)
        calls = [(name, {"message": text} if name == "send_message" else
                  _arguments(tools[name], text, _quoted(text), None))]
    if calls:
        thought = "Calling " + ", ".join(dict.fromkeys(name for name, _ in calls)) + "." if reasoner else None
        return {"role": "assistant", "content": None, "reasoning_content": thought, "tool_calls": [
            {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
             "function": {"name": name, "arguments": json.dumps(arguments)}} for name, arguments in calls]}
    return {"role": "assistant", "content": _formatted(reply_for(messages), request.get("response_format")),
            "reasoning_content": "Answering the user." if reasoner else None}


def _formatted(text: str, response_format: Any) -> str:
    """The reply as JSON when the request asks for a JSON schema (each string field the reply)."""
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return text
    schema = (response_format.get("json_schema") or {}).get("schema") or {}
    values = {"string": text, "integer": 1, "number": 1.0, "boolean": True, "array": [], "object": {}}
    return json.dumps({name: values.get(spec.get("type"), text)
                       for name, spec in (schema.get("properties") or {}).items()})


class RuleLLM(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self._json({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "owned_by": "scripted"}]})

    def do_POST(self) -> None:  # noqa: N802
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path.rstrip("/").endswith("/embeddings"):
            texts = request.get("input")
            texts = [texts] if isinstance(texts, str) else texts or []
            width = WIDTHS.get(str(request.get("model", "")).split("/")[-1], 768)
            self._json({"object": "list", "model": request.get("model"), "usage": {"prompt_tokens": 1, "total_tokens": 1},
                        "data": [{"object": "embedding", "index": i, "embedding": embed(t, width)}
                                 for i, t in enumerate(texts)]})
            return
        message = answer(request)
        usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        common = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "created": int(time.time()), "model": request.get("model")}
        if not request.get("stream"):
            self._json({**common, "object": "chat.completion", "usage": usage,
                        "choices": [{"index": 0, "message": message, "finish_reason": finish}]})
            return
        # As providers stream a reasoner's answer: its thinking first, in chunks of its own, then the text and calls.
        thinking = [{"choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": message[
            "reasoning_content"]}}]}] if message.get("reasoning_content") else []
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        if message.get("tool_calls"):
            delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for chunk in (*thinking, {"choices": [{"index": 0, "delta": delta}]},
                      {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}], "usage": usage}):
            self.wfile.write(f"data: {json.dumps({**common, 'object': 'chat.completion.chunk', **chunk})}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.close_connection = True
