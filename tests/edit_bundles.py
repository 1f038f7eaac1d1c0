"""Small hand-made bundles and a tiny real text encoder for the edit-compiler tests.

The backbone is a real ONNX graph built with onnx.helper (mean colour per channel -> MatMul -> Tanh);
the head is the canonical Gemm that every bundle maker writes (models/head.py's make_head). The text
encoder hashes unigrams and bigrams into a 64-dimensional vector: a deterministic function of the text,
so similar texts get similar vectors.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from catsplit.models.head import make_head
from catsplit.runtime.bundle import Bundle, Preprocess, write_bundle

PRE = Preprocess(num_frames=2, crop=16, resize=16)
DIM = 16
GROUPS = {
    "Pushing something": ["Pushing something from left to right", "Pushing something from right to left",
                          "Pushing something off the table"],
    "Pulling something": ["Pulling something from left to right", "Pulling something from right to left"],
    "Moving something": ["Moving something up", "Moving something down"],
    "Tearing something": ["Tearing something into two pieces", "Tearing something just a little bit"],
}
# "Moving something" is collapsed into one row; of "Tearing something" only one label is a row.
LABELS = [*GROUPS["Pushing something"], *GROUPS["Pulling something"], "Moving something",
          "Tearing something into two pieces", "Holding something"]
MODIFIERS = {"Pushing something from left to right": "from left to right",
             "Pushing something from right to left": "from right to left",
             "Pushing something off the table": "off the table",
             "Pulling something from left to right": "from left to right towards you",
             "Pulling something from right to left": "from right to left towards you"}
SPLIT = {"split": "Moving something", "into": [{"label": "Moving something up", "modifier": "upwards"},
                                               {"label": "Moving something down", "modifier": "downwards"}]}


def _opset(model_nodes, inputs, outputs, inits, name) -> onnx.ModelProto:
    graph = helper.make_graph(model_nodes, name, inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def backbone(dim: int = DIM, seed: int = 0) -> onnx.ModelProto:
    p = np.random.default_rng(seed).standard_normal((3, dim)).astype(np.float32) * 3
    bias = np.random.default_rng(seed + 1).standard_normal(dim).astype(np.float32)
    nodes = [helper.make_node("ReduceMean", ["video"], ["rgb"], axes=[2, 3, 4], keepdims=0),
             helper.make_node("MatMul", ["rgb", "P"], ["proj"]),
             helper.make_node("Add", ["proj", "bias"], ["pre"]),
             helper.make_node("Tanh", ["pre"], ["features"])]
    return _opset(nodes, [helper.make_tensor_value_info("video", TensorProto.FLOAT, ["B", 3, 2, 16, 16])],
                  [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["B", dim])],
                  [numpy_helper.from_array(p, "P"), numpy_helper.from_array(bias, "bias")], "backbone")


def head_weights(num_classes: int = len(LABELS), dim: int = DIM, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Rows with norm ~4 whatever the dimension, so logits spread over a few units."""
    rng = np.random.default_rng(seed)
    return ((rng.standard_normal((num_classes, dim)) * 4 / np.sqrt(dim)).astype(np.float32),
            rng.standard_normal(num_classes).astype(np.float32))


def make_bundle(out: Path, labels=LABELS, groups=GROUPS, modifiers=MODIFIERS, seed: int = 1,
                dim: int = DIM) -> Bundle:
    w, b = head_weights(len(labels), dim, seed=seed)
    bundle = Bundle(path=out, labels=list(labels), feature_dim=dim, preprocess=PRE, files={},
                    groups=groups, modifiers=dict(modifiers or {}))
    return write_bundle(bundle, out, {"backbone.onnx": backbone(dim).SerializeToString(),
                                      "head.onnx": make_head(w, b).SerializeToString()})


def write_spec(path: Path, doc=SPLIT) -> Path:
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def logits(head_path: Path, x: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(str(head_path), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x.astype(np.float32)})[0]


class HashedBagOfWords:
    """A real (if simple) text encoder: hashed unigrams + bigrams, deterministic, unnormalised."""

    name = "hashed-bow-64"
    dim = 64
    sha256 = hashlib.sha256(b"hashed-bow-64").hexdigest()

    def encode(self, texts) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            words = t.lower().split()
            for gram in words + [a + " " + b for a, b in zip(words, words[1:])]:
                h = hashlib.sha256(gram.encode()).digest()
                out[i, h[0] % self.dim] += 1.0 if h[1] % 2 else -1.0
        return out
