"""Folders in agent files: Letta's `sources`, `files` and each agent's `files_agents` (which of
its files it has open) become memos folders on import and are written back on export."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from memos.core.folders import embedded_chunks, file_label, window
from memos.core.workspace import Workspace
from memos.store.base import Agent, FileChunk, Store

FOLDER_KINDS = ("sources", "files")


@dataclass
class FolderPlan:
    """A folder of the file: what to create (or find), its files chunked and embedded already."""

    key: str  # its id in the file
    embedding_model: str  # memos's: files are embedded with it
    name: str
    description: str | None
    instructions: str | None
    metadata: dict[str, Any]
    files: list[tuple[str, str, str | None, str, list[FileChunk]]] = field(default_factory=list)
    # (file name, original name, type, text, chunks)


def plan_folders(ws: Workspace, leftovers: dict[str, list[Any]], notes: list[str]) -> dict[str, FolderPlan]:
    """The file's folders with their files, embedded now (before anything is written): what
    does not fit (a file without text) is said in ``notes`` and left out."""
    plans: dict[str, FolderPlan] = {}
    model = str(ws.config.get("embedding_model"))
    for source in leftovers.get("sources", []):
        if isinstance(source, dict) and isinstance(source.get("id"), str) and isinstance(source.get("name"), str):
            plans[source["id"]] = FolderPlan(source["id"], model, source["name"], source.get("description"),
                                             source.get("instructions"), source.get("metadata") or {})
    for doc in leftovers.get("files", []):
        if not isinstance(doc, dict) or doc.get("source_id") not in plans:
            continue
        name = str(doc.get("file_name") or doc.get("original_file_name") or doc.get("id"))
        text = doc.get("content")
        if not isinstance(text, str):
            notes.append(f"file {name} has no text in the agent file; not imported")
            continue
        plans[doc["source_id"]].files.append((name, str(doc.get("original_file_name") or name),
                                              doc.get("file_type"), text, embedded_chunks(text, model)))
    return plans


def write_folders(store: Store, plans: dict[str, FolderPlan]) -> dict[str, tuple[str, dict[str, str]]]:
    """Create the folders (a folder of the same name holding the same files is used as it is);
    file key -> (folder id, file name -> file id). Call inside the import's transaction."""
    placed: dict[str, tuple[str, dict[str, str]]] = {}
    existing = {f.name: f for f in store.list_folders()}
    for plan in plans.values():
        same = existing.get(plan.name)
        if same is not None:
            there = {f.file_name: f for f in store.list_files(same.id)}
            if all(name in there and there[name].content == text for name, _, _, text, _ in plan.files):
                placed[plan.key] = (same.id, {name: f.id for name, f in there.items()})
                continue
        name = plan.name
        n = 2
        while name in existing:
            name, n = f"{plan.name}-{n}", n + 1
        folder = store.create_folder(name, description=plan.description, instructions=plan.instructions,
                                     metadata=plan.metadata, embedding_model=plan.embedding_model)
        existing[name] = folder
        ids = {}
        for file_name, original, file_type, text, chunks in plan.files:
            ids[file_name] = store.add_file(folder.id, file_name=file_name, original_file_name=original,
                                            file_type=file_type, content=text, chunks=chunks).id
        placed[plan.key] = (folder.id, ids)
    return placed


def link_agent(store: Store, agent: Agent, extra: dict[str, Any], placed: dict[str, tuple[str, dict[str, str]]],
               files: dict[str, Any]) -> None:
    """Attach the agent's folders and open what it had open (``files``: the file's files by id)."""
    for key in extra.get("source_ids") or []:
        if key in placed:
            store.attach_folder(agent.id, placed[key][0])
    for link in extra.get("files_agents") or []:
        if not isinstance(link, dict) or not link.get("is_open"):
            continue
        doc = files.get(str(link.get("file_id")))
        key = link.get("source_id") or (doc or {}).get("source_id")
        name = (doc or {}).get("file_name") or str(link.get("file_name", "")).split("/")[-1]
        if key in placed and name in placed[key][1]:
            store.attach_folder(agent.id, placed[key][0])
            store.open_file(agent.id, placed[key][1][name], int(link.get("start_line") or 1),
                            int(link["end_line"]) if link.get("end_line") else None)


def export_folders(ws: Workspace, agent: Agent) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                         list[dict[str, Any]], list[str]]:
    """(sources, files, the agent's files_agents, its source_ids) in Letta's agent-file shapes."""
    from memos.core.letta import embedding_config_for

    sources: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    source_ids: list[str] = []
    items = ws.store.agent_files(agent.id)
    for i, folder in enumerate(ws.store.agent_folders(agent.id)):
        key = f"source-{i}"
        source_ids.append(key)
        sources.append({"id": key, "name": folder.name, "description": folder.description,
                        "instructions": folder.instructions, "metadata": folder.metadata or None,
                        "embedding": folder.embedding_model,
                        "embedding_config": embedding_config_for(folder.embedding_model)})
        for item in (x for x in items if x.folder.id == folder.id):
            file_key = f"file-{len(files)}"
            files.append({"id": file_key, "source_id": key, "file_name": item.file.file_name,
                          "original_file_name": item.file.original_file_name, "file_type": item.file.file_type,
                          "file_size": item.file.file_size, "content": item.file.content,
                          "processing_status": "completed", "total_chunks": item.file.chunks,
                          "chunks_embedded": item.file.chunks})
            visible, first, last = window(item) if item.is_open else (None, None, None)
            links.append({"id": f"file_agent-{len(links)}", "agent_id": "agent-0", "file_id": file_key,
                          "source_id": key, "file_name": file_label(item), "is_open": item.is_open,
                          "start_line": first, "end_line": last, "visible_content": visible})
    return sources, files, links, source_ids
