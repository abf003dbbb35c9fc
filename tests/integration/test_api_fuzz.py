"""Fuzz every operation of the OpenAPI schema (schemathesis): whatever comes in, no 5xx.

Half the generated requests aim at a real agent (with a block, a passage and a
pending-free log) rather than a random id, so the fuzz reaches past the 404s.
"""

from __future__ import annotations

import random

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import say

EXAMPLES = 25


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_no_operation_answers_with_a_server_error(fake_llm) -> None:  # type: ignore[no-untyped-def]
    # The schema is loaded here rather than with schemathesis' pytest plugin, which does not
    # run under pytest 9; hypothesis drives each operation the same way.
    from memos.core.agents import create_agent
    from memos.core.workspace import Workspace
    from memos.server.app import create_app

    fake_llm.default = say("fuzzed")  # message routes reach the fake LLM; it always answers
    ws = Workspace()
    target = create_agent(ws, "fuzz", model="openai/fake-model")
    from memos.store.embeddings import get_embedder

    get_embedder(target.embedding_model).embed(["warm"])  # loaded before any request is timed
    target = target.id
    schema = schemathesis.openapi.from_asgi("/openapi.json", _as_loopback(create_app(ws)))
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30

    for operation in operations:
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case) -> None:  # type: ignore[no-untyped-def]
            params = case.path_parameters
            aimed = random.Random(repr(case.body) + repr(params)).random() < 0.5
            deletes_it = case.method == "DELETE" and case.path == "/v1/agents/{agent_id}"
            if params and "agent_id" in params and aimed and not deletes_it:
                params["agent_id"] = target  # (never the agent's own DELETE: it must stay)
            response = case.call()
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.body!r}: {response.status_code} "
                                f"{response.text[:300]}")

        check()
    ws.close()
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
