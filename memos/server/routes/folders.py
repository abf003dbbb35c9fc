"""Folders and their files (Letta's /v1/folders), and an agent's folders and files.

An upload is read, chunked and embedded before the request returns, so a file is
"completed" (or the request fails and nothing is kept): there is no background processing
to poll.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, UploadFile

from memos.core import folders as core_folders
from memos.core import letta
from memos.core.workspace import Workspace
from memos.errors import InvalidInput, NotFound
from memos.server import shapes
from memos.server.deps import WS, AgentDep
from memos.server.paging import paged
from memos.server.schemas import FolderCreate, FolderUpdate
from memos.store.base import AgentFile, FolderFile

router = APIRouter(prefix="/v1", tags=["folders"])


def file_shape(file: FolderFile, include_content: bool = False) -> dict[str, Any]:
    return {"id": file.id, "source_id": file.folder_id, "folder_id": file.folder_id, "file_name": file.file_name,
            "original_file_name": file.original_file_name, "file_path": None, "file_type": file.file_type,
            "file_size": file.file_size, "file_creation_date": shapes.iso(file.created_at),
            "file_last_modified_date": shapes.iso(file.updated_at), "processing_status": "completed",
            "error_message": None, "total_chunks": file.chunks, "chunks_embedded": file.chunks,
            "content": file.content if include_content else None,
            "created_at": shapes.iso(file.created_at), "updated_at": shapes.iso(file.updated_at)}


def agent_file_shape(item: AgentFile) -> dict[str, Any]:
    visible, first, last = core_folders.window(item) if item.is_open else (None, None, None)
    return {"id": item.file.id, "file_id": item.file.id, "file_name": core_folders.file_label(item),
            "folder_id": item.folder.id, "folder_name": item.folder.name, "is_open": item.is_open,
            "visible_content": visible, "start_line": first, "end_line": last,
            "last_accessed_at": shapes.iso(item.opened_at)}


@router.get("/folders/")
def list_folders(ws: WS, name: str | None = None, after: str | None = None, before: str | None = None,
                 limit: int = Query(50, ge=1, le=1000), order: Literal["asc", "desc"] = "asc") -> list[dict[str, Any]]:
    found = [f for f in ws.store.list_folders() if name is None or f.name == name]
    return [shapes.folder(f) for f in paged(found, after=after, before=before, limit=limit, order=order)]


@router.post("/folders/")
def create_folder(ws: WS, body: FolderCreate) -> dict[str, Any]:
    if body.embedding_chunk_size is not None:
        raise InvalidInput("memos cuts files into chunks of whole lines of its own size",
                           "leave out embedding_chunk_size")
    # The model the client names (Letta's clients name OpenAI's by habit: it then works where the
    # user has a key or an OpenAI-compatible server), else memos's default.
    model = body.embedding or letta.embedding_handle(body.embedding_config) or str(ws.config.get("embedding_model"))
    return shapes.folder(ws.store.create_folder(body.name, description=body.description, instructions=body.instructions,
                                               metadata=body.metadata, embedding_model=model))


@router.get("/folders/count")
def count_folders(ws: WS) -> int:
    return len(ws.store.list_folders())


@router.get("/folders/name/{folder_name}")
def folder_by_name(ws: WS, folder_name: str) -> str:
    """The id of the folder with this name (Letta answers with the id alone)."""
    folder = ws.store.get_folder(folder_name)
    if folder.name != folder_name:
        raise NotFound(f"no folder named '{folder_name}'")
    return folder.id


@router.get("/folders/{folder_id}")
def retrieve_folder(ws: WS, folder_id: str) -> dict[str, Any]:
    return shapes.folder(ws.store.get_folder(folder_id))


@router.patch("/folders/{folder_id}")
def update_folder(ws: WS, folder_id: str, body: FolderUpdate) -> dict[str, Any]:
    return shapes.folder(ws.store.update_folder(ws.store.get_folder(folder_id).id, name=body.name, description=body.description,
                                               instructions=body.instructions, metadata=body.metadata))


@router.delete("/folders/{folder_id}")
def delete_folder(ws: WS, folder_id: str) -> None:
    ws.store.delete_folder(ws.store.get_folder(folder_id).id)


@router.get("/folders/{folder_id}/agents")
def folder_agents(ws: WS, folder_id: str) -> list[str]:
    return ws.store.folder_agents(ws.store.get_folder(folder_id).id)


@router.post("/folders/{folder_id}/upload")
def upload_file(ws: WS, folder_id: str, file: Annotated[UploadFile, File()],
                duplicate_handling: Literal["skip", "error", "suffix", "replace"] = "suffix",
                name: str | None = None) -> dict[str, Any]:
    folder = ws.store.get_folder(folder_id)
    data = file.file.read(core_folders.MAX_FILE_BYTES + 1)
    stored, _added = core_folders.upload(ws.store, folder, name or file.filename or "file.txt", data,
                                         file_type=file.content_type, duplicates=duplicate_handling)
    return file_shape(stored)  # with "skip", the file already there


@router.get("/folders/{folder_id}/passages")
def folder_passages(ws: WS, folder_id: str, after: str | None = None, before: str | None = None,
                    limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    """The chunks the folder's files were cut into, as Letta's passages (file by file, in order).
    A chunk's id is made from its file and place, the same on every read."""
    folder = ws.store.get_folder(folder_id)
    names = {f.id: f.file_name for f in ws.store.list_files(folder.id)}
    config = letta.embedding_config_for(folder.embedding_model)
    shaped: list[dict[str, Any]] = []
    place: dict[str, int] = {}
    for file_id, chunk in ws.store.folder_chunks([folder.id]):
        place[file_id] = place.get(file_id, -1) + 1
        shaped.append({"id": "passage-" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{file_id}/{place[file_id]}")),
                       "text": chunk.text, "file_id": file_id, "file_name": names.get(file_id),
                       "source_id": folder.id, "folder_id": folder.id, "agent_id": None, "archive_id": None,
                       "embedding": None, "embedding_config": config, "tags": [], "is_deleted": False,
                       "metadata": {"start_line": chunk.start_line},
                       "created_at": shapes.iso(folder.created_at), "updated_at": shapes.iso(folder.updated_at)})
    return paged(shaped, after=after, before=before, limit=limit, key=lambda p: p["id"])


@router.get("/folders/{folder_id}/files")
def list_folder_files(ws: WS, folder_id: str, after: str | None = None, before: str | None = None,
                      limit: int = Query(1000, ge=1, le=1000), include_content: bool = False) -> list[dict[str, Any]]:
    files = ws.store.list_files(ws.store.get_folder(folder_id).id)
    return [file_shape(f, include_content) for f in paged(files, after=after, before=before, limit=limit)]


def _file_in(ws: Workspace, folder_id: str, file_id: str) -> FolderFile:
    found = ws.store.get_file(file_id)
    if found.folder_id != ws.store.get_folder(folder_id).id:
        raise NotFound(f"folder '{folder_id}' has no file '{file_id}'")
    return found


@router.get("/folders/{folder_id}/files/{file_id}")
def retrieve_folder_file(ws: WS, folder_id: str, file_id: str, include_content: bool = False) -> dict[str, Any]:
    return file_shape(_file_in(ws, folder_id, file_id), include_content)


@router.delete("/folders/{folder_id}/{file_id}")
def delete_folder_file(ws: WS, folder_id: str, file_id: str) -> None:
    ws.store.delete_file(_file_in(ws, folder_id, file_id).id)


@router.get("/agents/{agent_id}/sources")  # Letta's older name of folders
@router.get("/agents/{agent_id}/folders")
def agent_folders(ws: WS, agent: AgentDep, after: str | None = None, before: str | None = None,
                  limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    return [shapes.folder(f) for f in paged(ws.store.agent_folders(agent.id), after=after, before=before, limit=limit)]


@router.patch("/agents/{agent_id}/sources/attach/{folder_id}")
@router.patch("/agents/{agent_id}/folders/attach/{folder_id}")
def attach_folder(ws: WS, agent: AgentDep, folder_id: str) -> dict[str, Any]:
    from memos.server.deps import agent_state

    ws.store.attach_folder(agent.id, ws.store.get_folder(folder_id).id)
    return agent_state(ws, agent)


@router.patch("/agents/{agent_id}/sources/detach/{folder_id}")
@router.patch("/agents/{agent_id}/folders/detach/{folder_id}")
def detach_folder(ws: WS, agent: AgentDep, folder_id: str) -> dict[str, Any]:
    from memos.server.deps import agent_state

    ws.store.detach_folder(agent.id, ws.store.get_folder(folder_id).id)
    return agent_state(ws, agent)


@router.get("/agents/{agent_id}/files")
def agent_files(ws: WS, agent: AgentDep, is_open: bool | None = None, cursor: str | None = None,
                limit: int = Query(20, ge=1, le=1000)) -> dict[str, Any]:
    """Letta's PaginatedAgentFiles: the files of the agent's folders, open or closed."""
    found = [f for f in ws.store.agent_files(agent.id) if is_open is None or f.is_open == is_open]
    start = next((i + 1 for i, f in enumerate(found) if f.file.id == cursor), 0) if cursor else 0
    page = found[start:start + limit]
    more = start + limit < len(found)
    return {"files": [agent_file_shape(f) for f in page], "has_more": more,
            "next_cursor": page[-1].file.id if more and page else None}


def _agent_file(ws: Workspace, agent_id: str, file_id: str) -> AgentFile:
    found = [f for f in ws.store.agent_files(agent_id) if f.file.id == file_id]
    if not found:
        raise NotFound(f"the agent has no file '{file_id}'", "attach its folder first")
    return found[0]


@router.patch("/agents/{agent_id}/files/{file_id}/open")
def open_agent_file(ws: WS, agent: AgentDep, file_id: str) -> list[str]:
    """Open the whole file for the agent; the names of files closed to stay within the limit."""
    item = _agent_file(ws, agent.id, file_id)
    ws.store.open_file(agent.id, item.file.id, 1, None)
    return core_folders.close_over_limit(ws.store, agent)


@router.patch("/agents/{agent_id}/files/{file_id}/close")
def close_agent_file(ws: WS, agent: AgentDep, file_id: str) -> dict[str, Any]:
    item = _agent_file(ws, agent.id, file_id)
    ws.store.close_files(agent.id, [item.file.id])
    return {"message": f"closed {core_folders.file_label(item)}"}


@router.patch("/agents/{agent_id}/files/close-all")
def close_all_agent_files(ws: WS, agent: AgentDep) -> list[str]:
    open_now = [core_folders.file_label(f) for f in ws.store.agent_files(agent.id) if f.is_open]
    ws.store.close_files(agent.id)
    return open_now
