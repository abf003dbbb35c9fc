"""`memos archival`: long-term passages with vector, text and hybrid search."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from memos.cli import output
from memos.cli.common import AgentOpt, JsonOpt, YesOpt, agent_and_workspace, confirm

if TYPE_CHECKING:
    from memos.core.ingest import BadLine, Record

app = typer.Typer(help="Long-term passages: add, search, list, rm.", no_args_is_help=True)


class Mode(str, Enum):
    hybrid = "hybrid"
    vector = "vector"
    text = "text"


class Match(str, Enum):
    any = "any"
    all = "all"


class Format(str, Enum):
    auto = "auto"
    lines = "lines"
    jsonl = "jsonl"
    text = "text"


TagOpt = Annotated[list[str] | None, typer.Option("--tag", "-t", help="Tag (repeatable).")]


def _hits_json(hits, explain: bool = False) -> list[dict]:
    return [{**output.jsonable(h.passage), "score": h.score, **({"explain": h.explain} if explain else {})}
            for h in hits]


def _mode_cell(part: dict | None) -> str:
    """One mode's part of an explanation: '#rank score', '-' for a rank past that mode's list."""
    if not part:
        return ""
    rank = f"#{part['rank']}" if part.get("rank") else "-"
    share = f" ({part['share']:.2f})" if "share" in part else ""
    return f"{rank} {part['score']:.3f}{share}"


def _neighbour_cell(part: dict | None) -> str:
    """What a neighbour lent: '+0.123 (-1)', the passage stored one before this one."""
    if not part or part.get("offset") is None:
        return ""
    return f"+{part['weight'] * part['score']:.3f} ({part['offset']:+d})"


@app.command("add")
def add(
    text: Annotated[str | None, typer.Argument(help="One passage; '-' or a pipe reads stdin.")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Read passages from a file.")] = None,
    tag: TagOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="Input format for a file or stdin (auto: .jsonl or lines starting with '{' are JSONL, else one passage per line).")] = Format.auto,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip malformed JSONL lines instead of inserting nothing.")] = False,
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Add passages: one from an argument, many from --file or stdin (lines or JSONL)."""
    from memos.core import archival

    records, bad_lines = _passages_to_add(text, file, fmt, [t.strip() for t in tag or [] if t.strip()], skip_bad)
    for bad in bad_lines:
        output.warn(f"skipped line {bad.line}: {bad.reason}")
    ws, current = agent_and_workspace(agent)
    # A document (--format text) is one source whose chunks explain each other; lines and JSONL
    # records are independent notes (hybrid search lends neighbour context only within a source).
    related = fmt == Format.text
    if output.is_terminal(sys.stderr) and len(records) > 1:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress("embedding", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=output.err(), transient=True) as bar:
            task = bar.add_task("embed", total=len(records))
            inserted = archival.insert(ws.store, current, records, lambda done, _: bar.update(task, completed=done),
                                       related=related)
    else:
        inserted = archival.insert(ws.store, current, records, related=related)
    if json_out:
        output.emit_json(inserted)
    else:
        output.plain("\n".join(p.id for p in inserted))
        skipped = f", skipped {len(bad_lines)} bad lines" if bad_lines else ""
        output.note(f"added {len(inserted)} passage{'s' if len(inserted) != 1 else ''}{skipped}")


def _passages_to_add(text: str | None, file: Path | None, fmt: Format, tags: list[str],
                     skip_bad: bool) -> tuple[list[Record], list[BadLine]]:
    """The input as passage-sized records. The raw text and the unsplit records are dropped on
    return: held while the import runs, a 50 MB file cost three copies of itself."""
    from memos.cli.inputs import read_file, read_stdin, stdin_is_piped
    from memos.core import ingest
    from memos.errors import InvalidInput

    if file is not None and text is not None:
        raise InvalidInput("give either TEXT or --file, not both")
    if file is not None:
        raw, name, fmt_value = read_file(file), file.name, ingest.format_named(fmt.value)
    elif text == "-" or (text is None and stdin_is_piped()):
        raw, name, fmt_value = read_stdin(), None, ingest.format_named(fmt.value)
    elif text is not None:
        raw, name, fmt_value = text, None, "text"
    else:
        raise InvalidInput("nothing to add", "give TEXT, --file PATH, or pipe text on stdin")
    parsed = ingest.parse(raw, fmt_value, tags=tags, skip_bad=skip_bad, filename=name)
    return ingest.split_records(parsed.records), parsed.bad


@app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    mode: Annotated[Mode, typer.Option(help="vector (meaning), text (words, BM25) or hybrid (both, fused).")] = Mode.hybrid,
    tag: TagOpt = None,
    match: Annotated[Match, typer.Option(help="With several tags: any or all of them.")] = Match.any,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=1000, help="How many results.")] = 10,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many results (paging).")] = 0,
    since: Annotated[str | None, typer.Option(help="From this date (ISO, or 7d / 12h ago).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this date.")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Show each mode's rank and score and the fused score per hit.")] = False,
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Search archival memory."""
    from memos.core import archival
    from memos.core.timeparse import parse_when
    from memos.store.base import PassageQuery

    ws, current = agent_and_workspace(agent)
    hits = archival.search(ws.store, current, PassageQuery(
        text=query, mode=mode.value, tags=tuple(tag or ()), tag_match=match.value,
        start=parse_when(since) if since else None, end=parse_when(until, end_of_day=True) if until else None,
        top_k=top_k, offset=offset))
    if json_out:
        output.emit_json(_hits_json(hits, explain))
        return
    if explain:
        # hybrid: score = vector weight x cosine + text weight x share of the best possible text
        # score + what the best passage stored up to two places before or after lends
        output.table(["score", "vector", "text (share)", "neighbour", "text", "id"], [
            (f"{h.score:.3f}", _mode_cell((h.explain or {}).get("vector")), _mode_cell((h.explain or {}).get("text")),
             _neighbour_cell((h.explain or {}).get("neighbour")), output.shorten(h.passage.text, 50), h.passage.id)
            for h in hits])
        return
    output.table(["score", "when", "tags", "text", "id"], [
        (f"{h.score:.3f}", output.when(h.passage.created_at), ",".join(h.passage.tags),
         output.shorten(h.passage.text, 60), h.passage.id) for h in hits])


@app.command("list")
def list_passages(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    after: Annotated[str | None, typer.Option(help="Cursor: passages after this id.")] = None,
    before: Annotated[str | None, typer.Option(help="Cursor: passages before this id.")] = None,
    desc: Annotated[bool, typer.Option("--desc", help="Newest first.")] = False,
    tag: TagOpt = None,
    match: Annotated[Match, typer.Option(help="With several tags: any or all.")] = Match.any,
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A page of passages (oldest first by default)."""
    ws, current = agent_and_workspace(agent)
    found = ws.store.list_passages(current.id, after=after, before=before, limit=limit, ascending=not desc,
                                   tags=tag or [], tag_match=match.value)
    if json_out:
        output.emit_json(found)
        return
    output.table(["when", "tags", "text", "id"], [
        (output.when(p.created_at), ",".join(p.tags), output.shorten(p.text, 70), p.id) for p in found])


@app.command("rm")
def remove(
    passage_ids: Annotated[list[str], typer.Argument(help="Passage ids to delete.")],
    yes: YesOpt = False,
    agent: AgentOpt = None,
) -> None:
    """Delete passages."""
    ws, current = agent_and_workspace(agent)
    for passage_id in passage_ids:
        ws.store.get_passage(current.id, passage_id)  # unknown ids fail before asking
    confirm(f"Delete {len(passage_ids)} passage(s) from '{current.name}'?", yes)
    deleted = ws.store.delete_passages(current.id, passage_ids)
    output.note(f"deleted {deleted} passage{'s' if deleted != 1 else ''}")


@app.command("stats")
def stats(agent: AgentOpt = None, json_out: JsonOpt = False) -> None:
    """Passage count, tags, dates and index coverage."""
    ws, current = agent_and_workspace(agent)
    result = ws.store.passage_stats(current.id)
    if json_out:
        output.emit_json(result)
        return
    output.table(["stat", "value"], [
        ("passages", result.total), ("in vector index", result.indexed),
        ("embedding model", result.embedding_model), ("first", output.when(result.first_at)),
        ("last", output.when(result.last_at)),
        *[(f"tag {name}", count) for name, count in list(result.tags.items())[:20]]])


@app.command("reembed")
def reembed(
    model: Annotated[str, typer.Option("--model", "-m", help="The embedding model to move to, e.g. "
                                       "openai/text-embedding-3-small, ollama/nomic-embed-text, local/all-MiniLM-L6-v2.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say how many texts (and for a priced model the cost); "
                                          "change nothing.")] = False,
    folders: Annotated[bool, typer.Option("--folders", help="Also move the folders attached to the agent "
                                          "(their files are then embedded with the model for every agent).")] = False,
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Embed every passage again with another model, then switch the agent to it.

    Resumable: after Ctrl-C or a crash, run it again and it goes on from where it stopped.
    Search keeps the old vectors until every passage has its new one."""
    from memos.core import reembed as core_reembed

    ws, current = agent_and_workspace(agent)
    planned = core_reembed.plan(ws, current, model)
    if dry_run:
        if json_out:
            output.emit_json(planned)
            return
        cost = f", about {planned.tokens:,} tokens" if planned.tokens is not None else ""
        cost += f", about ${planned.cost_usd:.2g}" if planned.cost_usd is not None else \
            (", cost unknown (no list price for this model)" if planned.tokens is not None else "")
        output.plain(f"{planned.to_embed:,} of {planned.passages:,} passages to embed with {model} "
                     f"({planned.characters:,} characters{cost})")
        return
    if output.is_terminal(sys.stderr) and planned.to_embed:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress("re-embedding", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=output.err(), transient=True) as bar:
            task = bar.add_task("embed", total=planned.to_embed)
            embedded = core_reembed.reembed(ws, current, model,
                                            lambda done, total: bar.update(task, completed=done, total=total))
    else:
        embedded = core_reembed.reembed(ws, current, model)
    result: dict[str, object] = {"agent": current.name, "model": model, "passages": planned.passages,
                                 "embedded": embedded,
                                 "resumed": planned.passages - planned.to_embed}  # staged by an earlier run
    moved_folders = {folder.name: core_reembed.reembed_folder(ws, folder, model)
                     for folder in ws.store.agent_folders(current.id)} if folders else {}
    if folders:
        result["folders"] = moved_folders
    if json_out:
        output.emit_json(result)
    else:
        output.note(f"'{current.name}' now embeds with {model}: {embedded:,} passage{'s' if embedded != 1 else ''} "
                    f"embedded" + (f" ({result['resumed']:,} from an earlier run)" if result["resumed"] else "")
                    + "".join(f"; folder '{name}': {count:,} chunks" for name, count in moved_folders.items()))
