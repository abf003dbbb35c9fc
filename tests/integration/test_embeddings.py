"""The bundled all-MiniLM-L6-v2, loaded offline, through core.archival."""

from __future__ import annotations

import numpy as np
import pytest

from memos.core import archival
from memos.core.ingest import Record
from memos.errors import EmbeddingError
from memos.store.base import PassageQuery
from tests.conftest import both_backends


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
def test_a_bulk_import_embeds_in_a_child_process_with_the_same_vectors(monkeypatch, tmp_path):
    """Many texts, the model not loaded here and no ONNX copy to load instead: a child process
    embeds them (so this process never holds torch beside the insert), and its vectors are the
    model's own."""
    from memos.store import embeddings

    texts = ["a kitten", "a young cat", "tax law"]
    unusable = tmp_path / "not-a-directory"
    unusable.write_text("")  # no ONNX copy can be read or written here
    monkeypatch.setenv("MEMOS_MODEL_CACHE", str(unusable))
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


# Texts unlike each other in length, script and form: what the ONNX copy must embed as
# sentence-transformers does (the bar: cosine >= 0.999 for every vector).
VARIED = [
    "a kitten", "The user's dog is a border collie named Pixel.", "what pet does the user have",
    "Income tax returns are due in April.", "  padded with spaces  ", "x", "",
    "Ünïcödé façade naïve café", "記憶は大切です。", "Привет, как дела?", "emoji 🙂🚀 and symbols ©®",
    "def embed(texts):\n    return model.encode(texts)  # code", "https://example.com/a?b=c&d=e",
    "[D1:3] (8 May 2023) Caroline: I went to a LGBTQ support group yesterday and it was so powerful.",
    " ".join(f"word{i}" for i in range(400)),  # past the 256-token window: truncated alike
    "The meeting moved to Thursday at 3pm because the projector broke. " * 12,
]


def _sentence_transformers_vectors(texts: list[str]) -> np.ndarray:
    from memos.store.embeddings import _load_sentence_transformer

    model = _load_sentence_transformer()
    return np.asarray(model.encode(texts, normalize_embeddings=True, convert_to_numpy=True), dtype=np.float32)


@pytest.mark.slow
def test_the_onnx_copy_is_made_once_and_embeds_as_sentence_transformers(monkeypatch, tmp_path):
    from memos.store import embeddings, onnx_minilm

    cache = tmp_path / "models"
    monkeypatch.setenv("MEMOS_MODEL_CACHE", str(cache))
    monkeypatch.setattr(embeddings.LocalMiniLM, "_model", None)
    vectors = embeddings.LocalMiniLM().embed(VARIED)
    assert embeddings.LocalMiniLM.backend() == "onnxruntime"
    made = list(cache.glob("*.onnx"))
    assert made == [onnx_minilm.model_file(cache, onnx_minilm.bundled_model_dir())]
    assert not list(cache.glob(".export-*"))  # no temporary left behind

    expected = _sentence_transformers_vectors(VARIED)
    cosines = np.sum(vectors * expected, axis=1)
    assert cosines.min() >= 0.999, dict(zip(VARIED, cosines.round(5)))
    query = embeddings.LocalMiniLM().embed(["which animal does the user own"])[0]
    assert np.argsort(-(vectors @ query))[:3].tolist() == np.argsort(-(expected @ query))[:3].tolist()

    monkeypatch.setattr(embeddings.LocalMiniLM, "_model", None)  # the next process: loads the copy
    assert np.allclose(embeddings.LocalMiniLM().embed(VARIED), vectors, atol=1e-6)
    assert embeddings.LocalMiniLM.backend() == "onnxruntime" and list(cache.glob("*.onnx")) == made


@pytest.mark.slow
def test_a_process_with_the_onnx_copy_never_imports_torch(tmp_path):
    """What makes `memos send` with a memory search fast: onnxruntime only, no torch."""
    import os
    import subprocess
    import sys

    from memos.store import embeddings

    embeddings.LocalMiniLM().embed(["make sure the shared copy exists"])
    probe = ("import sys\nfrom memos.store.embeddings import LocalMiniLM\n"
             "vector = LocalMiniLM().embed(['a kitten'])\n"
             "print(LocalMiniLM.backend(), vector.shape, sorted(m for m in ('torch', 'sentence_transformers', "
             "'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ), check=True)
    assert out.stdout.strip() == "onnxruntime (1, 384) []", out.stderr


@pytest.mark.slow
def test_without_a_usable_cache_sentence_transformers_still_embeds(monkeypatch, tmp_path):
    from memos.store import embeddings

    unusable = tmp_path / "not-a-directory"
    unusable.write_text("")
    monkeypatch.setenv("MEMOS_MODEL_CACHE", str(unusable))
    monkeypatch.setattr(embeddings.LocalMiniLM, "_model", None)
    vectors = embeddings.LocalMiniLM().embed(["a kitten", "a young cat"])
    assert embeddings.LocalMiniLM.backend() == "sentence-transformers"
    assert np.allclose(vectors, _sentence_transformers_vectors(["a kitten", "a young cat"]), atol=1e-5)


FACTS = ["The user's dog is a border collie named Pixel.", "The user works as a nurse in Leeds.",
         "The user's favourite food is ramen.", "The user is learning Portuguese.", "The user has two sisters.",
         "The user drives a blue 2015 Honda Civic.", "The user is allergic to penicillin.",
         "The user plays the cello on weekends.", "The user's birthday is on March 3rd.",
         "The user prefers tea over coffee."]


@pytest.mark.slow
@both_backends
def test_hybrid_finds_the_pet_when_every_fact_says_user(workspace, agent):
    """The issue's case: every fact contains "user", none says "pet". Text search alone ranks by
    length; the default search must still put the dog first, as meaning does."""
    archival.insert(workspace.store, agent, [Record(fact) for fact in FACTS])
    for mode in ("hybrid", "vector"):
        hits = archival.search(workspace.store, agent, PassageQuery(text="what pet does the user have", mode=mode,
                                                                    top_k=3))
        assert hits[0].passage.text == FACTS[0], (mode, [h.passage.text for h in hits])
