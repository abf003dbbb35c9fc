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
    "folders": ("served but `metadata` (Letta Cloud's usage figures) and a folder's `passages` list; "
                "uploads are read as UTF-8 text (PDFs and other binary files are refused: convert them first) "
                "and processed before the request returns"),
    "sources": "the older name of folders: memos serves /v1/folders only (letta-client 1.x uses those)",
    "mcp-servers": "connect (an OAuth flow for a remote server) is not served: memos takes credentials from its environment",
    "identities": "identities (end users behind agents): not built",
    "archives": "shared archives across agents: memos's archival memory is per agent",
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
    "embeddings": "raw embeddings: not built",
    "metadata": "Letta Cloud metadata: a hosted-service feature",
    "ready": "readiness: /v1/health serves the same purpose",
    "messages": "batch messages across agents: not built",
    "passages": "passages across agents: memos searches one agent's archival memory",
}
# What a client can tell apart on routes memos does serve.
DIFFERENCES = [
    "Conversations: a fork copies the source's messages (new ids; Letta's fork shares them); "
    "`isolated_block_labels` and per-conversation `model_settings` are refused (every block is shared, settings "
    "live in config.toml); a second message to a busy conversation waits up to 30 s for it, then gets 409 "
    "(Letta answers 409 at once).",
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
]
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
             "Letta's own SDK tests for agents, tools and blocks (`tests/sdk/agents_test.py`, `tools_test.py`, "
             "`blocks_test.py` at 0.16.8, with pytest-order) pass against `memos serve`: 24 passed, 2 skipped "
             "(methods letta-client 1.12.1 no longer has), checked again on 2026-11-30 (end of the day) with "
             "`scripts/letta_sdk_tests.py`, which points their `LETTA_SERVER_URL` at a fresh `memos serve`. "
             "Its `tests/test_sdk_client.py`, with an always-answering stand-in "
             "for the LLM: 17 passed, 4 skipped; of the 12 failed, 6 call methods letta-client 1.12.1 no longer "
             "has (`tools.upsert_from_function`) or import Letta's server, 4 ask an Anthropic model without a "
             "key, 1 needs a real model to edit memory, and 1 imports an agent file with files from Letta's "
             "test data asking for OpenAI's embedding (memos refuses to embed with a model of other "
             "dimensions); 6 errors are "
             "fixtures that start Letta's own server or E2B.", "",
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
