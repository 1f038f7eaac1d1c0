"""The model zoo for import tests: real torchvision and transformers video classifiers, random weights.

Every model is built deterministically (seeded) at the smallest input it accepts, so a test can export
it to ONNX in one process and compare against a fresh copy of the same module in another. The final
layer's weights are scaled up so that the top-1 class is well separated from the rest.

Input sizes: r3d_18 / r2plus1d_18 take any size (adaptive pooling): 4x32x32. s3d ends in a fixed
AvgPool3d(2, 7, 7), so it needs 224x224 and >= 9 frames: 16x224x224. mvit_v2_s is built at 4x32x32:
torchvision hard-codes spatial_size=(224, 224), temporal_size=16 in `mvit_v2_s` (its relative position
tables are sized from them), so the builder's `_mvit` is given the small sizes instead; blocks, widths
and parameter count are those of mvit_v2_s. At 16x224x224 one import took ~60 s here, at 4x32x32 ~4 s.
VideoMAE and TimeSformer use small configs (hidden 64, 2 layers, 32x32 images, 4 frames).
"""
from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from unittest import mock

import torch
from torch import nn

from catsplit.runtime.bundle import Preprocess


class _LogitsOnly(nn.Module):
    """A transformers classifier as a plain `video -> logits` module (what one would export)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).logits


def _r3d_18(classes: int) -> tuple[nn.Module, nn.Module]:
    from torchvision.models.video import r3d_18
    m = r3d_18(num_classes=classes)
    return m, m.fc


def _r2plus1d_18(classes: int) -> tuple[nn.Module, nn.Module]:
    from torchvision.models.video import r2plus1d_18
    m = r2plus1d_18(num_classes=classes)
    return m, m.fc


def _s3d(classes: int) -> tuple[nn.Module, nn.Module]:
    from torchvision.models.video import s3d
    m = s3d(num_classes=classes)
    return m, m.classifier[1]


def _mvit_v2_s(classes: int) -> tuple[nn.Module, nn.Module]:
    from torchvision.models.video import mvit

    small = functools.partial(mvit._mvit, spatial_size=(32, 32), temporal_size=4)

    def build(**kwargs):
        kwargs.pop("spatial_size"), kwargs.pop("temporal_size")
        return small(**kwargs)

    with mock.patch.object(mvit, "_mvit", build):
        m = mvit.mvit_v2_s(num_classes=classes)
    return m, m.head[1]


_SMALL_VIT = dict(image_size=32, patch_size=16, num_channels=3, num_frames=4, hidden_size=64, num_hidden_layers=2,
                  num_attention_heads=2, intermediate_size=128)


def _videomae(classes: int) -> tuple[nn.Module, nn.Module]:
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification
    m = VideoMAEForVideoClassification(VideoMAEConfig(**_SMALL_VIT, tubelet_size=2, num_labels=classes))
    return _LogitsOnly(m), m.classifier


def _timesformer(classes: int) -> tuple[nn.Module, nn.Module]:
    from transformers import TimesformerConfig, TimesformerForVideoClassification
    m = TimesformerForVideoClassification(TimesformerConfig(**_SMALL_VIT, num_labels=classes))
    return _LogitsOnly(m), m.classifier


@dataclass(frozen=True)
class ZooModel:
    name: str
    build_fn: Callable[[int], tuple[nn.Module, nn.Module]]  # classes -> (model, its final layer)
    preprocess: Preprocess
    feature_dim: int
    head_scale: float  # final layer weights are multiplied by this


_TINY = Preprocess(num_frames=4, crop=32, resize=36, layout="NCTHW")
ZOO = {z.name: z for z in [
    ZooModel("r3d_18", _r3d_18, _TINY, 512, 40.0),
    ZooModel("r2plus1d_18", _r2plus1d_18, _TINY, 512, 40.0),
    ZooModel("s3d", _s3d, Preprocess(num_frames=16, crop=224, resize=256, layout="NCTHW"), 1024, 20.0),
    ZooModel("mvit_v2_s", _mvit_v2_s, _TINY, 768, 20.0),
    ZooModel("videomae", _videomae, Preprocess(num_frames=4, crop=32, resize=36, layout="NTCHW"), 64, 20.0),
    ZooModel("timesformer", _timesformer, Preprocess(num_frames=4, crop=32, resize=36, layout="NTCHW"), 64, 20.0),
]}
LABELS = ["archery", "bowling", "cycling", "diving", "juggling", "knitting", "surfing"]


def build(name: str, classes: int = len(LABELS), seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """The zoo model `name` in eval mode and its final layer, the same weights on every call."""
    z = ZOO[name]
    torch.manual_seed(seed)
    model, final = z.build_fn(classes)
    with torch.no_grad():
        final.weight.mul_(z.head_scale)
        final.bias.uniform_(-1.0, 1.0)
    return model.eval(), final


def export_onnx(model: nn.Module, pre: Preprocess, path: str | Path, dynamo: bool, batch: int = 2) -> Path:
    """torch.onnx.export as a user would: dynamic batch (the example batch is 2, as torch.export
    specialises a batch of 1 to a constant), default options otherwise. Returns `path`."""
    path = Path(path)
    x = torch.randn(pre.input_shape(batch))
    if dynamo:
        shapes = ({0: torch.export.Dim("batch")},) if batch > 1 else None
        torch.onnx.export(model, (x,), str(path), dynamo=True, input_names=["video"], output_names=["logits"],
                          dynamic_shapes=shapes, verbose=False)
    else:
        axes = {"video": {0: "batch"}, "logits": {0: "batch"}} if batch > 1 else None
        torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["video"], output_names=["logits"],
                          dynamic_axes=axes)
    return path


def export_buffer(model: nn.Module, example: torch.Tensor, **kwargs) -> bytes:
    """A small module exported with the TorchScript exporter, as bytes (for hand-made test graphs)."""
    buf = io.BytesIO()
    torch.onnx.export(model.eval(), (example,), buf, dynamo=False, **kwargs)
    return buf.getvalue()
