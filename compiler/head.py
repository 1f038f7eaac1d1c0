"""Read the per-label weight rows W[y], b[y] out of a head graph.

A fresh head is one Gemm (models/head.py's make_head writes it; this module is its reader, and reads
edited heads too, so it lives with the splice that makes them). An edited head is that Gemm with spliced
nodes appended (see splice.py): Gather over the previous logits, a Gemm for the new rows, optionally
`z[c] + LogSoftmax(.)`, and a Concat. Tracing the output back through exactly these ops gives, for every
output column, the linear row it was computed from; for a hierarchical subcategory that is its own row
W_new[s] (= W[c] + v), the same space as a flat row, so later edits can build dictionaries and MA
targets from any edited head.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from catsplit.compiler.errors import CompileError


def feature_input(model: onnx.ModelProto) -> str:
    """The graph input that carries the features (the one input that is not an initializer)."""
    inits = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in inits]
    if len(names) != 1:
        raise CompileError(f"head.onnx: expected one features input, found {names}")
    return names[0]


class _Graph:
    def __init__(self, model: onnx.ModelProto, source: str):
        g = model.graph
        self.source = source
        self.features = feature_input(model)
        self.consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        for node in g.node:
            if node.op_type == "Constant":
                self.consts[node.output[0]] = numpy_helper.to_array(
                    onnx.helper.get_attribute_value(node.attribute[0]))
        self.producer = {o: n for n in g.node for o in n.output}

    def fail(self, problem: str) -> CompileError:
        return CompileError(f"{self.source}: cannot read the head's linear rows: {problem}")

    def const(self, name: str) -> np.ndarray:
        if name not in self.consts:
            raise self.fail(f"{name!r} is not a constant")
        return self.consts[name]

    def rows(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        node = self.producer.get(name)
        if node is None:
            raise self.fail(f"tensor {name!r} has no producing node")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        op = node.op_type
        if op == "Identity":
            return self.rows(node.input[0])
        if op == "Gemm":
            if node.input[0] != self.features or attrs.get("transA", 0):
                raise self.fail("a Gemm that does not read the features directly")
            w = self.const(node.input[1]).astype(np.float32)
            w = w if attrs.get("transB", 0) else w.T
            w = w * np.float32(attrs.get("alpha", 1.0))
            b = np.zeros(w.shape[0], np.float32)
            if len(node.input) > 2 and node.input[2]:
                c = self.const(node.input[2]).astype(np.float32) * np.float32(attrs.get("beta", 1.0))
                b = np.broadcast_to(c.reshape(-1) if c.size == w.shape[0] else c, b.shape).astype(np.float32)
            return np.ascontiguousarray(w), b.copy()
        if op == "Gather" and attrs.get("axis", 0) in (1, -1):
            w, b = self.rows(node.input[0])
            idx = self.const(node.input[1]).reshape(-1)
            return w[idx], b[idx]
        if op == "Concat" and attrs.get("axis") in (1, -1):
            parts = [self.rows(i) for i in node.input]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        if op == "Add":
            # a hierarchical block z[c] + LogSoftmax(rows): the columns are the LogSoftmax's rows
            for i in node.input:
                p = self.producer.get(i)
                if p is not None and p.op_type == "LogSoftmax":
                    return self.rows(p.input[0])
        raise self.fail(f"unsupported node {op} ({node.name or name})")


def read_rows(model: onnx.ModelProto, source: str = "head.onnx") -> tuple[np.ndarray, np.ndarray]:
    """W [C, D] and b [C] float32, one row per output column of the head's single output."""
    g = _Graph(model, source)
    return g.rows(model.graph.output[0].name)


def load_head(path: str | Path) -> onnx.ModelProto:
    """The head graph; a file that is not ONNX is a one-line CompileError, not a protobuf traceback."""
    try:
        return onnx.load(str(path))
    except Exception as e:  # onnx raises DecodeError / OSError variants
        raise CompileError(f"{path}: not a readable ONNX model ({e})") from None
