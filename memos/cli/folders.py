"""`memos folders`: folders of text files an agent reads once a folder is attached (Letta's
folders). The agent opens, greps and searches them with open_files, grep_files and
semantic_search_files; the files it has open are in its prompt."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memos.cli import output
from memos.cli.common import AgentOpt, JsonOpt, YesOpt, agent_and_workspace, confirm, workspace

if TYPE_CHECKING:
    from memos.store.base import Folder, FolderFile

app = typer.Typer(help="Folders of files agents can read (attach one to an agent).", no_args_is_help=True)

FolderArg = Annotated[str, typer.Argument(help="The folder's name (or id).")]


def _folder_view(folder: Folder, files: int | None = None) -> dict[str, Any]:
    return {"id": folder.id, "name": folder.name, "description": folder.description,
            "instructions": folder.instructions, "embedding_model": folder.embedding_model, "files": files,
            "created_at": folder.created_at}


def _file_view(file: FolderFile) -> dict[str, Any]:
    return {"id": file.id, "file_name": file.file_name, "size": file.file_size, "chunks": file.chunks,
            "lines": len(file.content.splitlines()), "created_at": file.created_at}


@app.command("list")
def list_folders(json_out: JsonOpt = False) -> None:
    """Every folder, with its number of files."""
    ws = workspace()
    views = [_folder_view(f, len(ws.store.list_files(f.id))) for f in ws.store.list_folders()]
    if json_out:
        output.emit_json(views)
        return
    output.table(["name", "files", "description", "id"],
                 [(v["name"], v["files"], output.shorten(v["description"] or "", 50), v["id"]) for v in views])


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name for the folder (the agent sees it).")],
    description: Annotated[str | None, typer.Option(help="What is in it (the agent sees it).")] = None,
    instructions: Annotated[str | None, typer.Option(help="How the agent should use it (in its prompt).")] = None,
    embedding_model: Annotated[str | None, typer.Option(
        help="Embed its files with this model (default: config embedding_model).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Make an empty folder."""
    ws = workspace()
    made = ws.store.create_folder(name, description=description, instructions=instructions,
                                  embedding_model=embedding_model or str(ws.config.get("embedding_model")))
    if json_out:
        output.emit_json(_folder_view(made, 0))
    else:
        output.note(f"created folder '{name}' ({made.id})")


@app.command("upload")
def upload(
    folder: FolderArg,
    paths: Annotated[list[str], typer.Argument(help="Text files to add ('-' reads stdin; give --name).")],
    name: Annotated[str | None, typer.Option(help="The file's name in the folder (for stdin, or one file).")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a file of the same name (default: a new name).")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Add text files to a folder: each is chunked and embedded now. All are read first, so a
    file that cannot be read adds none of them."""
    from memos.cli.inputs import read_stdin
    from memos.core.folders import MAX_FILE_BYTES, decode_text
    from memos.core.folders import upload as store_file
    from memos.errors import InvalidInput

    ws = workspace()
    target = ws.store.get_folder(folder)
    if name and len(paths) > 1:
        raise InvalidInput("--name names one file", "upload the files one at a time to name each")
    loaded: list[tuple[str, bytes]] = []
    for path in paths:
        if path == "-":
            if not name:
                raise InvalidInput("a file from stdin needs a name", "give --name NAME")
            loaded.append((name, read_stdin().encode()))
            continue
        source = Path(path)
        if not source.is_file():
            raise InvalidInput(f"{path} is not a file")
        if source.stat().st_size > MAX_FILE_BYTES:
            raise InvalidInput(f"{path} is {source.stat().st_size:,} bytes; memos reads files up to {MAX_FILE_BYTES:,}",
                               "split it into smaller files")
        data = source.read_bytes()
        decode_text(data, path)  # refuse a binary file before anything is added
        loaded.append((name or source.name, data))
    added = []
    for file_name, data in loaded:
        stored, _ = store_file(ws.store, target, file_name, data, duplicates="replace" if replace else "suffix")
        added.append(stored)
        if not json_out:
            output.note(f"added {stored.file_name} to '{target.name}' ({stored.chunks} chunks)")
    if json_out:
        output.emit_json([_file_view(f) for f in added])


@app.command("files")
def files(folder: FolderArg, json_out: JsonOpt = False) -> None:
    """The files of a folder."""
    ws = workspace()
    found = [_file_view(f) for f in ws.store.list_files(ws.store.get_folder(folder).id)]
    if json_out:
        output.emit_json(found)
        return
    output.table(["file", "lines", "bytes", "chunks", "id"],
                 [(f["file_name"], f["lines"], f["size"], f["chunks"], f["id"]) for f in found])


@app.command("rm-file")
def remove_file(folder: FolderArg, file_name: Annotated[str, typer.Argument(help="The file's name in the folder.")],
                yes: YesOpt = False) -> None:
    """Delete one file of a folder."""
    from memos.errors import NotFound

    ws = workspace()
    target = ws.store.get_folder(folder)
    found = [f for f in ws.store.list_files(target.id) if f.file_name == file_name or f.id == file_name]
    if not found:
        raise NotFound(f"folder '{target.name}' has no file '{file_name}'", f"see `memos folders files {target.name}`")
    confirm(f"Delete {found[0].file_name} from folder '{target.name}'?", yes)
    ws.store.delete_file(found[0].id)
    output.note(f"deleted {found[0].file_name}")


@app.command("rm")
def remove(folder: FolderArg, yes: YesOpt = False) -> None:
    """Delete a folder and its files (agents it was attached to no longer see it)."""
    ws = workspace()
    target = ws.store.get_folder(folder)
    confirm(f"Delete folder '{target.name}' and its {len(ws.store.list_files(target.id))} file(s)?", yes)
    ws.store.delete_folder(target.id)
    output.note(f"deleted folder '{target.name}'")


@app.command("reembed")
def reembed(
    name: Annotated[str, typer.Argument(help="The folder.")],
    model: Annotated[str, typer.Option("--model", "-m", help="The embedding model to move its files to.")],
    json_out: JsonOpt = False,
) -> None:
    """Embed the folder's files again with another model, and switch the folder to it at once."""
    from memos.core.reembed import reembed_folder

    ws = workspace()
    folder = ws.store.get_folder(name)
    chunks = reembed_folder(ws, folder, model)
    if json_out:
        output.emit_json({"folder": folder.name, "model": model, "chunks": chunks})
    else:
        output.note(f"folder '{folder.name}' now embeds with {model}: {chunks:,} chunks embedded")


@app.command("attach")
def attach(folder: FolderArg, agent: AgentOpt = None) -> None:
    """Let an agent read a folder's files (it gets the file tools while a folder is attached)."""
    ws, current = agent_and_workspace(agent)
    target = ws.store.get_folder(folder)
    ws.store.attach_folder(current.id, target.id)
    output.note(f"attached folder '{target.name}' to agent '{current.name}'")


@app.command("detach")
def detach(folder: FolderArg, agent: AgentOpt = None) -> None:
    """Take a folder away from an agent (its open files close)."""
    ws, current = agent_and_workspace(agent)
    target = ws.store.get_folder(folder)
    ws.store.detach_folder(current.id, target.id)
    output.note(f"detached folder '{target.name}' from agent '{current.name}'")


@app.command("open")
def opened(agent: AgentOpt = None, json_out: JsonOpt = False) -> None:
    """The files of an agent's folders, and which it has open (and where)."""
    from memos.core.folders import file_label, window

    ws, current = agent_and_workspace(agent)
    views: list[dict[str, Any]] = []
    for item in ws.store.agent_files(current.id):
        first, last = window(item)[1:] if item.is_open else (None, None)
        views.append({"file": file_label(item), "file_id": item.file.id, "open": item.is_open,
                      "first_line": first, "last_line": last})
    if json_out:
        output.emit_json(views)
        return
    output.table(["file", "open", "lines"], [(v["file"], "yes" if v["open"] else "",
                                              f"{v['first_line']}-{v['last_line']}" if v["open"] else "")
                                             for v in views])
