"""The bundled all-MiniLM-L6-v2, loaded offline, through core.archival."""

from __future__ import annotations

import numpy as np
import pytest

from memos.core import archival
from memos.core.ingest import Record
from memos.store import onnx_bert
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


def test_a_litellm_model_of_another_width_embeds_at_its_own_width(monkeypatch):
    """Providers only litellm reaches (Cohere, Bedrock...): whatever width the model gives."""
    from memos.store import embeddings

    class FakeLitellm:
        @staticmethod
        def embedding(model, input, **options):  # what a 1024-dim provider returns
            return {"data": [{"embedding": [float(len(text))] + [1.0] * 1023} for text in input]}

    monkeypatch.setattr("memos.lazy.import_litellm", lambda: FakeLitellm)
    vectors = embeddings.LiteLLMEmbedder("cohere/embed-english-v3.0").embed(["hello", "hi"])
    assert vectors.shape == (2, 1024) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


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
    """The reference: the model as sentence-transformers runs it on torch (both only in the test extra)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    from memos.store.onnx_minilm import bundled_model_dir

    model = SentenceTransformer(str(bundled_model_dir()), device="cpu")
    return np.asarray(model.encode(texts, normalize_embeddings=True, convert_to_numpy=True), dtype=np.float32)


@pytest.mark.slow
def test_the_onnx_copy_is_written_without_torch_once_and_embeds_as_sentence_transformers(monkeypatch, tmp_path):
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
    assert cosines.min() >= 0.9999, dict(zip(VARIED, cosines.round(5)))
    query = embeddings.LocalMiniLM().embed(["which animal does the user own"])[0]
    assert np.argsort(-(vectors @ query))[:3].tolist() == np.argsort(-(expected @ query))[:3].tolist()

    monkeypatch.setattr(embeddings.LocalMiniLM, "_model", None)  # the next process: loads the copy
    assert np.allclose(embeddings.LocalMiniLM().embed(VARIED), vectors, atol=1e-6)
    assert embeddings.LocalMiniLM.backend() == "onnxruntime" and list(cache.glob("*.onnx")) == made


@pytest.mark.slow
def test_a_copy_an_older_memos_exported_through_torch_keeps_its_vectors(monkeypatch, tmp_path):
    """Homes made before the copy was written without torch hold torch's export in their cache:
    it is still what loads, and its vectors are the new graph's, so nothing needs re-embedding."""
    import torch
    from sentence_transformers import SentenceTransformer

    from memos.store import embeddings, onnx_minilm

    cache = tmp_path / "models"
    cache.mkdir()
    old_copy = onnx_minilm.cached_copy(cache)
    bert = SentenceTransformer(str(onnx_minilm.bundled_model_dir()), device="cpu")[0].auto_model.eval()

    class LastHiddenState(torch.nn.Module):  # what memos <= 570623a exported
        def __init__(self):
            super().__init__()
            self.model = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(LastHiddenState(), (sample, sample, torch.zeros_like(sample)), str(old_copy),
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                        "last_hidden_state": axes})
    exported = old_copy.read_bytes()
    monkeypatch.setenv("MEMOS_MODEL_CACHE", str(cache))
    monkeypatch.setattr(embeddings.LocalMiniLM, "_model", None)
    stored = embeddings.LocalMiniLM().embed(VARIED)  # vectors as an old home stored them
    assert old_copy.read_bytes() == exported  # loaded as it is, not rewritten

    fresh = onnx_minilm.OnnxMiniLM(onnx_bert.bert_onnx(onnx_minilm.bundled_model_dir()),
                                   onnx_minilm.bundled_model_dir()).encode(VARIED, 4)
    assert np.sum(stored * fresh, axis=1).min() >= 0.9999


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


def test_a_process_that_finds_no_copy_has_a_child_write_it(tmp_path):
    """The graph's build (~250 MiB of heap) happens in a child process: the one that asked, a
    server that lives on, never imports the onnx package and embeds as a warm cache would."""
    import os
    import subprocess
    import sys

    probe = ("import sys\nfrom memos.store.embeddings import LocalMiniLM\n"
             "vector = LocalMiniLM().embed(['a kitten'])\n"
             "print(LocalMiniLM.backend(), vector.shape, 'onnx' in sys.modules)")
    env = {**os.environ, "MEMOS_MODEL_CACHE": str(tmp_path / "fresh")}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, env=env, check=True)
    assert out.stdout.strip() == "onnxruntime (1, 384) False", out.stderr
    assert len(list((tmp_path / "fresh").glob("*.onnx"))) == 1


@pytest.mark.slow
def test_without_a_usable_cache_the_copy_is_made_in_memory(monkeypatch, tmp_path):
    from memos.store import embeddings

    unusable = tmp_path / "not-a-directory"
    unusable.write_text("")
    monkeypatch.setenv("MEMOS_MODEL_CACHE", str(unusable))
    monkeypatch.setattr(embeddings.LocalMiniLM, "_model", None)
    vectors = embeddings.LocalMiniLM().embed(["a kitten", "a young cat"])
    assert embeddings.LocalMiniLM.backend() == "onnxruntime"
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
