"""The canonical head: one Gemm, logits = features @ W.T + b.

Every bundle maker writes its head with `make_head` (the importer normalises Gemm/MatMul/1x1-Conv
heads to it, the exporter turns an nn.Linear into it), so the compiler always starts from this form.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from catsplit.models.onnx_io import MAX_IR_VERSION

FEATURES, LOGITS = "features", "logits"
# Every bundle maker checks backbone -> head against the source model on this many samples, to this tolerance.
VERIFY_ATOL = 1e-4
VERIFY_BATCH = 2
HEAD_OPSET = 17


def make_head(weight: np.ndarray, bias: np.ndarray, batch: str | int = "batch") -> onnx.ModelProto:
    """Gemm(features [B, D], W [C, D], b [C], transB=1) -> logits [B, C], float32."""
    w = np.ascontiguousarray(weight, dtype=np.float32)
    b = np.ascontiguousarray(bias, dtype=np.float32).reshape(-1)
    if w.ndim != 2 or b.shape != (w.shape[0],):
        raise ValueError(f"head needs W [C, D] and b [C], got {w.shape} and {b.shape}")
    c, d = w.shape
    graph = helper.make_graph(
        [helper.make_node("Gemm", [FEATURES, "head.weight", "head.bias"], [LOGITS], name="head", transB=1)],
        "head",
        [helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, [batch, d])],
        [helper.make_tensor_value_info(LOGITS, TensorProto.FLOAT, [batch, c])],
        initializer=[numpy_helper.from_array(w, "head.weight"), numpy_helper.from_array(b, "head.bias")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", HEAD_OPSET)],
                              producer_name="catsplit")
    model.ir_version = min(model.ir_version, MAX_IR_VERSION)
    onnx.checker.check_model(model)
    return model
