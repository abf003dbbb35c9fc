"""docs/letta-compat.md: Letta 0.16.8's API, route by route, against what `memos serve` serves.

    .venv/bin/python scripts/letta_compat.py          write docs/letta-compat.md
    .venv/bin/python scripts/letta_compat.py --check  exit 1 if it is out of date

Letta's routes come from docs/letta-0.16.8-routes.tsv (extracted from Letta 0.16.8's
fern/openapi.json); memos's from its own FastAPI app. tests/unit/test_letta_compat.py runs the
check, so the table cannot drift from the server.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUTES = ROOT / "docs" / "letta-0.16.8-routes.tsv"
TARGET = ROOT / "docs" / "letta-compat.md"

# Why memos does not serve a group of Letta's routes (by the path's first segment after /v1/).
WHY_NOT = {
    "conversations": ("all served. Differences a client can see: a fork copies the "
                      "messages (new ids; Letta shares them), `isolated_block_labels` and `model_settings` are "
                      "refused (every block is shared; settings live in config.toml), and turns of one agent "
                      "take turns across its conversations (Letta runs them at once)"),
    "groups": ("sleep-time groups are served (enable_sleeptime, /v1/groups); other kinds (round robin, "
               "supervisor, dynamic) are refused, and so are group messages: agents talk to each other through "
               "Letta's multi-agent tools instead"),
    "folders": ("served but `metadata` (Letta Cloud's usage figures); a folder's passages are its files' "
                "chunks; uploads are read as UTF-8 text (PDFs and other binary files are refused: convert them first) "
                "and processed before the request returns"),
    "sources": ("the older name of folders: memos serves /v1/folders (letta-client 1.x uses those) and an "
                "agent's /sources (list, attach, detach)"),
    "mcp-servers": "connect (an OAuth flow for a remote server) is not served: memos takes credentials from its environment",
    "templates": "Letta Cloud's templates: a hosted-service feature",
    "_internal_templates": "Letta Cloud internals",
    "_internal_blocks": "Letta Cloud internals",
    "_internal_agents": "Letta Cloud internals",
    "_internal_runs": "Letta Cloud internals",
    "legacy-templates": "Letta Cloud's templates: a hosted-service feature",
    "projects": "Letta Cloud projects: a hosted-service feature",
    "client-side-access-tokens": "Letta Cloud access tokens: memos takes one bearer token (MEMOS_SERVER_TOKEN)",
    "feeds": "Letta Cloud feeds: a hosted-service feature",
    "pipelines": "Letta Cloud pipelines: a hosted-service feature",
    "environments": "Letta Cloud environments: a hosted-service feature",
    "device-storage-key": "Letta Cloud device storage: a hosted-service feature",
    "telemetry": "telemetry: memos sends none",
    "providers": "provider records: memos reads providers from config.toml and the environment (memos models)",
    "sandboxes": "sandbox configs: memos's sandbox is configured in config.toml (sandbox.*)",
    "jobs": "jobs: memos's background work is runs (/v1/runs)",
    "voice-beta": "voice: not built",
    "chat": "OpenAI-style chat completions over an agent: not built",
    "embeddings": "the storage size of Letta's hosted vector store (Turbopuffer): memos's vectors are in its own database",
    "metadata": "Letta Cloud metadata: a hosted-service feature",
    "messages": ("listed, searched (by their words in every search_mode: messages carry no embeddings in memos) "
                 "and looked up across agents; batches of messages are not built"),
    "passages": "all served: each agent's passages are searched with its own embedding model, merged by score",
}
# What a client can tell apart on routes memos does serve.
DIFFERENCES = [
    "Conversations: a fork copies the source's messages (new ids; Letta's fork shares them); "
    "`isolated_block_labels` and per-conversation `model_settings` are refused (every block is shared, settings "
    "live in config.toml); a message to a busy conversation is a 409 at once, as in Letta (memos's agent route, "
    "/v1/agents/{id}/messages, waits up to 30 s for the turn instead).",
    "Folders: files are read as UTF-8 text (PDFs and other binary files are refused: convert them first) and "
    "processed before the upload returns (status `completed` at once); files are embedded with the model the "
    "folder names (`embedding` or `embedding_config`, else memos's bundled MiniLM), searched per folder with its "
    "own model.",
    "Groups: only sleep-time groups run (`enable_sleeptime`, or a group with `manager_type: sleeptime`); other "
    "kinds are refused, as are group messages. The sleep-time agent's review runs on a thread of `memos serve` "
    "(a detached process when the turn came from the CLI).",
    "Background streams (`background: true`) are kept in the memory of the server that ran them, for the newest "
    "200 runs and 3 hours; resuming one after a restart is refused as for a run not streamed in the background.",
    "Agents' embeddings: any model and width (`embedding` or `embedding_config`): memos's bundled MiniLM "
    "(also what Letta's MiniLM handles name), any OpenAI-compatible `/v1/embeddings` (OpenAI, Ollama, LM Studio, "
    "vLLM, llama.cpp), the rest through litellm; a model this machine cannot reach fails the insert with one "
    "line and stores nothing. Changing an agent's model re-embeds its passages (`memos archival reembed`); "
    "PATCHing `embedding` alone is refused while the agent holds passages of another width.",
    "Archives: an archive's passages take no `metadata` (refused: use tags or the text); each is embedded with "
    "the archive's model, and an agent searches its attached archives beside its own passages, merged by score.",
    "Scheduled messages: `callback_url` is refused (memos makes no requests to addresses a client names; follow "
    "the run through /v1/runs); a recurring schedule's cron expression is read in UTC (as Letta Cloud does; "
    "`memos schedule add --tz` picks another zone); `memos serve` looks for due ones at least every 15 s, "
    "at once for one added through it; each due time is sent once across processes and replicas.",
    "Traces and metrics are rebuilt from what memos records (runs, steps, tool calls): a step's provider trace "
    "holds the model and its answer, not the raw request (memos keeps no copy of every prompt); a run's trace "
    "is its steps and tool calls as spans. Deleting a run keeps the messages it wrote (the agent's memory) and "
    "refuses a running one (409).",
]
# Written by hand from `scripts/letta_sdk_tests.py`'s table and logs (the run is minutes long and
# needs Letta's checkout, so it is not part of the suite).
LETTA_TESTS = """
## Letta's own tests

Letta 0.16.8's SDK tests (`tests/sdk/agents_test.py`, `tools_test.py`, `blocks_test.py`,
`tests/test_sdk_client.py`) and six of its integration test files, run unchanged against `memos serve`
by `scripts/letta_sdk_tests.py` (2026-12-07, memos after issue 31's fourth round, letta-client 1.12.1).
The LLM is `scripts/letta_rule_llm.py`: an OpenAI-compatible server that does what each test's prompt
asks by rules (calls the tools it names, in parallel when it lists several, quotes tool results,
repeats the word it was told to remember, follows a system prompt that dictates the reply; Claude
models think before every answer, streamed first, as Letta's reasoning Claude does) and embeds with
hashed words; `LLM_CONFIG_FILE=openai-gpt-4o-mini.json`, and the Anthropic models the tests name are
routed to it by memos config aliases. The shims are only what lets the files import without Letta's
server (listed in the script); the helpers letta-client 1.12.1 dropped (`tools.upsert_from_function`,
`agents.create(include_multi_agent_tools=...)`) are put back on the client as older clients had them.

| file | passed | failed | skipped |
|---|---|---|---|
| tests/sdk: agents, tools, blocks | 24 | 0 | 2 |
| test_sdk_client.py | 29 | 6 | 4 |
| integration_test_send_message_v2.py | 17 | 7 | 1 |
| integration_test_human_in_the_loop.py | 23 | 5 | 0 |
| integration_test_client_side_tools.py | 6 | 0 | 0 |
| integration_test_conversations_sdk.py | 53 | 4 | 0 |
| integration_test_multi_agent.py | 3 | 0 | 0 |
| integration_test_sleeptime_agent.py | 2 | 1 | 1 |
| **all** | **157** | **23** | **8** |

Issue 31 counted 94 passing over these files (with an LLM that always answered "OK"); the third
round's code passed 152. Three runs of the final code passed 156, 157 and 157 (before the last
change to approvals: 157, 157 and 158). A test that cancels a turn while the model answers passes
only when the cancel lands in time (the scripted LLM answers in about a millisecond), so
`test_approve_with_cancellation` and `test_retry_with_summarization` pass in some runs and not in
others (the table is the second run). What still fails, test by test,
and why:

**Not passable against any server but Letta's own, or not with letta-client 1.12.1** (10):
`test_greeting[stream_tokens_background]` and `test_tool_call[stream_tokens_background-no_cancellation]`
call `messages.stream(run_id=...)`, and `test_pydantic_inventory_management_tool[True/False]` and
`test_create_agent_with_tools` call `tools.add`, which letta-client 1.12.1 does not have;
`test_approve_and_follow_up_with_error`, `test_deny_and_follow_up_with_error` and
`test_client_side_tool_call_and_follow_up_with_error` patch Letta's `SimpleLLMStreamAdapter`;
`test_base_tools_upsert_on_list` imports `LETTA_TOOL_SET` from Letta's server; and
`test_pydantic_task_planning_tool[False]` uploads an argument model whose source names a variable of
the test's own scope (Letta stores such a source without running it; memos loads every tool it is
given and refuses one that cannot load).

**A real model's latency or choice** (10 in the run above): the five `test_tool_call[*-with_cancellation]`
and `test_approve_with_cancellation` or `test_retry_with_summarization` cancel while the model answers
(the scripted LLM has usually answered by then); `test_concurrent_messages_to_same_conversation` and `test_agent_direct_concurrent_requests_blocked`
need the first turn still running when the second request arrives (memos answers that 409 at once,
as Letta does, tested in tests/e2e/test_conversations.py with a held model); `test_shared_blocks` and
`test_sleeptime_edit` need the model to decide to edit a memory block from what the user says.

**Where memos still differs from Letta** (3):
- `test_parallel_tool_calling`: memos now holds a step's calls that need no approval until the
  waiting ones are decided, as Letta does, and runs them after, in the model's order; but it answers
  each result as a tool-return message of its own (Letta answers a step's results in one, with all
  of them in `tool_returns`), and it lists a reasoner's thinking live without storing it (Letta's
  log lists it again);
- a fork copies messages under new ids, where Letta's fork shares them
  (`test_fork_conversation_via_rest_shares_non_system_message_ids`, `test_fork_default_conversation_via_rest`):
  sharing needs a per-conversation table of which messages each conversation holds and has in
  context, as Letta has; memos keeps a message in one conversation.

Passing since the third round: a conversation's system message is Letta's (what the model last read,
kept until a step or a recompile: the three recompile tests); an agent's copy of a library tool is
listed under the library tool's id while it runs that code (`test_agent_creation`); a PATCH with a
`json_schema` renames a tool by it (`test_tool_rename_with_json_schema_and_source_code`); see
docs/design.md.
"""
DEFAULT_WHY = "the rest is not served (route by route below): none of it is among what Letta's clients were seen to need (issue 21)"


def _shape(path: str) -> str:
    """A route's shape, whatever its parameters are called and with or without a trailing slash."""
    return re.sub(r"\{[^}]+\}", "{}", path).rstrip("/") or "/"


def letta_routes() -> list[tuple[str, str, str]]:
    rows = []
    for line in ROUTES.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        method, path, summary = (line.split("\t") + [""])[:3]
        rows.append((method, path, summary))
    return rows


def memos_routes() -> set[tuple[str, str]]:
    from memos.server.app import create_app

    spec = create_app().openapi()
    return {(method.upper(), _shape(path)) for path, ops in spec["paths"].items() for method in ops
            if method in ("get", "post", "put", "patch", "delete")}


def render() -> str:
    served = memos_routes()
    rows = letta_routes()
    hits = [(m, p, s) for m, p, s in rows if (m, _shape(p)) in served]
    groups: dict[str, list[tuple[str, str, str]]] = {}
    for method, path, summary in rows:
        groups.setdefault(path.split("/")[2] if path.count("/") > 1 else path, []).append((method, path, summary))
    lines = ["# memos serve and Letta 0.16.8's API, route by route", "",
             "Generated by `scripts/letta_compat.py` from Letta 0.16.8's OpenAPI (`docs/letta-0.16.8-routes.tsv`) "
             "and memos's own server; `tests/unit/test_letta_compat.py` keeps it current.", "",
             f"memos serves **{len(hits)} of Letta's {len(rows)} operations** "
             f"({len({p for _, p, _ in hits})} of {len({p for _, p, _ in rows})} paths). "
             "Routes are matched by method and shape (parameter names and a trailing slash aside).", "",
             "Letta's own tests against `memos serve`: see the last section, \"Letta's own tests\".", "",
             "| group | served | of | not served, and why |", "|---|---|---|---|"]
    for group, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        done = sum(1 for m, p, _ in members if (m, _shape(p)) in served)
        why = "" if done == len(members) else WHY_NOT.get(group, DEFAULT_WHY)
        lines.append(f"| {group} | {done} | {len(members)} | {why} |")
    lines += ["", "## Where a served route differs from Letta's", ""]
    lines += [f"- {item}" for item in DIFFERENCES]
    lines += ["", "## Every route", "", "| method | path | memos | Letta's summary |", "|---|---|---|---|"]
    for method, path, summary in rows:
        mark = "yes" if (method, _shape(path)) in served else "no"
        lines.append(f"| {method} | `{path}` | {mark} | {summary} |")
    own = sorted(served - {(m, _shape(p)) for m, p, _ in rows})
    lines += ["", "## memos's own routes (not in Letta's API)", ""]
    lines += [f"- {method} `{path}`" for method, path in own]
    lines += ["", LETTA_TESTS.strip()]
    return "\n".join(lines) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            print("docs/letta-compat.md is out of date: run .venv/bin/python scripts/letta_compat.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
