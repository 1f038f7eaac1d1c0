"""The benchmarked models and the artifacts built from each: same weights everywhere.

For a model the harness writes, into its work folder: `torch.pt` (the PyTorch classifier's state
dict), `model.onnx` (the monolithic classifier, torch.onnx TorchScript exporter, dynamic batch),
`bundle/` (catsplit's importer cutting model.onnx into backbone + head), `bundle_head2/` (the same
backbone with another head, for head swaps) and the quantized bundles. A shipped bundle (model A)
replaces the importer's output: its monolithic ONNX is exported from the PyTorch module whose
weights it was exported from.
"""
from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import torch
from torch import nn

from benchmarks.world.labels import label_space
from benchmarks.world.splits import PREPROCESS as WORLD_PREPROCESS
from catsplit.models.head import make_head
from catsplit.models.importer import import_onnx
from catsplit.models.onnx_io import cpu_session, save_onnx
from catsplit.runtime.bundle import BACKBONE, HEAD, Bundle, Preprocess, load_bundle, write_bundle

IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
KINETICS = dict(mean=(0.43216, 0.394666, 0.37645), std=(0.22803, 0.22145, 0.216989))  # torchvision video
NUM_CLASSES = 174  # SSv2


class Logits(nn.Module):
    """Wrap a transformers classifier so forward(x) returns the logits tensor."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=x).logits


def _catnet(num_classes: int) -> nn.Module:
    from catsplit.models.catnet import catnet_s

    return catnet_s(num_classes)


def _vit_s(num_classes: int) -> nn.Module:
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification

    cfg = VideoMAEConfig(image_size=224, patch_size=16, num_frames=16, tubelet_size=2, hidden_size=384,
                         num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536,
                         num_labels=num_classes, use_mean_pooling=True)
    return Logits(VideoMAEForVideoClassification(cfg))


def _r2plus1d(num_classes: int) -> nn.Module:
    from torchvision.models.video import r2plus1d_18

    return r2plus1d_18(weights=None, num_classes=num_classes)


@dataclass(frozen=True)
class Spec:
    """A benchmarked model: how to build its PyTorch classifier and how its input is made."""

    name: str
    title: str
    build: Callable[[int], nn.Module]
    preprocess: Preprocess
    num_classes: int = NUM_CLASSES
    shipped: str | None = None  # a shipped bundle directory to benchmark instead of an imported one

    def torch_model(self, state: Path | None = None) -> nn.Module:
        model = self.build(self.num_classes).eval()
        if state is not None:
            model.load_state_dict(torch.load(state, map_location="cpu", weights_only=True))
        return model


REPO = Path(__file__).resolve().parents[2]
MODEL_A = REPO / "models" / "bundles" / "ssv2_split_A_synth"

SPECS = {
    "model_a": Spec("model_a", "Model A: CatNet-S, shipped bundle ssv2_split_A_synth", _catnet, WORLD_PREPROCESS,
                    num_classes=len(label_space("A")), shipped=str(MODEL_A)),
    "tiny": Spec("tiny", "CatNet-S, random weights (smoke test)", _catnet,
                 Preprocess(num_frames=8, crop=48, resize=56, **IMAGENET), num_classes=10),
    "vit_s": Spec("vit_s", "VideoMAE ViT-S/16, 16x224x224, tubelet 2 (random weights)", _vit_s,
                  Preprocess(num_frames=16, crop=224, resize=256, layout="NTCHW", **IMAGENET)),
    "r2plus1d_18": Spec("r2plus1d_18", "torchvision R(2+1)D-18, 16x112x112 (random weights)", _r2plus1d,
                        Preprocess(num_frames=16, crop=112, resize=128, **KINETICS)),
}


def catnet_from_bundle(bundle: Bundle) -> nn.Module:
    """The CatNet-S classifier computing exactly what a shipped CatNet bundle computes.

    The bundle's convolutions carry their folded BatchNorm as a bias (`folded_convs`): each BatchNorm
    becomes the identity plus that bias, so the module keeps CatNet-S's state dict (the worker loads
    torch.pt into `Spec.torch_model`); the head's rows, read as the compiler reads them, become the
    Linear head.
    """
    from catsplit.compiler.head import load_head, read_rows
    from catsplit.models.catnet import catnet_s, folded_convs

    net = catnet_s(bundle.num_classes).eval()
    with torch.no_grad():
        for (conv, bn, _), weight, bias in folded_convs(net, bundle.backbone_path):
            conv.weight.copy_(torch.from_numpy(weight))
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(bias))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
        w, b = read_rows(load_head(bundle.head_path), str(bundle.head_path))
        net.head.weight.copy_(torch.as_tensor(w))
        net.head.bias.copy_(torch.as_tensor(b))
    return net


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> Path:
    """The monolithic classifier: input `video` [B, ...] -> `logits` [B, C], dynamic batch, opset 17."""
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        torch.onnx.export(model, (example,), buf, input_names=["video"], output_names=["logits"],
                          dynamic_axes={"video": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                          dynamo=False)
    return save_onnx(onnx.load_from_string(buf.getvalue()), path)


def second_head(bundle: Bundle, out: Path, seed: int = 1) -> Bundle:
    """A bundle of the same backbone (hard link) with a different random head: the head-swap target."""
    rng = np.random.default_rng(seed)
    c, d = bundle.num_classes, bundle.feature_dim
    head = make_head(rng.standard_normal((c, d)).astype(np.float32) * 0.05, np.zeros(c, np.float32))
    tmp = out.with_name(out.name + ".head.onnx")
    save_onnx(head, tmp)
    meta = Bundle(path=out, labels=[f"{lab} (head 2)" for lab in bundle.labels], feature_dim=d,
                  preprocess=bundle.preprocess, files={}, provenance={"source": "latency benchmark head swap"})
    try:
        return write_bundle(meta, out, {BACKBONE: bundle.backbone_path, HEAD: tmp}, force=True)
    finally:
        tmp.unlink(missing_ok=True)


def _check_same(model: nn.Module, bundle: Bundle, shape: tuple[int, ...]) -> None:
    """The PyTorch model and the bundle (backbone -> head) give the same logits."""
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    b, h = (cpu_session(p) for p in (bundle.backbone_path, bundle.head_path))
    got = h.run(None, {h.get_inputs()[0].name: b.run(None, {b.get_inputs()[0].name: x})[0]})[0]
    with torch.inference_mode():
        ref = model(torch.from_numpy(x)).numpy()
    if not np.allclose(ref, got, atol=1e-3, rtol=1e-3):
        raise ValueError(f"{bundle.path}: PyTorch and bundle logits differ by {np.abs(ref - got).max():.3g}")


def prepare(spec: Spec, work: Path, log: Callable[[str], None] = print) -> dict:
    """Build (or reuse) the model's artifacts in `work`; returns their paths and the model's facts."""
    work.mkdir(parents=True, exist_ok=True)
    info_file = work / "artifacts.json"
    if info_file.is_file():
        return json.loads(info_file.read_text())
    example = torch.randn(spec.preprocess.input_shape(2))
    if spec.shipped:
        bundle = load_bundle(spec.shipped)
        model = catnet_from_bundle(bundle)
        _check_same(model, bundle, spec.preprocess.input_shape(2))
    else:
        torch.manual_seed(0)
        model = spec.torch_model()
    torch.save(model.state_dict(), work / "torch.pt")
    log(f"[{spec.name}] exporting the monolithic ONNX")
    export_onnx(model, example, work / "model.onnx")
    if not spec.shipped:
        labels = [f"class {i}" for i in range(spec.num_classes)]
        log(f"[{spec.name}] importing it as a bundle (graph surgery + verification)")
        bundle = import_onnx(work / "model.onnx", labels, work / "bundle", spec.preprocess, force=True)
    second_head(bundle, work / "bundle_head2")
    info = {"model": spec.name, "title": spec.title, "torch": str(work / "torch.pt"),
            "onnx": str(work / "model.onnx"), "bundle": str(bundle.path),
            "bundle_head2": str(work / "bundle_head2"), "input_shape": list(spec.preprocess.input_shape(1)),
            "params": int(sum(p.numel() for p in model.parameters()))}
    info_file.write_text(json.dumps(info, indent=2))
    return info
