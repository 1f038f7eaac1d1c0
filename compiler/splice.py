"""Splice k new rows into a head graph in place of the coarse label c (docs/method.md §5).

The current head is kept whole and treated as a black box that produces logits: its output tensor is
renamed, and a few nodes are appended after it:

    old  = Gather(prev_logits, keep, axis=1)          every column except c
    new  = Gemm(features, W_new, b_new, transB=1)     the k new rows
    flat:          logits = Concat(old, new)
    hierarchical:  logits = Concat(old, Gather(prev_logits, [c]) + LogSoftmax(new))

Because the untouched columns are computed by the very same Gemm with the very same initializers and
then only copied (Gather, Concat), they are bit-identical to the input head's. The same construction
applies to an already-edited head, so edits compose in either mode. Only plain ONNX ops are used, so
the runtime runs the result unchanged.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from catsplit.compiler.errors import CompileError
from catsplit.compiler.head import feature_input
from catsplit.models.onnx_io import cpu_session
from catsplit.runtime.errors import first_line

MODES = ("flat", "hierarchical")


def _rename_output(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
    for vi in graph.value_info:
        if vi.name == old:
            vi.name = new


def splice(head: onnx.ModelProto, coarse: int, w_new: np.ndarray, b_new: np.ndarray, mode: str,
           tag: str) -> onnx.ModelProto:
    """A new head whose columns are the old ones without `coarse`, then the k rows of `w_new`.

    `tag` prefixes every added name (e.g. "edit3") so that edits in sequence never collide.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    model = onnx.ModelProto()
    model.CopyFrom(head)
    g = model.graph
    out = g.output[0]
    dims = out.type.tensor_type.shape.dim
    num_old = dims[1].dim_value if len(dims) == 2 and dims[1].HasField("dim_value") else None
    if num_old is None:
        raise ValueError("head output must have a static number of classes [B, C]")
    batch = dims[0].dim_param or (dims[0].dim_value or "batch")
    keep = np.array([i for i in range(num_old) if i != coarse], np.int64)
    k = int(w_new.shape[0])

    prev = f"{tag}/prev_logits"
    _rename_output(g, out.name, prev)
    n = lambda s: f"{tag}/{s}"  # noqa: E731
    g.initializer.extend([
        numpy_helper.from_array(keep, n("keep")),
        numpy_helper.from_array(np.ascontiguousarray(w_new, np.float32), n("W")),
        numpy_helper.from_array(np.ascontiguousarray(b_new, np.float32), n("b")),
    ])
    nodes = [
        helper.make_node("Gather", [prev, n("keep")], [n("old")], axis=1, name=n("gather_old")),
        helper.make_node("Gemm", [feature_input(head), n("W"), n("b")], [n("new")], transB=1,
                         name=n("gemm_new")),
    ]
    sub = n("new")
    if mode == "hierarchical":
        g.initializer.append(numpy_helper.from_array(np.array([coarse], np.int64), n("coarse")))
        nodes += [
            helper.make_node("Gather", [prev, n("coarse")], [n("z_coarse")], axis=1, name=n("gather_coarse")),
            helper.make_node("LogSoftmax", [n("new")], [n("log_p")], axis=1, name=n("log_softmax")),
            helper.make_node("Add", [n("z_coarse"), n("log_p")], [n("sub")], name=n("add_coarse")),
        ]
        sub = n("sub")
    nodes.append(helper.make_node("Concat", [n("old"), sub], [out.name], axis=1, name=n("concat")))
    g.node.extend(nodes)
    g.output.pop()
    g.output.append(helper.make_tensor_value_info(out.name, out.type.tensor_type.elem_type,
                                                  [batch, num_old - 1 + k]))
    return model


def spliced_labels(labels: Sequence[str], coarse: int, new: Sequence[str]) -> list[str]:
    """The label list that matches `splice`'s columns."""
    return [s for i, s in enumerate(labels) if i != coarse] + list(new)


def verify_splice(old: str | bytes, new: str | bytes, coarse: int, k: int, feature_dim: int, classes: int,
                  name: str = "the spliced head", batch: int = 64, seed: int = 0) -> None:
    """Refuse a spliced head (a file or serialised bytes) unless it is valid ONNX, loads in onnxruntime,
    gives `classes` logits and every untouched column is bit-identical to the old head's on a random
    batch of feature vectors. Raises CompileError naming `name`."""
    try:
        onnx.checker.check_model(onnx.load_from_string(new) if isinstance(new, bytes) else new, full_check=True)
        sessions = [cpu_session(m) for m in (old, new)]
        rng = np.random.default_rng(seed)
        x = (rng.standard_normal((batch, feature_dim)) * rng.uniform(0.1, 10, (batch, 1))).astype(np.float32)
        z_old, z_new = (s.run(None, {s.get_inputs()[0].name: x})[0] for s in sessions)
    except Exception as e:  # checker and onnxruntime raise assorted types; all mean "do not write this"
        raise CompileError(f"{name}: does not verify: {first_line(e)}") from None
    expected = np.delete(z_old, coarse, axis=1)
    if z_new.shape != (batch, z_old.shape[1] - 1 + k) or z_new.shape[1] != classes:
        raise CompileError(f"{name}: gives {z_new.shape[1]} logits after a head of {z_old.shape[1]}; expected "
                           f"{z_old.shape[1] - 1 + k} = {classes} labels")
    if not np.array_equal(z_new[:, :expected.shape[1]].view(np.int32), expected.view(np.int32)):
        raise CompileError(f"{name}: untouched logits differ from the old head's")
    if not np.isfinite(z_new[:, expected.shape[1]:]).all():
        raise CompileError(f"{name}: the new rows give non-finite logits")
