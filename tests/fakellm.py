"""A local OpenAI-compatible chat-completions server, scripted per test.

memos reaches it as any OpenAI-compatible server (``openai/<model>`` with a base
URL) through its real client: plain httpx by default, litellm with the
``llm_client = litellm`` setting. So the whole provider path is exercised: HTTP,
JSON, SSE streaming, tool calls, usage, errors and retries.

A script is a list of replies, one per request, in order:
    {"content": "Hello"}                                   a plain answer
    {"tool_calls": [{"name": "send_message", "arguments": {"message": "Hi"}}]}
    {"tool_calls": [{"name": "x", "arguments": "{not json"}]}   raw (malformed) arguments
    {"status": 429}                                        an HTTP error (also 500, 401, 404 ...)
    {"content": "slow...", "chunk_delay": 0.5}             stream slowly (for cancellation)
    {"content": "late", "delay": 30}                       answer only after 30 s
    {"content": "held", "gate": threading.Event()}        answer only once the test sets the event
    {..., "pause_after": 3, "resume": threading.Event()}  stream 3 chunks, then wait for the event
    {"status": 429, "retry_after": 1}                      an error with a Retry-After header
    {"content": "cut off here", "break_after": 1}          stream that many content chunks, then hang up
    {"reasoning": "Let me think.", "tool_calls": [...]}   a reasoning model's thinking (reasoning_content)
    {"tool_calls": [...], "finish_reason": "length"}       a reply cut off by max_tokens (raw
                                                           arguments may stop mid-string)
A request past the end of the script gets HTTP 500 "script exhausted", so a
test that makes more calls than it planned fails loudly; a fuzz test or a
benchmark that cannot plan its calls gives a ``default`` reply instead.

Like a real provider, the server refuses (HTTP 400, before using a reply) a request
whose messages break OpenAI's ordering rules (a tool message that answers no call
made just before it, a call left unanswered) and, with ``max_request_chars``, one
larger than that, with OpenAI's "maximum context length" error. Refusals are kept in
``rejected``.

``LlamaCppReplica`` answers as llama.cpp's ``llama-server`` does where it differs: a request
whose history holds tool-call arguments that are not JSON is a 500 ("Failed to parse tool
call arguments as JSON"), one over its context (``n_ctx`` tokens, counted as the whole request
over 4 characters, tool schemas included) a 400 ``exceed_context_size_error``, and its model
list carries the Ollama-style ``models`` key (the file path) beside OpenAI's ``data`` (the alias).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeLLM:
    def __init__(self, default: dict[str, Any] | None = None, *, max_request_chars: int | None = None,
                 responder: Any = None, keep_requests: bool = True) -> None:
        self.replies: list[dict[str, Any]] = []
        self.default = default
        self.responder = responder  # request -> reply, past the end of the script (soak tests)
        self.keep_requests = keep_requests  # a soak makes thousands of large requests: count them only
        self.request_count = 0
        self.chunks_sent = 0  # streamed chunks written so far (a test interrupts mid-stream by it)
        self.max_request_chars = max_request_chars
        self.model_ids = ["fake-model"]  # what /v1/models lists (a benchmark may add an embedding model)
        self.requests: list[dict[str, Any]] = []
        self.embedding_requests: list[dict[str, Any]] = []  # /embeddings bodies, in arrival order
        self.embedding_failures: list[int] = []  # statuses the next /embeddings requests get, one each
        self.embedding_hold_after: int | None = None  # requests past this many wait for embedding_gate
        self.embedding_gate = threading.Event()
        self.authorizations: list[str | None] = []  # each request's Authorization header
        self.rejected: list[tuple[str, dict[str, Any]]] = []
        self.arrived = threading.Condition()
        self._lock = threading.Lock()
        self._calls = 0
        handler = _make_handler(self)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def script(self, *replies: dict[str, Any]) -> None:
        with self._lock:
            self.replies.extend(replies)

    def wait_for_requests(self, count: int, timeout: float = 60) -> None:
        """Block until ``count`` requests have arrived (accepted or not)."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: self.request_count + len(self.rejected) >= count, timeout):
                raise AssertionError(f"fake LLM: {count} requests expected, {len(self.requests)} arrived")

    def refusal(self, request: dict[str, Any]) -> str | None:
        """Why a real provider would refuse this request, or None."""
        if self.max_request_chars is not None:
            size = len(json.dumps(request.get("messages", [])))
            if size > self.max_request_chars:
                return (f"This model's maximum context length is {self.max_request_chars // 4} tokens. "
                        f"However, your messages resulted in {size // 4} tokens.")
        return ordering_violation(request.get("messages", []))

    def next_reply(self, request: dict[str, Any]) -> dict[str, Any]:
        why = self.refusal(request)
        if why is not None:
            with self.arrived:
                self.rejected.append((why, request if self.keep_requests else {}))
                self.arrived.notify_all()
            return {"status": 400, "message": why}
        with self._lock, self.arrived:
            self.request_count += 1
            if self.keep_requests:
                self.requests.append(request)
            self.arrived.notify_all()
            if self._calls >= len(self.replies):
                self._calls += 1
                if self.responder is not None:
                    return self.responder(request)
                return self.default or {"status": 500, "message": "fake LLM: script exhausted"}
            reply = self.replies[self._calls]
            self._calls += 1
            return reply

    def models_body(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model, "object": "model"} for model in self.model_ids]}

    @property
    def remaining(self) -> int:
        return len(self.replies) - self._calls

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def ordering_violation(messages: list[dict[str, Any]]) -> str | None:
    """OpenAI's rule: an assistant message's tool calls are answered, each once, by the tool
    messages right after it, and a tool message answers only such a call."""
    open_calls: set[str] = set()
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in open_calls:
                return (f"Invalid parameter: messages with role 'tool' must be a response to a preceding message "
                        f"with 'tool_calls' (messages[{index}], tool_call_id {call_id!r}).")
            open_calls.discard(call_id)
            continue
        if open_calls:
            return (f"An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                    f"'tool_call_id'. The following tool_call_ids did not have response messages: "
                    f"{', '.join(sorted(open_calls))} (before messages[{index}]).")
        if role == "assistant" and message.get("tool_calls"):
            open_calls = {c["id"] for c in message["tool_calls"]}
    if open_calls:
        return f"tool_call_ids without response messages at the end: {', '.join(sorted(open_calls))}"
    return None


def _tool_calls(reply: dict[str, Any]) -> list[dict[str, Any]]:
    calls = []
    for i, call in enumerate(reply.get("tool_calls", [])):
        args = call.get("arguments", {})
        calls.append({
            "id": call.get("id", f"call_{int(time.time() * 1000) % 100000}_{i}"),
            "type": "function",
            "function": {"name": call["name"], "arguments": args if isinstance(args, str) else json.dumps(args)},
        })
    return calls


def _make_handler(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _json(self, status: int, body: dict[str, Any], retry_after: Any = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            if retry_after is not None:
                self.send_header("Retry-After", str(retry_after))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._json(200, fake.models_body())
            else:
                self._json(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = json.loads(self.rfile.read(length) or b"{}")
            if self.path.rstrip("/").endswith("/embeddings"):
                fake.embedding_requests.append(request)
                if fake.embedding_failures:
                    status = fake.embedding_failures.pop(0)
                    self._json(status, {"error": {"message": f"scripted {status}"}})
                    return
                if fake.embedding_hold_after is not None and len(fake.embedding_requests) > fake.embedding_hold_after:
                    fake.embedding_gate.wait(120)
                self._json(200, _embeddings(request))
                return
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._json(404, {"error": {"message": f"no route {self.path}"}})
                return
            fake.authorizations.append(self.headers.get("Authorization"))
            reply = fake.next_reply(request)
            if reply.get("gate") is not None:
                reply["gate"].wait(120)  # held until the test lets it go
            if reply.get("delay"):
                time.sleep(float(reply["delay"]))  # a provider that takes its time (a pass to interrupt)
            status = reply.get("status", 200)
            if status != 200:
                if reply.get("body") is not None:  # a server's own error body, as it sends it
                    self._json(status, reply["body"], reply.get("retry_after"))
                    return
                message = reply.get("message", f"fake error {status}")
                code = "context_length_exceeded" if "maximum context length" in message else str(status)
                self._json(status, {"error": {"message": message, "type": "invalid_request_error", "code": code}},
                           reply.get("retry_after"))
                return
            usage = {"prompt_tokens": reply.get("prompt_tokens", 100), "completion_tokens": reply.get("completion_tokens", 20)}
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            calls = _tool_calls(reply)
            finish = reply.get("finish_reason") or ("tool_calls" if calls else "stop")
            if request.get("stream"):
                self._stream(request, reply, calls, finish, usage)
                return
            message: dict[str, Any] = {"role": "assistant", "content": reply.get("content")}
            if reply.get("reasoning"):
                message["reasoning_content"] = reply["reasoning"]
            if calls:
                message["tool_calls"] = calls
            self._json(200, {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                             "model": request.get("model", "fake-model"),
                             "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage})

        def _stream(self, request: dict[str, Any], reply: dict[str, Any], calls: list[dict[str, Any]],
                    finish: str, usage: dict[str, int]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            delay = float(reply.get("chunk_delay", 0))
            base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": request.get("model", "fake-model")}

            sent_here = 0

            def send(choices: list[dict[str, Any]], **extra: Any) -> None:
                nonlocal sent_here
                self.wfile.write(f"data: {json.dumps({**base, 'choices': choices, **extra})}\n\n".encode())
                self.wfile.flush()
                fake.chunks_sent += 1
                sent_here += 1
                if sent_here == reply.get("pause_after"):
                    reply["resume"].wait(120)  # mid-answer, until the test lets it go on
                if delay:
                    time.sleep(delay)

            try:
                send([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
                reasoning = reply.get("reasoning") or ""
                for start in range(0, len(reasoning), 8):
                    send([{"index": 0, "delta": {"reasoning_content": reasoning[start:start + 8]}, "finish_reason": None}])
                content = reply.get("content") or ""
                for number, start in enumerate(range(0, len(content), 8)):
                    if number == reply.get("break_after"):
                        self.close_connection = True
                        return  # hang up mid-answer: no finish, no [DONE]
                    send([{"index": 0, "delta": {"content": content[start:start + 8]}, "finish_reason": None}])
                for index, call in enumerate(calls):
                    head = {"index": index, "id": call["id"], "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": ""}}
                    send([{"index": 0, "delta": {"tool_calls": [head]}, "finish_reason": None}])
                    args = call["function"]["arguments"]
                    for start in range(0, len(args), 16):
                        piece = {"index": index, "function": {"arguments": args[start:start + 16]}}
                        send([{"index": 0, "delta": {"tool_calls": [piece]}, "finish_reason": None}])
                send([{"index": 0, "delta": {}, "finish_reason": finish}])
                if (request.get("stream_options") or {}).get("include_usage"):
                    send([], usage=usage)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client cancelled
            self.close_connection = True

    return Handler


class LlamaCppReplica(FakeLLM):
    """A scripted server that refuses and lists as llama.cpp's llama-server (see the module doc)."""

    MODEL_PATH = "/models/gemma-3-270m-it-Q4_K_M.gguf"

    def __init__(self, *args: Any, n_ctx: int = 8192, alias: str = "gemma", **kwargs: Any) -> None:
        self.n_ctx = n_ctx
        self.alias = alias
        super().__init__(*args, **kwargs)

    def models_body(self) -> dict[str, Any]:
        return {"models": [{"name": self.MODEL_PATH, "model": self.MODEL_PATH, "type": "model"}],
                "object": "list", "data": [{"id": self.alias, "object": "model", "owned_by": "llamacpp"}]}

    def refusal_reply(self, request: dict[str, Any]) -> dict[str, Any] | None:
        for message in request.get("messages", []):
            for call in message.get("tool_calls") or []:
                try:
                    json.loads(call["function"]["arguments"])
                except (ValueError, KeyError, TypeError):
                    return {"status": 500, "body": {"error": {
                        "code": 500, "type": "server_error",
                        "message": "Failed to parse tool call arguments as JSON: [json.exception.parse_error.101] "
                                   "parse error at line 1, column 13: syntax error while parsing value - "
                                   "invalid string: missing closing quote; last read: '\"My old'"}}}
        tokens = len(json.dumps({"messages": request.get("messages", []), "tools": request.get("tools", [])})) // 4
        if tokens > self.n_ctx:
            return {"status": 400, "body": {"error": {
                "code": 400, "type": "exceed_context_size_error", "n_prompt_tokens": tokens, "n_ctx": self.n_ctx,
                "message": f"request ({tokens} tokens) exceeds the available context size ({self.n_ctx} tokens), "
                           "try increasing it"}}}
        return None

    def next_reply(self, request: dict[str, Any]) -> dict[str, Any]:
        refused = self.refusal_reply(request)
        if refused is not None:
            with self.arrived:
                self.rejected.append((json.dumps(refused["body"]), request if self.keep_requests else {}))
                self.arrived.notify_all()
            return refused
        return super().next_reply(request)


# Widths of the embedding models the fake serves (by name, as OpenAI and Ollama do), else 1536.
EMBEDDING_WIDTHS = {"nomic-embed-text": 768, "all-minilm": 384, "text-embedding-3-large": 3072}


def _embeddings(request: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's /v1/embeddings: a deterministic unit vector per text (its words hashed), as wide
    as the model named (EMBEDDING_WIDTHS; text-embedding-3-small's 1536 otherwise, or the request's
    ``dimensions``), so texts sharing words come out close."""
    import hashlib
    import math
    import re

    texts = request.get("input", [])
    texts = [texts] if isinstance(texts, str) else texts
    model = str(request.get("model", "text-embedding-3-small"))
    width = int(request.get("dimensions") or EMBEDDING_WIDTHS.get(model.split(":")[0], 1536))
    data = []
    for index, text in enumerate(texts):
        vector = [0.0] * width
        for word in re.findall(r"\w+", str(text).lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            vector[int.from_bytes(digest[:4], "little") % width] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        data.append({"object": "embedding", "index": index, "embedding": [v / norm for v in vector]})
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": sum(len(str(t).split()) for t in texts), "total_tokens": 0}}
