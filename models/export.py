"""`export_bundle`: a PyTorch backbone + nn.Linear head straight to a verified bundle.

The backbone goes through torch.onnx's TorchScript exporter (dynamo=False): it gives a dynamic batch
axis for any traceable module (torch.export specialises a batch it sees as 1 and fails on
data-dependent control flow), writes one self-contained file and takes about a second where the
dynamo exporter takes tens for transformer-sized graphs. The head is not exported at all: it is
written by `make_head`, the same canonical Gemm the importer writes and the compiler edits.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from catsplit.models.head import FEATURES, VERIFY_ATOL, VERIFY_BATCH, make_head
from catsplit.models.onnx_io import cpu_session, default_opset, save_onnx
from catsplit.runtime.bundle import BACKBONE, BUNDLE_KIND, HEAD, Bundle, Preprocess, check_labels, fill_bundle
from catsplit.runtime.output import check_output, staged_output
from catsplit.runtime.errors import CatsplitError


class ExportError(CatsplitError, ValueError):
    """A module that cannot be exported as a bundle; one line that says why."""


def _backbone_onnx(backbone: nn.Module, example: torch.Tensor) -> onnx.ModelProto:
    buf = io.BytesIO()
    torch.onnx.export(backbone, (example,), buf, dynamo=False, input_names=["video"], output_names=[FEATURES],
                      dynamic_axes={"video": {0: "batch"}, FEATURES: {0: "batch"}})
    return onnx.load_from_string(buf.getvalue())


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    sess = cpu_session(path)
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def export_bundle(backbone: nn.Module, head: nn.Linear, labels: list[str], preprocess: Preprocess,
                  out: str | os.PathLike, groups: dict[str, list[str]] | None = None,
                  modifiers: dict[str, str] | None = None, provenance: dict[str, Any] | None = None,
                  force: bool = False) -> Bundle:
    """Export `backbone` (video -> [B, D]) and `head` ([B, D] -> [B, C]) as a bundle at `out`.

    Both ONNX files are run in onnxruntime on random video of the preprocessing's shape and must give
    the torch modules' logits within 1e-4 before anything is written.
    """
    out = Path(out)
    check_labels(labels, out)
    check_output(out, BUNDLE_KIND, force)
    if not isinstance(head, nn.Linear):
        raise ExportError(f"{out}: the head must be an nn.Linear, got {type(head).__name__}")
    if head.out_features != len(labels):
        raise ExportError(f"{out}: the head has {head.out_features} outputs but {len(labels)} labels were given")
    backbone, head = backbone.eval(), head.eval()
    x = torch.from_numpy(np.random.default_rng(0).standard_normal(preprocess.input_shape(VERIFY_BATCH))
                         .astype(np.float32))
    with torch.no_grad():
        feats = backbone(x)
        if not isinstance(feats, torch.Tensor) or feats.shape != (VERIFY_BATCH, head.in_features):
            shape = list(feats.shape) if isinstance(feats, torch.Tensor) else type(feats).__name__
            raise ExportError(f"{out}: the backbone gives {shape} on input {list(x.shape)}, the head needs "
                              f"[B, {head.in_features}]")
        want = head(feats).numpy()
        model = _backbone_onnx(backbone, x)
    w = head.weight.detach().numpy()
    b = head.bias.detach().numpy() if head.bias is not None else np.zeros(head.out_features, np.float32)
    with staged_output(out, BUNDLE_KIND, force) as stage:
        files = {BACKBONE: stage.scratch / BACKBONE, HEAD: stage.scratch / HEAD}
        save_onnx(model, files[BACKBONE])
        save_onnx(make_head(w, b), files[HEAD])
        got = _run(files[HEAD], _run(files[BACKBONE], x.numpy()))
        diff = float(np.max(np.abs(got.astype(np.float64) - want)))
        if not diff <= VERIFY_ATOL:
            raise ExportError(f"{out}: onnxruntime's logits differ from torch's by {diff:.3g} (> {VERIFY_ATOL}); "
                              "not writing the bundle")
        record = {"source": "torch-export", "exporter": f"torch.onnx TorchScript (torch {torch.__version__}, "
                  f"opset {default_opset(model)})",
                  "backbone": type(backbone).__name__,
                  "verify": {"max_abs_diff": diff, "atol": VERIFY_ATOL, "samples": VERIFY_BATCH},
                  **(provenance or {})}
        bundle = Bundle(path=out, labels=list(labels), feature_dim=head.in_features, preprocess=preprocess,
                        files={}, groups=groups, modifiers=dict(modifiers or {}), provenance=record)
        return fill_bundle(bundle, stage, files)
