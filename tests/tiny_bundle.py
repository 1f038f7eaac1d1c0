"""Tiny but real bundles for runtime tests: a torch Conv3d backbone and a Linear head, exported with
torch.onnx (TorchScript exporter) and written with `write_bundle`."""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from catsplit.models.onnx_io import MAX_IR_VERSION
from catsplit.runtime.bundle import Bundle, Preprocess, write_bundle

PRE = Preprocess(num_frames=8, crop=32, resize=36, layout="NCTHW")
FEATURE_DIM = 8
LABELS = ["walk", "run", "jump", "sit", "wave"]


class TinyBackbone(nn.Module):
    """video [B, 3, T, H, W] (or [B, T, 3, H, W]) -> features [B, D]."""

    def __init__(self, dim: int = FEATURE_DIM, layout: str = "NCTHW"):
        super().__init__()
        self.layout = layout
        self.conv = nn.Conv3d(3, dim, kernel_size=3, stride=2, padding=1)
        self.pool = nn.AdaptiveAvgPool3d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.layout == "NTCHW":
            x = x.permute(0, 2, 1, 3, 4)
        return self.pool(torch.relu(self.conv(x))).flatten(1)


def onnx_bytes(module: nn.Module, example: torch.Tensor, dynamic: bool = True) -> bytes:
    """Export (with a dynamic batch axis unless `dynamic` is False); IR version capped as the bundle writers
    cap it (models/onnx_io.py), so every supported onnxruntime loads it."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is deprecated
        torch.onnx.export(module.eval(), (example,), buf, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}} if dynamic else None, dynamo=False)
    model = onnx.load_from_string(buf.getvalue())
    model.ir_version = min(model.ir_version, MAX_IR_VERSION)
    return model.SerializeToString()


def backbone_bytes(seed: int = 0, pre: Preprocess = PRE, dim: int = FEATURE_DIM, fixed_batch: int | None = None) -> bytes:
    """`fixed_batch`: bake that batch size into the graph, as torch.export does with its example input."""
    torch.manual_seed(seed)
    example = torch.zeros(pre.input_shape(fixed_batch or 2))
    return onnx_bytes(TinyBackbone(dim, pre.layout), example, dynamic=fixed_batch is None)


def head_bytes(num_classes: int, dim: int = FEATURE_DIM, seed: int = 1, scale: float = 4.0) -> bytes:
    """A Gemm head; `scale` spreads the logits so the top-1 is not a coin toss."""
    torch.manual_seed(seed)
    head = nn.Linear(dim, num_classes)
    with torch.no_grad():
        head.weight.mul_(scale)
    return onnx_bytes(head, torch.zeros(2, dim))


def make_bundle(out: Path, labels: list[str] = LABELS, pre: Preprocess = PRE, backbone: bytes | Path | None = None,
                head: bytes | None = None, dim: int = FEATURE_DIM, head_dim: int | None = None) -> Bundle:
    """A bundle at `out`; pass `backbone` (bytes or an existing file) to share one between bundles."""
    bundle = Bundle(path=out, labels=list(labels), feature_dim=dim, preprocess=pre, files={})
    sources = {"backbone.onnx": backbone if backbone is not None else backbone_bytes(pre=pre, dim=dim),
               "head.onnx": head if head is not None else head_bytes(len(labels), head_dim or dim)}
    return write_bundle(bundle, out, sources)
