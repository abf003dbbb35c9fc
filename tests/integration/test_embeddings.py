"""The bundled all-MiniLM-L6-v2, loaded offline, through core.archival."""

from __future__ import annotations

import numpy as np
import pytest

from memos.core import archival
from memos.core.ingest import Record
from memos.errors import EmbeddingError
from memos.store.base import PassageQuery


@pytest.mark.slow
def test_embeddings_are_normalised_384_and_semantic(workspace, agent):
    from memos.store.embeddings import get_embedder

    vectors = get_embedder(agent.embedding_model).embed(["a kitten", "a young cat", "tax law"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2

    archival.insert(workspace.store, agent, [Record("The kitten chased a red laser dot."),
                                             Record("Income tax returns are due in April.")])
    hits = archival.search(workspace.store, agent, PassageQuery(text="young cat playing", mode="vector", top_k=1))
    assert hits[0].passage.text.startswith("The kitten")


def test_other_dimension_model_is_refused_clearly(workspace, agent, monkeypatch):
    from memos.store import embeddings

    class FakeLitellm:
        @staticmethod
        def embedding(model, input):  # what a 1536-dim provider returns
            return {"data": [{"embedding": [0.1] * 1536} for _ in input]}

    monkeypatch.setattr("memos.lazy.import_litellm", lambda: FakeLitellm)
    embedder = embeddings.LiteLLMEmbedder("openai/text-embedding-3-small")
    with pytest.raises(EmbeddingError, match="returns 1536-dim vectors; this store holds 384-dim"):
        embedder.embed(["hello"])


@pytest.mark.slow
def test_a_bulk_import_embeds_in_a_child_process_with_the_same_vectors(monkeypatch):
    """Many texts, and the model not loaded here: a child process embeds them (so this process
    never holds torch beside the insert), and its vectors are the model's own."""
    from memos.store import embeddings

    texts = ["a kitten", "a young cat", "tax law"]
    monkeypatch.setattr(embeddings.LocalMiniLM, "_model", None)  # as in a fresh `memos archival add`
    with embeddings.bulk_embedder(embeddings.LocalMiniLM.name, embeddings.BULK_IN_CHILD + 1) as bulk:
        assert isinstance(bulk, embeddings.ChildMiniLM)
        elsewhere = bulk.embed(texts)
        assert embeddings.LocalMiniLM._model is None  # nothing was loaded in this process
    monkeypatch.undo()
    here = embeddings.LocalMiniLM().embed(texts)
    assert elsewhere.shape == (3, 384) and np.allclose(elsewhere, here, atol=1e-5)
    with embeddings.bulk_embedder(embeddings.LocalMiniLM.name, 10) as few:  # a few texts stay in-process
        assert isinstance(few, embeddings.LocalMiniLM)
