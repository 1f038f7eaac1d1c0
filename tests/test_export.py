"""`export_bundle` and `catsplit export`: a PyTorch backbone + nn.Linear straight to a verified bundle."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from catsplit.models.export import ExportError, export_bundle
from catsplit.models.head import make_head
from catsplit.runtime import Runtime
from catsplit.runtime.bundle import Preprocess, load_bundle
from catsplit.runtime.cli import catsplit
from catsplit.runtime.output import OutputError
from catsplit.runtime.video import load_views
from tests.videos import normal_video

PRE = Preprocess(num_frames=4, crop=16, resize=18, layout="NTCHW")
LABELS = ["open", "close", "pour", "stir"]


class TinyBackbone(nn.Module):
    """[B, T, 3, H, W] -> [B, 12]; BatchNorm in eval mode, as in a trained model."""

    def __init__(self, dim: int = 12):
        super().__init__()
        self.conv = nn.Conv3d(3, dim, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm3d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x.transpose(1, 2)))).mean((2, 3, 4))


def tiny_parts(num_classes: int, weights: str | None = None):
    """A registry-style factory (used by the CLI test as --model tests.test_export:tiny_parts)."""
    torch.manual_seed(0)
    backbone, head = TinyBackbone(), nn.Linear(12, num_classes)
    if weights is not None:
        head.load_state_dict(torch.load(weights, weights_only=True))
    with torch.no_grad():
        head.weight.mul_(10)
    return backbone.eval(), head, PRE


def test_export_bundle_matches_torch_and_writes_the_canonical_head(tmp_path):
    backbone, head, pre = tiny_parts(len(LABELS))
    groups = {"kitchen": LABELS}
    bundle = export_bundle(backbone, head, LABELS, pre, tmp_path / "b", groups=groups, modifiers={"pour": "liquid"},
                           provenance={"note": "test"})
    loaded = load_bundle(tmp_path / "b")
    assert (loaded.labels, loaded.feature_dim, loaded.preprocess) == (LABELS, 12, pre)
    assert loaded.groups == groups and loaded.modifiers == {"pour": "liquid"}
    assert loaded.provenance["note"] == "test" and loaded.provenance["verify"]["max_abs_diff"] <= 1e-4

    # head.onnx is the very graph make_head builds from the nn.Linear
    canonical = make_head(head.weight.detach().numpy(), head.bias.detach().numpy())
    written = onnx.load(str(bundle.head_path))
    assert written.graph.SerializeToString() == canonical.graph.SerializeToString()

    # dynamic batch, real video through the runtime, same numbers as torch
    video = normal_video(tmp_path / "v.mp4", n=16, height=24, width=32)
    x = load_views(video, pre, clips=3)  # three clips: a batch of 3
    rt = Runtime(bundle, provider="cpu")
    with torch.no_grad():
        want = head(backbone(torch.from_numpy(x))).numpy()
    np.testing.assert_allclose(rt.logits(rt.features(x)), want, atol=1e-4, rtol=0)
    (pred,) = rt.classify([video], top_k=1)
    with torch.no_grad():
        probs = torch.softmax(head(backbone(torch.from_numpy(load_views(video, pre)))), 1)[0].numpy()
    assert pred.top_k[0][0] == LABELS[int(probs.argmax())]
    assert abs(pred.top_k[0][1] - float(probs.max())) <= 1e-4


def test_label_count_must_match_the_head(tmp_path):
    backbone, head, pre = tiny_parts(3)
    with pytest.raises(ExportError, match="the head has 3 outputs but 4 labels were given"):
        export_bundle(backbone, head, LABELS, pre, tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_backbone_must_give_pooled_features(tmp_path):
    class Unpooled(TinyBackbone):
        def forward(self, x):
            return self.conv(x.transpose(1, 2))

    _, head, pre = tiny_parts(len(LABELS))
    with pytest.raises(ExportError, match=r"the backbone gives \[2, 12, 2, 8, 8\] on input \[2, 4, 3, 16, 16\], "
                                          r"the head needs \[B, 12\]"):
        export_bundle(Unpooled().eval(), head, LABELS, pre, tmp_path / "b")
    assert not (tmp_path / "b").exists() and not list(tmp_path.iterdir())


def test_existing_bundle_needs_force(tmp_path):
    backbone, head, pre = tiny_parts(len(LABELS))
    export_bundle(backbone, head, LABELS, pre, tmp_path / "b")
    with pytest.raises(OutputError, match="already exists"):
        export_bundle(backbone, head, LABELS, pre, tmp_path / "b")
    export_bundle(backbone, head, LABELS[::-1], pre, tmp_path / "b", force=True)
    assert load_bundle(tmp_path / "b").labels == LABELS[::-1]


def test_export_command(tmp_path):
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    torch.save(nn.Linear(12, len(LABELS)).state_dict(), tmp_path / "head.pt")
    result = CliRunner().invoke(catsplit, [
        "export", "--model", "tests.test_export:tiny_parts", "--weights", str(tmp_path / "head.pt"),
        "--labels", str(tmp_path / "labels.txt"), "-o", str(tmp_path / "b"), "--preprocess", '{"resize": 20}',
        "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["labels"] == LABELS and doc["preprocess"]["resize"] == 20 and doc["preprocess"]["crop"] == 16
    assert doc["provenance"]["model"] == "tests.test_export:tiny_parts"
    assert load_bundle(tmp_path / "b").provenance["weights"] == "head.pt"


@pytest.mark.parametrize("args,why", [
    (["--model", "nosuch"], "unknown model 'nosuch'"),
    (["--model", "tests.test_export:nosuch"], "cannot load tests.test_export:nosuch"),
    (["--model", "catnet_s"], "catnet_s: the model has no default preprocessing; give --preprocess"),
])
def test_export_command_bad_input_is_one_line(tmp_path, args, why):
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    result = CliRunner().invoke(catsplit, ["export", *args, "--labels", str(tmp_path / "labels.txt"),
                                           "-o", str(tmp_path / "b")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("catsplit: error: ") and why in lines[0], result.stderr
    assert not (tmp_path / "b").exists()


def test_export_command_catnet_checkpoint(tmp_path):
    """The registry's catnet_s from a checkpoint as benchmarks.world.train saves it."""
    from catsplit.models.catnet import catnet_s

    from benchmarks.world.train import save_checkpoint

    torch.manual_seed(0)
    net = catnet_s(len(LABELS))
    save_checkpoint(net, LABELS, {"torch": str(torch.__version__), "val_top1": 0.5}, tmp_path / "model.pt")
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    pre = '{"num_frames": 8, "crop": 48, "resize": 56}'
    result = CliRunner().invoke(catsplit, ["export", "--model", "catnet_s", "--weights", str(tmp_path / "model.pt"),
                                           "--labels", str(tmp_path / "labels.txt"), "-o", str(tmp_path / "b"),
                                           "--preprocess", pre])
    assert result.exit_code == 0, result.output
    bundle = load_bundle(tmp_path / "b")
    x = np.random.default_rng(0).standard_normal(bundle.preprocess.input_shape(2)).astype(np.float32)
    rt = Runtime(bundle, provider="cpu")
    with torch.no_grad():
        want = net.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(rt.logits(rt.features(x)), want, atol=1e-4, rtol=0)
