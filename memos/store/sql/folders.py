"""Folders of files agents read (Letta's folders): files kept whole and in embedded chunks,
attached to agents, with the windows each agent has open."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from memos.errors import AlreadyExists, EditConflict, NotFound
from memos.store import ids
from memos.store.base import AgentFile, FileChunk, Folder, FolderFile
from memos.store.sql.host import SQLHost
from memos.store.sql.rows import json_value
from memos.store.timeutil import from_db, to_db, utcnow

_FOLDER_TABLES = frozenset({"folders", "agent_folders"})  # what agent_folders reads
FOLDER_COLUMNS = "id, name, description, instructions, metadata, embedding_model, created_at, updated_at"
FILE_COLUMNS = ("id, folder_id, file_name, original_file_name, file_type, file_size, content, created_at, "
                "updated_at")
CHUNK_COLUMNS = "file_id, folder_id, chunk, start_line, text, vector"  # not "embedding": db migrate-to reads those as pgvector's


def _folder(row: Sequence[Any]) -> Folder:
    metadata = row[4]
    return Folder(row[0], row[1], row[2], row[3], json_value(metadata, {}),
                  row[5], from_db(row[6]), from_db(row[7]))


def _file(row: Sequence[Any], chunks: int = 0) -> FolderFile:
    return FolderFile(row[0], row[1], row[2], row[3], row[4], int(row[5]), row[6], from_db(row[7]), from_db(row[8]),
                      chunks)


def _prefixed(columns: str, alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in columns.split(", "))


class FoldersMixin(SQLHost):
    def _folder_row(self, con: Any, id_or_name: str) -> Folder:
        column = "id" if ids.looks_like("source", id_or_name) else "name"
        row = con.execute(f"SELECT {FOLDER_COLUMNS} FROM folders WHERE {column} = ?", [id_or_name]).fetchone()
        if row is None:
            raise NotFound(f"no folder '{id_or_name}'", "see `memos folders list`")
        return _folder(row)

    def create_folder(self, name: str, *, description: str | None = None, instructions: str | None = None,
                      metadata: dict[str, Any] | None = None, embedding_model: str) -> Folder:
        now, folder_id = to_db(utcnow()), ids.new_id("source")
        with self._write() as con:
            self._lock(con, "folders")
            if con.execute("SELECT 1 FROM folders WHERE name = ?", [name]).fetchone():
                raise AlreadyExists(f"a folder named '{name}' exists", "choose another name")
            con.execute(f"INSERT INTO folders ({FOLDER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [folder_id, name, description, instructions, json.dumps(metadata or {}), embedding_model,
                         now, now])
            return self._folder_row(con, folder_id)

    def get_folder(self, id_or_name: str) -> Folder:
        with self._read() as con:
            return self._folder_row(con, id_or_name)

    def list_folders(self) -> list[Folder]:
        with self._read() as con:
            return [_folder(r) for r in con.execute(
                f"SELECT {FOLDER_COLUMNS} FROM folders ORDER BY created_at, id").fetchall()]

    def update_folder(self, folder_id: str, *, name: str | None = None, description: str | None = None,
                      instructions: str | None = None, metadata: dict[str, Any] | None = None) -> Folder:
        with self._write() as con:
            current = self._folder_row(con, folder_id)
            self._lock(con, "folders")
            if name is not None and name != current.name and con.execute(
                    "SELECT 1 FROM folders WHERE name = ?", [name]).fetchone():
                raise AlreadyExists(f"a folder named '{name}' exists", "choose another name")
            con.execute("UPDATE folders SET name = ?, description = ?, instructions = ?, metadata = ?, updated_at = ? "
                        "WHERE id = ?",
                        [name if name is not None else current.name,
                         description if description is not None else current.description,
                         instructions if instructions is not None else current.instructions,
                         json.dumps(metadata if metadata is not None else current.metadata), to_db(utcnow()),
                         current.id])
            return self._folder_row(con, current.id)

    def delete_folder(self, folder_id: str) -> None:
        with self._write() as con:
            folder = self._folder_row(con, folder_id)
            con.execute("DELETE FROM agent_files WHERE file_id IN (SELECT id FROM folder_files WHERE folder_id = ?)",
                        [folder.id])
            for table, column in (("file_chunks", "folder_id"), ("folder_files", "folder_id"),
                                  ("agent_folders", "folder_id"), ("folders", "id")):
                con.execute(f"DELETE FROM {table} WHERE {column} = ?", [folder.id])

    def add_file(self, folder_id: str, *, file_name: str, original_file_name: str, file_type: str | None,
                 content: str, chunks: Sequence[FileChunk], replace: bool = False) -> FolderFile:
        now, file_id = to_db(utcnow()), ids.new_id("file")
        with self._write() as con:
            folder = self._folder_row(con, folder_id)
            self._lock(con, f"folder:{folder.id}")
            taken = con.execute("SELECT id FROM folder_files WHERE folder_id = ? AND file_name = ?",
                                [folder.id, file_name]).fetchone()
            if taken and not replace:
                raise AlreadyExists(f"folder '{folder.name}' already has a file named '{file_name}'",
                                    "upload it under another name, or replace it")
            if taken:
                self._delete_file(con, taken[0])
            con.execute(f"INSERT INTO folder_files ({FILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [file_id, folder.id, file_name, original_file_name, file_type, len(content.encode()), content,
                         now, now])
            if chunks:
                self._insert_many(con, "file_chunks", CHUNK_COLUMNS, [
                    (file_id, folder.id, i, c.start_line, c.text,
                     np.asarray(c.embedding, dtype=np.float32)) for i, c in enumerate(chunks)])
            row = con.execute(f"SELECT {FILE_COLUMNS} FROM folder_files WHERE id = ?", [file_id]).fetchone()
            return _file(row, len(chunks))

    def _delete_file(self, con: Any, file_id: str) -> None:
        for table, column in (("agent_files", "file_id"), ("file_chunks", "file_id"), ("folder_files", "id")):
            con.execute(f"DELETE FROM {table} WHERE {column} = ?", [file_id])

    def get_file(self, file_id: str) -> FolderFile:
        with self._read() as con:
            row = con.execute(f"SELECT {FILE_COLUMNS} FROM folder_files WHERE id = ?", [file_id]).fetchone()
            if row is None:
                raise NotFound(f"no file '{file_id}'", "see `memos folders files FOLDER`")
            count = con.execute("SELECT count(*) FROM file_chunks WHERE file_id = ?", [file_id]).fetchone()[0]
        return _file(row, int(count))

    def list_files(self, folder_id: str) -> list[FolderFile]:
        with self._read() as con:
            folder = self._folder_row(con, folder_id)
            counts = dict(con.execute("SELECT file_id, count(*) FROM file_chunks WHERE folder_id = ? GROUP BY file_id",
                                      [folder.id]).fetchall())
            return [_file(r, int(counts.get(r[0], 0))) for r in con.execute(
                f"SELECT {FILE_COLUMNS} FROM folder_files WHERE folder_id = ? ORDER BY file_name", [folder.id])
                .fetchall()]

    def delete_file(self, file_id: str) -> None:
        with self._write() as con:
            if con.execute("SELECT 1 FROM folder_files WHERE id = ?", [file_id]).fetchone() is None:
                raise NotFound(f"no file '{file_id}'", "see `memos folders files FOLDER`")
            self._delete_file(con, file_id)

    def attach_folder(self, agent_id: str, folder_id: str) -> None:
        with self._write() as con:
            agent, folder = self._agent_row(con, agent_id), self._folder_row(con, folder_id)
            self._lock(con, f"agent-folders:{agent.id}")
            if not con.execute("SELECT 1 FROM agent_folders WHERE agent_id = ? AND folder_id = ?",
                               [agent.id, folder.id]).fetchone():
                con.execute("INSERT INTO agent_folders (agent_id, folder_id, created_at) VALUES (?, ?, ?)",
                            [agent.id, folder.id, to_db(utcnow())])

    def detach_folder(self, agent_id: str, folder_id: str) -> None:
        with self._write() as con:
            agent, folder = self._agent_row(con, agent_id), self._folder_row(con, folder_id)
            con.execute("DELETE FROM agent_files WHERE agent_id = ? AND file_id IN "
                        "(SELECT id FROM folder_files WHERE folder_id = ?)", [agent.id, folder.id])
            con.execute("DELETE FROM agent_folders WHERE agent_id = ? AND folder_id = ?", [agent.id, folder.id])

    def agent_folders(self, agent_id: str) -> list[Folder]:
        with self._read() as con:  # a turn asks twice: read again only after a write (ConnectionMemo)
            return list(self._db.memo.read(("folders", agent_id), _FOLDER_TABLES, lambda: tuple(_folder(r) for r in con.execute(
                f"SELECT {_prefixed(FOLDER_COLUMNS, 'f')} FROM agent_folders a JOIN folders f ON f.id = a.folder_id "
                "WHERE a.agent_id = ? ORDER BY a.created_at, f.id", [agent_id]).fetchall())))

    def folder_agents(self, folder_id: str) -> list[str]:
        with self._read() as con:
            folder = self._folder_row(con, folder_id)
            return [r[0] for r in con.execute("SELECT agent_id FROM agent_folders WHERE folder_id = ? "
                                              "ORDER BY created_at", [folder.id]).fetchall()]

    def agent_files(self, agent_id: str) -> list[AgentFile]:
        # One read: the agent's folders with their files and what it has open (compile_context
        # asks for it every step of an agent with folders).
        with self._read() as con:
            found = con.execute(
                f"SELECT {_prefixed(FILE_COLUMNS, 'x')}, {_prefixed(FOLDER_COLUMNS, 'f')}, "
                "o.start_line, o.end_line, o.opened_at FROM agent_folders a JOIN folders f ON f.id = a.folder_id "
                "JOIN folder_files x ON x.folder_id = f.id "
                "LEFT JOIN agent_files o ON o.file_id = x.id AND o.agent_id = a.agent_id "
                "WHERE a.agent_id = ? ORDER BY a.created_at, f.id, x.file_name", [agent_id]).fetchall()
        files, folders = len(FILE_COLUMNS.split(", ")), len(FOLDER_COLUMNS.split(", "))
        at = files + folders
        return [AgentFile(_file(r[:files]), _folder(r[files:at]), r[at + 2] is not None, r[at], r[at + 1],
                          from_db(r[at + 2])) for r in found]

    def open_file(self, agent_id: str, file_id: str, start_line: int, end_line: int | None) -> None:
        with self._write() as con:
            con.execute("DELETE FROM agent_files WHERE agent_id = ? AND file_id = ?", [agent_id, file_id])
            con.execute("INSERT INTO agent_files (agent_id, file_id, start_line, end_line, opened_at) "
                        "VALUES (?, ?, ?, ?, ?)", [agent_id, file_id, start_line, end_line, to_db(utcnow())])

    def close_files(self, agent_id: str, file_ids: Sequence[str] | None = None) -> int:
        with self._write() as con:
            where, params = "agent_id = ?", [agent_id]
            if file_ids is not None:
                if not file_ids:
                    return 0
                where += f" AND file_id IN ({', '.join('?' for _ in file_ids)})"
                params += list(file_ids)
            count = con.execute(f"SELECT count(*) FROM agent_files WHERE {where}", params).fetchone()[0]
            con.execute(f"DELETE FROM agent_files WHERE {where}", params)
            return int(count)

    def folder_chunk_texts(self, folder_id: str) -> list[str]:
        """The text of every chunk of a folder's files, in a fixed order (replace_folder_vectors')."""
        with self._read() as con:
            return [r[0] for r in con.execute("SELECT text FROM file_chunks WHERE folder_id = ? ORDER BY file_id, chunk",
                                              [folder_id]).fetchall()]

    def replace_folder_vectors(self, folder_id: str, model: str, texts: Sequence[str], vectors: Any) -> None:
        """Give a folder's chunks new vectors (of ``texts``, in folder_chunk_texts' order) and the
        folder the model they came from, in one transaction: its files are searched with one model
        at any time. Refused if the files changed since the texts were read."""
        with self._write() as con:
            self._lock(con, f"folder:{folder_id}")
            found = con.execute("SELECT file_id, folder_id, chunk, start_line, text FROM file_chunks "
                                "WHERE folder_id = ? ORDER BY file_id, chunk", [folder_id]).fetchall()
            if [row[4] for row in found] != list(texts) or len(texts) != len(vectors):
                raise EditConflict("the folder's files changed while they were embedded", "run it again")
            con.execute("DELETE FROM file_chunks WHERE folder_id = ?", [folder_id])
            if found:
                self._insert_many(con, "file_chunks", CHUNK_COLUMNS, [
                    (*row, np.asarray(vector, dtype=np.float32)) for row, vector in zip(found, vectors)])
            con.execute("UPDATE folders SET embedding_model = ?, updated_at = ? WHERE id = ?",
                        [model, to_db(utcnow()), folder_id])

    def folder_chunks(self, folder_ids: Sequence[str]) -> list[tuple[str, FileChunk]]:
        if not folder_ids:
            return []
        with self._read() as con:
            found = con.execute(
                f"SELECT file_id, start_line, text, vector FROM file_chunks WHERE folder_id IN "
                f"({', '.join('?' for _ in folder_ids)}) ORDER BY file_id, chunk", list(folder_ids)).fetchall()
        return [(r[0], FileChunk(int(r[1]), r[2], np.asarray(r[3], dtype=np.float32))) for r in found]
