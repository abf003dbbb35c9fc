"""`memos doctor`: check a home and repair what a crash or a kill can leave behind.

Nothing a crash leaves should need a person: stuck runs and unanswered calls are closed
(as the next turn would), search indexes brought back in step with their rows, stale
sandbox jails removed. What memos cannot repair safely (duplicate rows, edits without a
recorded cause, a tool repo with uncommitted changes, a schema it does not know) is
reported for a person to look at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memos.core.turns import recover
from memos.core.workspace import Workspace
from memos.paths import on_read_only_mount
from memos.store.base import Agent, Finding


@dataclass(frozen=True)
class AgentReport:
    agent: str
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    home: list[Finding]
    agents: list[AgentReport]

    @property
    def problems(self) -> int:
        return sum(f.status == "problem" for f in self.home + [f for a in self.agents for f in a.findings])


def examine(ws: Workspace, agents: list[Agent], *, repair: bool = True) -> Report:
    from memos.store.migrations import migrations_for
    from memos.tools.sandbox import remove_stale_jails

    store = ws.store
    read_only = on_read_only_mount(ws.home.root)
    if read_only:
        repair = False  # every repair is a write: look, say, and leave it as it is
    applied = store.schema_version()
    dialect = getattr(store, "dialect", "duckdb")
    known = [m.id for m in migrations_for(dialect)]
    home = [Finding("schema", "ok" if applied == known else "problem",
                    f"version {applied[-1] if applied else 'none'}" if applied == known
                    else f"applied {applied[-1:]} but memos knows {known[-1]}")]
    swept = remove_stale_jails() if repair else 0
    home.append(Finding("sandbox jails", "repaired" if swept else "ok",
                        f"removed {swept} left by killed processes" if swept else ""))
    home.extend(_embedding_model(ws, agents, repair))
    if store.cluster:
        home.extend(store.check_cluster(repair=repair))
        drift = ws.config.drift()
        home.append(Finding("settings", "problem" if drift else "ok", "; ".join(drift) if drift
                            else "this replica uses the cluster's settings (config.toml agrees, or is silent)"))
    if read_only:
        home.append(Finding("home", "ok", f"{ws.home.root} is read-only: checked, nothing repaired"))
    return Report(home, [AgentReport(agent.name, _agent_findings(ws, agent, repair, read_only)) for agent in agents])


def _embedding_model(ws: Workspace, agents: list[Agent], repair: bool) -> list[Finding]:
    """The ONNX copy of the bundled embedding model: without it every process that embeds
    writes one in memory first (~1 s) instead of loading it (~0.3 s)."""
    from memos.store.embeddings import LOCAL_ALIASES, local_model_copy

    if not ({a.embedding_model for a in agents} | {ws.config.get("embedding_model")}) & LOCAL_ALIASES:
        return []
    path, present, made = local_model_copy(make=repair)
    if made:
        return [Finding("embedding model", "repaired", f"wrote its ONNX copy to {path}")]
    if present:
        return [Finding("embedding model", "ok", f"onnxruntime, from {path}")]
    return [Finding("embedding model", "problem",
                    f"no ONNX copy at {path}: every command that embeds makes one in memory first (~1 s); "
                    + ("is the directory writable?" if repair
                       else "`memos doctor` makes it"))]


def _agent_findings(ws: Workspace, agent: Agent, repair: bool, read_only: bool = False) -> list[Finding]:
    return [_runs(ws, agent, repair, read_only), *ws.store.check_agent(agent.id, repair=repair), _tool_repo(ws, agent)]


def _runs(ws: Workspace, agent: Agent, repair: bool, read_only: bool = False) -> Finding:
    """Runs left `running` by a killed process, in each of the agent's conversations (each checked
    holding its turn lock, so none is live; in a read-only home no turn can run)."""
    scopes: list[str | None] = [None, *(c.id for c in ws.store.list_conversations(agent.id, limit=100_000))]
    stuck: list[str] = []
    busy = 0
    for scope in scopes:
        if read_only:
            stuck += ws.store.running_runs(agent.id, conversation=scope)
            continue
        lock = ws.store.turn_lock(agent.id, scope)
        if not lock.try_acquire():
            busy += 1
            continue
        try:
            stuck += recover(ws.store, agent, scope) if repair else ws.store.running_runs(agent.id, conversation=scope)
        finally:
            lock.release()
    note = f"; {busy} conversation(s) in a turn now, not checked" if busy else ""
    if not stuck:
        return Finding("runs", "ok", note.lstrip("; "))
    if repair:
        return Finding("runs", "repaired", f"{len(stuck)} run(s) left running marked interrupted{note}")
    return Finding("runs", "problem", f"{len(stuck)} run(s) left running by a killed process{note}")


def _tool_repo(ws: Workspace, agent: Agent) -> Finding:
    from memos.tools.repo import ToolRepo

    if ws.store.cluster:
        problem = _tool_code_in_store(ws, agent)
        if problem:
            return Finding("tool repo", "problem", problem)
    path = ws.home.tools_dir_of(agent)
    if not (path / ".git").exists():
        return Finding("tool repo", "problem", f"{path} is not a git repo (`memos tools list` makes a new one)")
    dirty = [c.path for c in ToolRepo(path).changes()]
    if dirty:
        return Finding("tool repo", "problem",
                       f"uncommitted changes in {', '.join(dirty[:5])}: commit them (`memos tools commit`) or "
                       "discard them; evolution refuses a dirty repo")
    return Finding("tool repo", "ok")


def _tool_code_in_store(ws: Workspace, agent: Agent) -> str | None:
    """On a shared store: every branch the store names is in its packs (this home's copy syncs),
    and every attached tool's recorded commit is one the store holds."""
    from memos.errors import MemosError
    from memos.tools.shared_code import current

    try:
        repo, _main = current(ws, agent)
    except MemosError as exc:
        return str(exc)
    recorded = {t.name: t.repo_commit for t in ws.store.list_agent_tools(agent.id) if t.repo_commit}
    known = set(repo.git.git.rev_list("--all").split()) if recorded else set()
    missing = sorted(name for name, commit in recorded.items() if commit not in known)
    if missing:
        return (f"attached tool(s) {', '.join(missing)} record commits the store does not hold (written by a "
                "replica whose repo was never shared): a turn reloads them from the store's main")
    return None
