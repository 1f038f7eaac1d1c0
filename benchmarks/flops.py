"""FLOPs of an ONNX graph at a given batch size, counted from its tensor shapes.

FLOPs = 2 x MACs (one multiply and one add per multiply-accumulate), for the ops that dominate a
video network; everything else (normalisation, activations, softmax, pooling) is left out:

- Conv:          MACs = prod(output shape) * (C_in / group) * prod(kernel)
- ConvTranspose: MACs = prod(input shape) * (C_out / group) * prod(kernel)
- MatMul:        MACs = prod(output shape) * K            (K = the contracted size; numpy broadcasting)
- Gemm:          MACs = M * N * K
- Einsum:        MACs = product of the sizes of every distinct index letter (one multiply-add per
                 point of the full index space; exact for a single contraction of two operands)

Shapes come from ONNX shape inference (with data propagation) after the batch axis of the input is
fixed; for the few tensors it leaves unknown (shapes computed at run time through Shape -> Gather ->
Reshape chains that inference cannot follow), one onnxruntime run on zeros reads the real shapes.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import onnx

COUNTED = ("Conv", "ConvTranspose", "MatMul", "Gemm", "Einsum")
_NP = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.FLOAT16: np.float16}


def _fix_batch(model: onnx.ModelProto, batch: int) -> onnx.ModelProto:
    """A copy whose graph inputs have a static batch axis (other symbolic axes are refused)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    inits = {t.name for t in m.graph.initializer}
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        dims = vi.type.tensor_type.shape.dim
        for k, d in enumerate(dims):
            if not d.HasField("dim_value"):
                if k != 0:
                    raise ValueError(f"input {vi.name!r} has a symbolic axis {k}; only the batch may be symbolic")
                d.Clear()
                d.dim_value = batch
    return m


def _known(vi: onnx.ValueInfoProto) -> list[int] | None:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    return None if any(d is None for d in dims) else dims


def _shapes(model: onnx.ModelProto, names: set[str]) -> dict[str, list[int]]:
    """Static shape of every tensor in `names`: inference first, one onnxruntime run for the rest."""
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    g = inferred.graph
    shapes = {t.name: list(t.dims) for t in g.initializer}
    for vi in [*g.input, *g.value_info, *g.output]:
        dims = _known(vi)
        if dims is not None:
            shapes[vi.name] = dims
    missing = sorted(n for n in names if n not in shapes)
    if missing:
        shapes.update(_run_shapes(model, missing))
    return shapes


def _run_shapes(model: onnx.ModelProto, names: list[str]) -> dict[str, list[int]]:
    """Shapes of `names` from one CPU run on zeros, the tensors exposed as extra graph outputs."""
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    m.graph.output.extend(onnx.ValueInfoProto(name=n) for n in names if n not in have)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor
    so.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    inits = {t.name for t in m.graph.initializer}
    feed = {}
    for vi in m.graph.input:
        if vi.name not in inits:
            t = vi.type.tensor_type
            feed[vi.name] = np.zeros([d.dim_value for d in t.shape.dim], _NP.get(t.elem_type, np.float32))
    outs = sess.run(names, feed)
    return {n: list(o.shape) for n, o in zip(names, outs)}


def _attr(node: onnx.NodeProto, name: str, default):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _einsum_macs(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> int:
    eq = _attr(node, "equation", b"").decode().replace(" ", "")
    lhs = eq.split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for term, name in zip(lhs, node.input):
        shape = shapes[name]
        if "..." in term:
            head, tail = term.split("...")
            n_ell = len(shape) - len(head) - len(tail)
            term = head + "".join(chr(0x100 + k) for k in range(n_ell)) + tail  # stand-ins for the ellipsis
        for letter, size in zip(term, shape):
            sizes[letter] = max(sizes.get(letter, 1), size)
    return int(np.prod(list(sizes.values()), dtype=np.int64))


def node_macs(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> int:
    """Multiply-accumulates of one counted node (formulas in the module doc)."""
    op = node.op_type
    if op == "Conv":
        w, y = shapes[node.input[1]], shapes[node.output[0]]
        return int(np.prod(y, dtype=np.int64)) * int(np.prod(w[1:], dtype=np.int64))
    if op == "ConvTranspose":
        x, w = shapes[node.input[0]], shapes[node.input[1]]
        return int(np.prod(x, dtype=np.int64)) * int(np.prod(w[1:], dtype=np.int64))
    if op == "MatMul":
        a, y = shapes[node.input[0]], shapes[node.output[0]]
        return int(np.prod(y, dtype=np.int64)) * a[-1]
    if op == "Gemm":
        a, y = shapes[node.input[0]], shapes[node.output[0]]
        k = a[0] if _attr(node, "transA", 0) else a[1]
        return y[0] * y[1] * k
    if op == "Einsum":
        return _einsum_macs(node, shapes)
    return 0


def count_flops(model: onnx.ModelProto | str | os.PathLike, batch: int = 1) -> dict:
    """{"flops", "macs", "by_op": {op: flops}} of `model` at `batch` (2 x MACs; see the module doc).

    Nodes inside subgraphs (If/Loop bodies) are not counted; video classifiers do not use them.
    """
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(Path(model)))
    model = _fix_batch(model, batch)
    nodes = [n for n in model.graph.node if n.op_type in COUNTED]
    names = {t for n in nodes for t in (*n.input, *n.output) if t}
    shapes = _shapes(model, names)
    by_op: Counter[str] = Counter()
    for n in nodes:
        by_op[n.op_type] += 2 * node_macs(n, shapes)
    total = sum(by_op.values())
    return {"flops": total, "macs": total // 2, "by_op": dict(by_op)}

