"""`memos archival reembed`: move an agent's archival memory to another embedding model.

Passages are embedded in batches and their new vectors staged in the store (store/sql/reembed.py),
so an interrupted run resumes where it stopped and search keeps the old vectors until the end,
when the agent switches to the new model and its vectors in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from memos.core.workspace import Workspace
from memos.errors import InvalidInput
from memos.store.base import Agent, Folder
from memos.store.remote_embedders import LOCAL_ALIASES

BATCH = 256
Progress = Callable[[int, int], None]  # (embedded so far, to embed in all)


@dataclass(frozen=True)
class ReembedPlan:
    agent: str
    model: str
    passages: int
    to_embed: int  # not yet staged by an earlier, interrupted run
    characters: int
    tokens: int | None  # estimated, for a priced model
    cost_usd: float | None  # at the model's list price, when litellm's price list has it


def plan(ws: Workspace, agent: Agent, model: str) -> ReembedPlan:
    """What a run would do: how many texts, and for a priced model its cost."""
    from memos.core.pricing import cost_of
    from memos.core.tokens import text_tokens

    if not model.strip():
        raise InvalidInput("the model name is empty", "name one, e.g. --model openai/text-embedding-3-small")
    total, missing, chars = ws.store.reembed_counts(agent.id, model)
    tokens = cost = None
    if model not in LOCAL_ALIASES:
        # tiktoken over every text would take as long as a small run: a sample gives the ratio
        sample = ws.store.reembed_pending(agent.id, model, 200)
        sampled_chars = sum(len(text) for _, text in sample) or 1
        ratio = sum(text_tokens(model, text) for _, text in sample) / sampled_chars
        tokens = round(chars * ratio)
        cost = cost_of(model, tokens, 0)
    return ReembedPlan(agent.name, model, total, missing, chars, tokens, cost)


def reembed(ws: Workspace, agent: Agent, model: str, progress: Progress | None = None) -> int:
    """Embed every passage with ``model`` and switch the agent to it; the number embedded now.
    Passages written while it runs are embedded too before the switch."""
    from memos.store.embeddings import get_embedder

    embedder = get_embedder(model)
    done = 0
    while True:
        _, missing, _ = ws.store.reembed_counts(agent.id, model)
        goal = done + missing
        while batch := ws.store.reembed_pending(agent.id, model, BATCH):
            vectors = embedder.embed([text for _, text in batch])
            ws.store.stage_vectors(agent.id, model, [seq for seq, _ in batch], vectors)
            done += len(batch)
            if progress:
                progress(done, max(goal, done))
        if ws.store.switch_embedding_model(agent.id, model):
            return done


def reembed_folder(ws: Workspace, folder: Folder, model: str) -> int:
    """Embed every chunk of a folder's files with ``model`` and switch the folder to it; the number
    of chunks. Folders are small next to archival memory: embedded in memory, swapped at once."""
    from memos.store.embeddings import get_embedder

    texts = ws.store.folder_chunk_texts(folder.id)
    # one call, as an upload embeds its chunks (core/folders.py); the embedders batch their requests
    ws.store.replace_folder_vectors(folder.id, model, texts, get_embedder(model).embed(texts))
    return len(texts)
