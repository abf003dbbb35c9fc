"""Write a BERT encoder's ONNX graph straight from its safetensors weights, without torch.

The bundled all-MiniLM-L6-v2 is a plain BERT (absolute positions, GELU, post-LayerNorm).
torch's exporter used to write its ONNX copy, which meant every install carried torch,
transformers and sentence-transformers (~1 GB) for a file made once. The graph is small enough
to write by hand with the ``onnx`` package: embeddings, then per layer self-attention and the
feed-forward block, each followed by its residual LayerNorm, exactly as transformers' BertModel
computes them. Its vectors are checked against sentence-transformers' in the test suite
(tests/integration/test_embeddings.py: cosine >= 0.9999 on varied texts).

Inputs and output keep the names torch's export used (input_ids, attention_mask,
token_type_ids -> last_hidden_state), so a copy an older memos wrote loads the same way.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

OPSET = 17  # LayerNormalization is an ONNX op from 17 on; onnxruntime fuses the rest (attention, GELU)


class BertGraph:
    """Collects the nodes and weights of one graph; each helper returns its output's name."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict[str, Any]) -> None:
        self.weights = weights
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.epsilon = float(config.get("layer_norm_eps", 1e-12))
        if config.get("hidden_act", "gelu") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only BERT with GELU and absolute positions is supported")
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0
        self._constants: dict[str, str] = {}  # hint -> name: each small constant is stored once

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def constant(self, hint: str, value: np.ndarray) -> str:
        """A small constant, named by its hint (every hint stands for one value), stored once and
        shared by every layer that uses it."""
        from onnx import numpy_helper

        if hint not in self._constants:
            self._constants[hint] = self._name(hint)
            self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), self._constants[hint]))
        return self._constants[hint]

    def weight(self, key: str, transpose: bool = False) -> str:
        from onnx import numpy_helper

        value = self.weights[key].astype(np.float32)
        name = self._name(key)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value.T if transpose else value), name))
        return name

    def op(self, kind: str, inputs: list[str], hint: str = "", **attributes: Any) -> str:
        from onnx import helper

        out = self._name(hint or kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [out], **attributes))
        return out

    def linear(self, x: str, prefix: str) -> str:
        # torch's Linear stores (out, in): x @ W.T + b
        return self.op("Add", [self.op("MatMul", [x, self.weight(f"{prefix}.weight", transpose=True)]),
                               self.weight(f"{prefix}.bias")])

    def layer_norm(self, x: str, prefix: str) -> str:
        return self.op("LayerNormalization", [x, self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias")],
                       axis=-1, epsilon=self.epsilon)

    def gelu(self, x: str) -> str:
        # The exact GELU BERT uses: x * 0.5 * (1 + erf(x / sqrt 2))
        scaled = self.op("Div", [x, self.constant("sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))])
        one_plus = self.op("Add", [self.op("Erf", [scaled]), self.constant("one", np.array(1.0, dtype=np.float32))])
        return self.op("Mul", [self.op("Mul", [x, one_plus]), self.constant("half", np.array(0.5, dtype=np.float32))])

    def embeddings(self) -> str:
        words = self.op("Gather", [self.weight("embeddings.word_embeddings.weight"), "input_ids"], axis=0)
        types = self.op("Gather", [self.weight("embeddings.token_type_embeddings.weight"), "token_type_ids"], axis=0)
        tokens = self.op("Shape", ["input_ids"], start=1, end=2)  # [tokens], a 1-D tensor
        # The first `tokens` rows of the position table (a Slice, not Gather over a Range: onnxruntime's
        # embedding fusion rewrote the latter into a Slice it could not run)
        placed = self.op("Slice", [self.weight("embeddings.position_embeddings.weight"),
                                   self.constant("zero", np.array([0])), tokens, self.constant("axis0", np.array([0]))])
        summed = self.op("Add", [self.op("Add", [words, types]), placed])
        return self.layer_norm(summed, "embeddings.LayerNorm")

    def attention_bias(self) -> str:
        """0 where a token may be attended to, a large negative number on padding: [batch, 1, 1, tokens]."""
        mask = self.op("Cast", ["attention_mask"], to=1)  # FLOAT
        blocked = self.op("Sub", [self.constant("one", np.array(1.0, dtype=np.float32)), mask])
        bias = self.op("Mul", [blocked, self.constant("minus", np.array(np.finfo(np.float32).min, dtype=np.float32))])
        return self.op("Unsqueeze", [bias, self.constant("axes", np.array([1, 2]))])

    def self_attention(self, x: str, bias: str, prefix: str) -> str:
        size = self.hidden // self.heads
        split = self.constant("split_shape", np.array([0, 0, self.heads, size]))  # 0 keeps batch and tokens

        def heads(kind: str, permutation: list[int]) -> str:
            projected = self.linear(x, f"{prefix}.attention.self.{kind}")
            return self.op("Transpose", [self.op("Reshape", [projected, split])], perm=permutation)

        query = heads("query", [0, 2, 1, 3])  # [batch, heads, tokens, size]
        key = heads("key", [0, 2, 3, 1])  # [batch, heads, size, tokens]
        value = heads("value", [0, 2, 1, 3])
        scores = self.op("Div", [self.op("MatMul", [query, key]),
                                 self.constant("scale", np.array(math.sqrt(size), dtype=np.float32))])
        weights = self.op("Softmax", [self.op("Add", [scores, bias])], axis=-1)
        context = self.op("Transpose", [self.op("MatMul", [weights, value])], perm=[0, 2, 1, 3])
        merged = self.op("Reshape", [context, self.constant("merge_shape", np.array([0, 0, self.hidden]))])
        out = self.linear(merged, f"{prefix}.attention.output.dense")
        return self.layer_norm(self.op("Add", [out, x]), f"{prefix}.attention.output.LayerNorm")

    def feed_forward(self, x: str, prefix: str) -> str:
        inner = self.gelu(self.linear(x, f"{prefix}.intermediate.dense"))
        out = self.linear(inner, f"{prefix}.output.dense")
        return self.layer_norm(self.op("Add", [out, x]), f"{prefix}.output.LayerNorm")

    def build(self) -> bytes:
        from onnx import TensorProto, checker, helper

        x = self.embeddings()
        bias = self.attention_bias()
        for layer in range(self.layers):
            prefix = f"encoder.layer.{layer}"
            x = self.feed_forward(self.self_attention(x, bias, prefix), prefix)
        self.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
        inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "tokens"])
                  for name in ("input_ids", "attention_mask", "token_type_ids")]
        output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", self.hidden])
        graph = helper.make_graph(self.nodes, "bert", inputs, [output], self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="memos")
        model.ir_version = 8  # what onnxruntime >= 1.14 reads
        checker.check_model(model)
        data: bytes = model.SerializeToString()
        return data


def bert_onnx(model_dir: Path) -> bytes:
    """The serialised ONNX model for the BERT in ``model_dir`` (config.json, model.safetensors)."""
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text())
    weights = {key.removeprefix("bert."): value for key, value in load_file(str(model_dir / "model.safetensors")).items()}
    return BertGraph(weights, config).build()
