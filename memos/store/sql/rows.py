"""Column lists and row -> record conversions, the same for both SQL backends."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from memos.store.base import Agent, Block, BlockVersion, Conversation, Message, Passage
from memos.store.timeutil import from_db

AGENT_COLUMNS = ("id, name, description, system, model, embedding_model, context_window, "
                 "tool_rules, metadata, created_at, updated_at, tags, max_tokens, response_format")
BLOCK_COLUMNS = ("b.id, b.label, b.value, b.char_limit, b.description, b.read_only, b.is_template, "
                 "b.version, b.created_at, b.updated_at, owners.agent_ids")
# Joined after `FROM blocks b`: the agents sharing each block (a join, not a correlated subquery: 4x faster).
BLOCK_OWNERS = ("LEFT JOIN (SELECT block_id, array_agg(agent_id ORDER BY created_at) AS agent_ids FROM agent_blocks "
                "GROUP BY block_id) owners ON owners.block_id = b.id")
HISTORY_COLUMNS = "block_id, version, old_value, new_value, actor, reason, restored_from, created_at"
MESSAGE_COLUMNS = ("id, agent_id, seq, role, content, name, tool_calls, tool_call_id, step_id, run_id, "
                   "in_context, created_at, conversation_id, otid")
CONVERSATION_COLUMNS = "id, agent_id, name, summary, model, created_at, updated_at, last_message_at"
PASSAGE_COLUMNS = "id, agent_id, text, tags, created_at"
PASSAGE_COLUMNS_P = ", ".join(f"p.{column}" for column in PASSAGE_COLUMNS.split(", "))  # from `passages p`


def json_value(value: Any, default: Any = None) -> Any:
    """A JSON column's value: DuckDB hands JSON back as text, PostgreSQL's JSONB as Python
    values; ``default`` for SQL NULL."""
    if value is None:
        return default
    return json.loads(value) if isinstance(value, str) else value


def agent(row: Sequence[Any]) -> Agent:
    return Agent(
        id=row[0], name=row[1], description=row[2], system=row[3], model=row[4],
        embedding_model=row[5], context_window=row[6], tool_rules=json_value(row[7], []),
        metadata=json_value(row[8], {}), created_at=from_db(row[9]), updated_at=from_db(row[10]),
        tags=json_value(row[11], []), max_tokens=row[12], response_format=json_value(row[13], None),
    )


def block(row: Sequence[Any]) -> Block:
    return Block(
        id=row[0], label=row[1], value=row[2], limit=row[3], description=row[4], read_only=row[5],
        is_template=row[6], version=row[7], created_at=from_db(row[8]), updated_at=from_db(row[9]),
        agent_ids=tuple(row[10] or ()),
    )


def history(row: Sequence[Any]) -> BlockVersion:
    return BlockVersion(
        block_id=row[0], version=row[1], old_value=row[2], new_value=row[3], actor=row[4],
        reason=row[5], restored_from=row[6], created_at=from_db(row[7]),
    )


def message(row: Sequence[Any]) -> Message:
    return Message(
        id=row[0], agent_id=row[1], seq=row[2], role=row[3], content=row[4], name=row[5],
        tool_calls=json_value(row[6], None), tool_call_id=row[7], step_id=row[8], run_id=row[9],
        in_context=row[10], created_at=from_db(row[11]), conversation_id=row[12], otid=row[13],
    )


def conversation(row: Sequence[Any]) -> Conversation:
    return Conversation(id=row[0], agent_id=row[1], name=row[2], summary=row[3], model=row[4],
                        created_at=from_db(row[5]), updated_at=from_db(row[6]),
                        last_message_at=from_db(row[7]))


def passage(row: Sequence[Any]) -> Passage:
    return Passage(id=row[0], agent_id=row[1], text=row[2], tags=list(row[3] or []),
                   created_at=from_db(row[4]))
