"""Fuzz every operation of the OpenAPI schema (schemathesis), as three kinds of caller:

- a local client of a tokenless server (Host 127.0.0.1);
- a client with the right bearer token on a server that has one;
- a caller without the token on that server: every route but docs and health is a 401.

Whatever comes in: no 5xx, and no answer slower than 5 s. Half the generated requests aim
at a real agent (with a block, a passage and a pending-free log) rather than a random id, so
the fuzz reaches past the 404s.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import say

SLOWEST_SECONDS = 5.0
TOKEN = "fuzz-token"
OPEN_PATHS = {"/v1/health", "/v1/health/"}


def _fuzz(app: Any, target: str, examples: int, headers: dict[str, str],
          check: Callable[[Any, Any], str | None]) -> list[str]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 100  # every route, not a handful

    for operation in operations:
        @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case) -> None:  # type: ignore[no-untyped-def]
            params = case.path_parameters
            aimed = random.Random(repr(case.body) + repr(params)).random() < 0.5
            deletes_it = case.method == "DELETE" and case.path == "/v1/agents/{agent_id}"
            if params and "agent_id" in params and aimed and not deletes_it:
                params["agent_id"] = target  # (never the agent's own DELETE: it must stay)
            started = time.perf_counter()
            response = case.call(headers=headers)
            took = time.perf_counter() - started
            where = f"{case.method} {case.formatted_path} {case.body!r}"[:300]
            if response.status_code >= 500:
                failures.append(f"{where}: {response.status_code} {response.text[:300]}")
            elif took > SLOWEST_SECONDS:
                failures.append(f"{where}: answered in {took:.1f} s")
            else:
                problem = check(case, response)
                if problem:
                    failures.append(f"{where}: {problem}")

        run()
    return failures


@pytest.fixture
def fuzz_target(fake_llm):  # type: ignore[no-untyped-def]
    from memos.core.agents import create_agent
    from memos.core.workspace import Workspace
    from memos.store.embeddings import get_embedder

    fake_llm.default = say("fuzzed")  # message routes reach the fake LLM; it always answers
    ws = Workspace()
    target = create_agent(ws, "fuzz", model="openai/fake-model")
    get_embedder(target.embedding_model).embed(["warm"])  # loaded before any request is timed
    yield ws, target.id
    ws.close()


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_no_operation_answers_with_a_server_error_tokenless(fuzz_target) -> None:  # type: ignore[no-untyped-def]
    # The schema is loaded here rather than with schemathesis' pytest plugin, which does not
    # run under pytest 9; hypothesis drives each operation the same way.
    from memos.server.app import create_app

    ws, target = fuzz_target
    failures = _fuzz(_as_loopback(create_app(ws)), target, 20, {}, lambda case, response: None)
    assert failures == []


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_with_a_token_callers_with_it_get_no_server_error_and_callers_without_it_get_401(fuzz_target) -> None:  # type: ignore[no-untyped-def]
    from memos.server.app import create_app

    ws, target = fuzz_target
    app = create_app(ws, token=TOKEN)

    def refused(case, response) -> str | None:  # type: ignore[no-untyped-def]
        if case.formatted_path in OPEN_PATHS or case.formatted_path.startswith("/docs"):
            return None
        return None if response.status_code == 401 else f"answered {response.status_code} without the token"

    failures = _fuzz(app, target, 3, {}, refused)
    failures += _fuzz(app, target, 10, {"Authorization": f"Bearer {TOKEN}"}, lambda case, response: None)
    assert failures == []


def _as_loopback(app):  # type: ignore[no-untyped-def]
    """Requests as a local client sends them: schemathesis's client says Host: testserver, which a
    tokenless memos server refuses (DNS-rebinding guard, tested in tests/e2e/test_durability.py)."""

    async def loopback(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k != b"host"] + [(b"host", b"127.0.0.1:8283")]
            scope = {**scope, "headers": headers}
        await app(scope, receive, send)

    return loopback
