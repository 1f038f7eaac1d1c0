"""`import_onnx`: cut an ONNX video classifier into a backbone and a canonical head by graph surgery.

The final linear layer is found by walking back from the graph's one output through ops that do not
mix classes: a trailing Softmax/LogSoftmax (stripped: the runtime applies softmax to the logits
itself, and softmax(log_softmax(z)) = softmax(z)), Identity, Flatten, Reshape, Squeeze, Dropout, and
at most one mean over positions (ReduceMean, GlobalAveragePool). The layer itself is one of

    Gemm(X, W, C)               transA = 0, transB 0 or 1, with or without C
    MatMul(X, W) [+ Add(b)]     W [D, C]; the Add may come on either side
    Conv(X, W, B)               kernel 1x..x1, stride 1, no padding, one group (S3D's classifier)

where W, b, C are constants (initializers or Constant nodes, possibly behind Identity/Transpose, as
the dynamo exporter writes them). A per-position classifier followed by a mean is still one linear
layer on the mean-pooled features, because a mean commutes with an affine map:
mean_p(W x_p + b) = W mean_p(x_p) + b. The backbone then ends in that mean. A max over positions does
not commute and is refused, as is anything that is not one of the above.

The backbone keeps only the nodes and initializers needed for the features [B, D] (output
`features`); the head is `make_head(W, b)`. Both are written, reloaded in onnxruntime and checked
against the original model on random inputs (max abs diff <= 1e-4) before the bundle is written.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from catsplit.models.head import FEATURES, VERIFY_ATOL, VERIFY_BATCH, make_head
from catsplit.models.onnx_io import OnnxFileError, cpu_session, default_opset, load_onnx, save_onnx
from catsplit.runtime.bundle import BACKBONE, BUNDLE_KIND, HEAD, Bundle, Preprocess, check_labels, fill_bundle, sha256_file
from catsplit.runtime.errors import CatsplitError, first_line
from catsplit.runtime.onnx_guard import OnnxGuardError
from catsplit.runtime.output import check_output, staged_output

_PASS_THROUGH = {"Identity", "Flatten", "Reshape", "Squeeze", "Dropout"}
_NORMALISERS = {"Softmax": "probabilities", "LogSoftmax": "log-probabilities"}
_MEANS = {"ReduceMean", "GlobalAveragePool"}
SPATIAL = "spatial"
_NOT_LINEAR_POOLS = {"ReduceMax", "ReduceMin", "GlobalMaxPool", "MaxPool", "ReduceSum", "ReduceLogSumExp",
                     "TopK"}


class OnnxImportError(CatsplitError, ValueError):
    """A model that cannot be imported; the one-line message names the file and says why."""


@dataclass
class LinearHead:
    """The final linear layer found in a graph: logits = mean_{pool_axes}(features) @ W.T + b."""

    op: str
    node_name: str
    weight: np.ndarray  # [C, D]
    bias: np.ndarray  # [C]
    features: str  # the tensor the layer reads
    pool_axes: tuple[int, ...] | None  # positions averaged before the layer (None: already [B, D])
    output: str  # what the graph emits: "logits", "probabilities" or "log-probabilities"


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class _Graph:
    """Producers and constants of a graph, and the walk from its output to the linear layer."""

    def __init__(self, model: onnx.ModelProto, source: str):
        self.model, self.source = model, source
        self.inits = {t.name: t for t in model.graph.initializer}
        self.producer = {o: n for n in model.graph.node for o in n.output if o}
        self.opset = default_opset(model)

    def refuse(self, problem: str) -> OnnxImportError:
        return OnnxImportError(f"{self.source}: {problem}")

    def const(self, name: str) -> np.ndarray | None:
        """The value of a constant tensor (initializer, Constant, or Identity/Transpose of one)."""
        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        node = self.producer.get(name)
        if node is None:
            return None
        if node.op_type == "Constant" and node.attribute:
            value = helper.get_attribute_value(node.attribute[0])
            return numpy_helper.to_array(value) if isinstance(value, TensorProto) else np.asarray(value)
        if node.op_type == "Identity":
            return self.const(node.input[0])
        if node.op_type == "Transpose":
            value = self.const(node.input[0])
            return None if value is None else value.transpose(_attrs(node).get("perm"))
        return None

    def describe(self, node: onnx.NodeProto) -> str:
        return f"{node.op_type} {node.name!r}" if node.name else node.op_type

    # -- the walk -------------------------------------------------------------------------------
    def find_head(self) -> LinearHead:
        outputs = [o.name for o in self.model.graph.output]
        if len(outputs) != 1:
            raise self.refuse(f"ambiguous head: the graph has {len(outputs)} outputs ({', '.join(outputs)}); "
                              "catsplit needs exactly one, the logits")
        name, output, mean, passed = outputs[0], "logits", None, False
        while True:
            node = self.producer.get(name)
            if node is None:
                raise self.refuse(f"no linear layer at the end: the output {outputs[0]!r} is computed without one "
                                  f"(it reaches {'a graph input' if name not in self.inits else 'a constant'})")
            op = node.op_type
            if op in _NORMALISERS:
                axis = _attrs(node).get("axis", -1 if self.opset >= 13 else 1)
                if passed or axis not in (-1, 1):
                    raise self.refuse(f"no linear head: {self.describe(node)} (axis {axis}) is not a final "
                                      "softmax over the classes")
                output, passed = _NORMALISERS[op], True
            elif op in _PASS_THROUGH:
                pass
            elif op in _MEANS:
                if mean is not None:
                    raise self.refuse(f"no linear head: two means over positions before the output "
                                      f"({self.describe(node)})")
                mean, passed = self.mean_axes(node), True
            elif op in _NOT_LINEAR_POOLS:
                raise self.refuse(f"no linear head: the output is {self.describe(node)} over per-position "
                                  "scores, which is not one linear layer on a feature vector")
            elif op in ("Gemm", "MatMul", "Conv", "Add"):
                return self.linear(node, mean, output)
            else:
                raise self.refuse(f"no linear layer at the end: the output comes from {self.describe(node)}; "
                                  "catsplit needs Gemm, MatMul(+Add) or a 1x1 Conv, optionally followed by "
                                  "Softmax/Flatten/Reshape/Squeeze or a mean")
            name = node.input[0]

    def mean_axes(self, node: onnx.NodeProto) -> tuple[int, ...] | str:
        """Axes a mean reduces; SPATIAL for GlobalAveragePool (every axis after batch and channel)."""
        if node.op_type == "GlobalAveragePool":
            return SPATIAL
        attrs = _attrs(node)
        axes = attrs.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            value = self.const(node.input[1])
            if value is None:
                raise self.refuse(f"{self.describe(node)} averages over axes computed at run time")
            axes = value.reshape(-1).tolist()
        if not axes:
            raise self.refuse(f"no linear head: {self.describe(node)} averages over every axis, batch included")
        if 0 in axes:
            raise self.refuse(f"no linear head: {self.describe(node)} averages over the batch axis")
        return tuple(int(a) for a in axes)

    def linear(self, node: onnx.NodeProto, mean: tuple[int, ...] | str | None, output: str) -> LinearHead:
        """The layer computing `node`'s output; `mean` is what the tail averages afterwards (None: nothing)."""
        op, attrs = node.op_type, _attrs(node)
        if op == "Add":
            return self._add(node, mean, output)
        if op == "Gemm":
            w, c = self.const(node.input[1]), self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else 0
            if w is None or c is None or attrs.get("transA", 0):
                raise self.refuse(f"no linear head: {self.describe(node)} does not multiply the features by a "
                                  "constant weight (transA=0, constant B and C)")
            if mean is not None:
                raise self.refuse(f"no linear head: a mean after {self.describe(node)} would average classes or "
                                  "the batch")
            w = (w if attrs.get("transB", 0) else w.T) * np.float32(attrs.get("alpha", 1.0))
            bias = self._bias(np.asarray(c, np.float32) * np.float32(attrs.get("beta", 1.0)), w.shape[0], node)
            return LinearHead(op, node.name, w, bias, node.input[0], None, output)
        if op == "MatMul":
            w = self.const(node.input[1])
            if w is None or w.ndim != 2 or self.const(node.input[0]) is not None:
                raise self.refuse(f"no linear head: {self.describe(node)} does not multiply the features by a "
                                  "constant 2-D weight")
            if mean == SPATIAL or (mean is not None and -1 in mean):
                raise self.refuse(f"no linear head: the mean after {self.describe(node)} averages the class axis")
            return LinearHead(op, node.name, w.T, np.zeros(w.shape[1], np.float32), node.input[0], mean, output)
        if op == "Conv":
            return self._conv(node, attrs, mean, output)
        raise self.refuse(f"no linear layer at the end: the output comes from {self.describe(node)}")

    def _add(self, node: onnx.NodeProto, mean: tuple[int, ...] | str | None, output: str) -> LinearHead:
        consts = [self.const(i) for i in node.input]
        computed = [i for i, c in zip(node.input, consts) if c is None]
        if len(computed) != 1:
            raise self.refuse(f"ambiguous head: {self.describe(node)} adds {len(computed)} computed tensors "
                              f"({', '.join(computed)}), e.g. two classifiers summed; catsplit needs exactly one "
                              "final linear layer")
        inner = self.producer.get(computed[0])
        if inner is None or inner.op_type not in ("Gemm", "MatMul", "Conv", "Add"):
            what = self.describe(inner) if inner is not None else "a graph input"
            raise self.refuse(f"no linear layer at the end: {self.describe(node)} adds a constant to {what}")
        head = self.linear(inner, mean, output)
        extra = next(c for c in consts if c is not None).astype(np.float32)
        head.bias = head.bias + self._bias(extra, head.weight.shape[0], node)
        return head

    def _conv(self, node: onnx.NodeProto, attrs: dict, mean: tuple[int, ...] | str | None,
              output: str) -> LinearHead:
        """A 1x1 conv is a linear layer on every position; the features are its input averaged over all of
        them (a trailing mean over all positions, or positions of size 1, which verification confirms)."""
        w = self.const(node.input[1])
        b = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros(1, np.float32)
        pointwise = (w is not None and b is not None and w.ndim >= 3 and all(k == 1 for k in w.shape[2:])
                     and attrs.get("group", 1) == 1 and all(s == 1 for s in attrs.get("strides", [1]))
                     and not any(attrs.get("pads", [0])))
        if not pointwise:
            raise self.refuse(f"no linear head: {self.describe(node)} is not a constant 1x1 convolution (kernel 1, "
                              "stride 1, no padding, one group)")
        rank = w.ndim
        spatial = tuple(range(2, rank))
        if mean not in (None, SPATIAL) and sorted(a % rank for a in mean) != list(spatial):
            raise self.refuse(f"no linear head: the mean after {self.describe(node)} averages axes {list(mean)}, "
                              f"not all positions {list(spatial)}")
        weight = w.reshape(w.shape[0], -1)
        bias = self._bias(np.asarray(b, np.float32), weight.shape[0], node)
        return LinearHead(node.op_type, node.name, weight, bias, node.input[0], spatial, output)

    def _bias(self, c: np.ndarray, classes: int, node: onnx.NodeProto) -> np.ndarray:
        """A bias that is the same for every sample and position, as a [C] vector."""
        if c.size == 1:
            return np.full(classes, c.reshape(-1)[0], np.float32)
        if c.size == classes and max(c.shape) == classes:
            return c.reshape(-1).astype(np.float32)
        raise self.refuse(f"no linear head: the bias of {self.describe(node)} has shape {list(c.shape)}, not one "
                          f"value per class ({classes})")


# -- the cut ------------------------------------------------------------------------------------
def _subgraph_refs(node: onnx.NodeProto) -> set[str]:
    """Names a node's subgraphs (If/Loop/Scan bodies) may read from the outer graph."""
    refs: set[str] = set()
    for attr in node.attribute:
        for g in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)):
            for n in g.node:
                refs.update(n.input)
                refs |= _subgraph_refs(n)
    return refs


def video_input(model: onnx.ModelProto, source: str) -> onnx.ValueInfoProto:
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise OnnxImportError(f"{source}: the graph has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                              "catsplit needs exactly one, the video")
    if inputs[0].type.tensor_type.elem_type != TensorProto.FLOAT:
        raise OnnxImportError(f"{source}: input {inputs[0].name!r} is not float32")
    return inputs[0]


def input_dims(vi: onnx.ValueInfoProto) -> list[int | str]:
    """Static sizes as ints, symbolic ones as their names (or '?')."""
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in vi.type.tensor_type.shape.dim]


def cut_backbone(model: onnx.ModelProto, head: LinearHead, source: str) -> onnx.ModelProto:
    """A copy of `model` computing only the head's input features, as output `features` [B, D]."""
    g = model.graph
    video = video_input(model, source)
    if head.features == video.name:
        raise OnnxImportError(f"{source}: the classifier reads the video input directly; there is no backbone")
    producer = {o: i for i, n in enumerate(g.node) for o in n.output if o}
    keep: set[int] = set()
    stack = [head.features]
    used: set[str] = set()
    while stack:
        name = stack.pop()
        if name in used:
            continue
        used.add(name)
        i = producer.get(name)
        if i is not None and i not in keep:
            keep.add(i)
            stack.extend(n for n in g.node[i].input if n)
            stack.extend(_subgraph_refs(g.node[i]))
    order = sorted(keep)
    nodes = [onnx.NodeProto.FromString(g.node[i].SerializeToString()) for i in order]
    taken = {o for n in g.node for o in n.output} | {i.name for i in g.input}
    out_name = FEATURES if FEATURES not in taken or FEATURES == head.features else f"catsplit_{FEATURES}"
    initializers = [t for t in g.initializer if t.name in used]
    if head.pool_axes is None:
        node = nodes[order.index(producer[head.features])]
        node.output[list(node.output).index(head.features)] = out_name
    else:
        axes = list(head.pool_axes)
        if default_opset(model) >= 18:
            initializers.append(numpy_helper.from_array(np.array(axes, np.int64), f"{out_name}_axes"))
            nodes.append(helper.make_node("ReduceMean", [head.features, f"{out_name}_axes"], [out_name],
                                          name="catsplit_pool", keepdims=0))
        else:
            nodes.append(helper.make_node("ReduceMean", [head.features], [out_name], name="catsplit_pool",
                                          axes=axes, keepdims=0))
    batch = input_dims(video)[0]
    batch = batch if batch != "?" else "batch"
    graph = helper.make_graph(
        nodes, "backbone", [video],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [batch, head.weight.shape[1]])],
        initializer=initializers,
        value_info=[v for v in g.value_info if v.name in used and v.name != head.features],
    )
    graph.sparse_initializer.extend(t for t in g.sparse_initializer if t.values.name in used)
    backbone = onnx.ModelProto()
    backbone.CopyFrom(model)
    backbone.graph.CopyFrom(graph)
    return backbone


# -- verification ---------------------------------------------------------------------------------
def _normalise(logits: np.ndarray, output: str) -> np.ndarray:
    """What the original graph emitted, from the head's logits."""
    if output == "logits":
        return logits
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return np.exp(log_p) if output == "probabilities" else log_p


def verify_cut(source: Path, backbone: Path, head_file: Path, head: LinearHead, shape: tuple[int, ...],
               fixed_batch: int | None) -> float:
    """Max abs difference between the original output and backbone -> head on random inputs.

    A model with a fixed batch size runs in chunks of that size; VERIFY_BATCH samples at least.
    """
    rng = np.random.default_rng(0)
    n = max(VERIFY_BATCH, fixed_batch or 0)
    x = rng.standard_normal((n, *shape[1:])).astype(np.float32)
    step = fixed_batch or n
    try:
        sessions = [cpu_session(p) for p in (source, backbone, head_file)]
    except Exception as e:  # onnxruntime raises several unrelated types for a model it cannot run
        raise OnnxImportError(f"{source}: onnxruntime cannot run it or its cut ({first_line(e)})") from None
    names = [s.get_inputs()[0].name for s in sessions]
    ref, feats = [], []
    for i in range(0, n, step):
        ref.append(sessions[0].run(None, {names[0]: x[i:i + step]})[0])
        feats.append(sessions[1].run(None, {names[1]: x[i:i + step]})[0])
    ref_out, f = np.concatenate(ref), np.concatenate(feats)
    d = head.weight.shape[1]
    if f.ndim != 2 or f.shape[1] != d:
        raise OnnxImportError(
            f"{source}: the classifier ({head.op} {head.node_name!r}) acts on a tensor of shape {list(f.shape)}, "
            f"not on one feature vector [B, {d}] per video: a per-position classifier whose outputs are not "
            "simply averaged is not a linear head")
    got = _normalise(sessions[2].run(None, {names[2]: f})[0], head.output)
    if ref_out.shape != got.shape:
        raise OnnxImportError(f"{source}: the output has shape {list(ref_out.shape)}, but the linear layer gives "
                              f"{list(got.shape)}; it is not the final classifier [B, C]")
    return float(np.max(np.abs(ref_out.astype(np.float64) - got)))


# -- preprocessing defaults ---------------------------------------------------------------------
def default_preprocess(model: onnx.ModelProto, source: str) -> Preprocess:
    """Preprocess from the input shape: the axis of size 3 is the channel one (NCTHW or NTCHW), frames and
    crop are the static sizes, resize = crop / 0.875 (256 for 224), ImageNet mean/std, uniform sampling."""
    dims = input_dims(video_input(model, source))
    ints = dims[1:]
    if len(ints) != 4 or not all(isinstance(v, int) for v in ints):
        raise OnnxImportError(f"{source}: input shape {dims} is not a static video [B, C, T, H, W] or "
                              "[B, T, C, H, W]; give `preprocess`", params=("preprocess",))
    c_first, t_first = ints[0] == 3, ints[1] == 3
    if c_first == t_first:
        raise OnnxImportError(f"{source}: cannot tell the channel axis of input shape {dims}; give `preprocess`",
                              params=("preprocess",))
    frames, h, w = (ints[1] if c_first else ints[0]), ints[2], ints[3]
    if h != w:
        raise OnnxImportError(f"{source}: input crop {h}x{w} is not square; give `preprocess`", params=("preprocess",))
    return Preprocess(num_frames=frames, crop=h, resize=round(h / 0.875), layout="NCTHW" if c_first else "NTCHW")


# -- the import -----------------------------------------------------------------------------------
def import_onnx(model_path: str | os.PathLike, labels: list[str], out: str | os.PathLike, preprocess: Preprocess,
                force: bool = False, progress: Callable[[str], None] | None = None) -> Bundle:
    """Cut the ONNX classifier at `model_path` into a bundle at `out`, verified before it is written.

    Raises OnnxImportError (or another CatsplitError for the labels or `out`) with a one-line reason;
    nothing is written then.
    """
    step = progress or (lambda _: None)
    source, out = Path(model_path), Path(out)
    check_labels(labels, out)
    check_output(out, BUNDLE_KIND, force)
    step("load")
    try:
        model = load_onnx(source)
    except (OnnxFileError, OnnxGuardError) as e:
        raise OnnxImportError(str(e)) from None
    video = video_input(model, str(source))
    dims = input_dims(video)
    want = preprocess.input_shape(1)
    if len(dims) != len(want) or any(isinstance(d, int) and d != w for d, w in zip(dims[1:], want[1:])):
        raise OnnxImportError(f"{source}: input {video.name!r} has shape {dims}, but the preprocessing gives "
                              f"[B, {', '.join(map(str, want[1:]))}] ({preprocess.layout})")
    step("find head")
    head = _Graph(model, str(source)).find_head()
    classes, dim = head.weight.shape
    if len(labels) != classes:
        raise OnnxImportError(f"{source}: the classifier has {classes} outputs but {len(labels)} labels were given")
    step("cut")
    backbone = cut_backbone(model, head, str(source))
    del model
    fixed_batch = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else None
    with staged_output(out, BUNDLE_KIND, force) as stage:
        files = {BACKBONE: stage.scratch / BACKBONE, HEAD: stage.scratch / HEAD}
        try:
            save_onnx(backbone, files[BACKBONE])
        except OnnxFileError as e:
            raise OnnxImportError(f"{source}: cannot write its backbone: {e}") from None
        del backbone
        save_onnx(make_head(head.weight, head.bias), files[HEAD])
        step("verify")
        diff = verify_cut(source, files[BACKBONE], files[HEAD], head, want, fixed_batch)
        if not diff <= VERIFY_ATOL:
            raise OnnxImportError(f"{source}: backbone -> head differs from the original output by {diff:.3g} "
                                  f"(> {VERIFY_ATOL}); not writing {out}")
        provenance = {
            "source": "onnx-import",
            "model": source.name,
            "model_sha256": sha256_file(source),
            "input": {"name": video.name, "shape": dims},
            "head": {"op": head.op, "node": head.node_name, "features": head.features,
                     "mean_over_axes": list(head.pool_axes) if head.pool_axes is not None else None},
            "original_output": head.output,
            "verify": {"max_abs_diff": diff, "atol": VERIFY_ATOL, "samples": max(VERIFY_BATCH, fixed_batch or 0)},
        }
        if head.output != "logits":
            provenance["note"] = (f"the model emitted {head.output}; its final {head.output[:3]}softmax was "
                                  "stripped, the head gives logits and the runtime applies softmax")
        step("write")
        bundle = Bundle(path=out, labels=list(labels), feature_dim=dim, preprocess=preprocess, files={},
                        provenance=provenance)
        return fill_bundle(bundle, stage, files)
