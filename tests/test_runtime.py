"""Runtime end to end on real bundles (torch-exported ONNX) and real mp4 files."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from catsplit.runtime import BundleError, Preprocess, Runtime
from catsplit.runtime.cli import run
from catsplit.runtime.session import CPU
from catsplit.runtime.video import load_views
from tests import tiny_bundle as T
from tests import videos as V


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("runtime")
    bundle = T.make_bundle(d / "bundle")
    other = T.make_bundle(d / "other", labels=["a", "b", "c"], backbone=bundle.backbone_path,
                          head=T.head_bytes(3, seed=7))
    vids = [V.normal_video(d / "a.mp4", n=32), V.odd_video(d / "b.mp4", n=20), V.gray_video(d / "c.mp4", n=24)]
    return {"dir": d, "bundle": bundle, "other": other, "videos": [str(v) for v in vids]}


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_backbone_and_head_match_pytorch(world):
    rt = Runtime(world["bundle"].path, provider="cpu")
    torch.manual_seed(0)
    backbone = T.TinyBackbone().eval()
    torch.manual_seed(1)
    head = torch.nn.Linear(T.FEATURE_DIM, len(T.LABELS))
    with torch.no_grad():
        head.weight.mul_(4.0)
        x = load_views(world["videos"][0], T.PRE, clips=2, crops=3)
        want = head(backbone(torch.from_numpy(x))).numpy()
    np.testing.assert_allclose(rt.logits(rt.features(x)), want, atol=1e-4)
    assert rt.provider == CPU and rt.labels == T.LABELS


def test_classify_averages_view_probabilities(world):
    rt = Runtime(world["bundle"].path, provider="cpu", views=(2, 3))
    (pred,) = rt.classify(world["videos"][:1], top_k=5)
    x = load_views(world["videos"][0], T.PRE, clips=2, crops=3)
    probs = _softmax(rt.logits(rt.features(x)).astype(np.float64)).mean(0)
    order = np.argsort(-probs)
    assert [label for label, _ in pred.top_k] == [T.LABELS[i] for i in order]
    np.testing.assert_allclose([p for _, p in pred.top_k], probs[order], atol=1e-6)
    assert pred.error is None and pred.provider == CPU
    assert set(pred.timings_ms) == {"decode", "backbone", "head"} and all(v >= 0 for v in pred.timings_ms.values())


def test_batching_does_not_change_results(world):
    videos = world["videos"] * 2
    one = Runtime(world["bundle"].path, provider="cpu", views=(2, 1), batch_size=1).classify(videos, top_k=3)
    many = Runtime(world["bundle"].path, provider="cpu", views=(2, 1), batch_size=5).classify(videos, top_k=3)
    assert [p.video for p in many] == videos
    for a, b in zip(one, many):
        assert [lab for lab, _ in a.top_k] == [lab for lab, _ in b.top_k]
        np.testing.assert_allclose([p for _, p in a.top_k], [p for _, p in b.top_k], atol=1e-5)


@pytest.mark.parametrize("fixed", [1, 3])
def test_fixed_batch_backbone_is_fed_in_chunks(world, tmp_path, fixed):
    """A backbone exported with its batch size baked in still classifies batches of any size."""
    bundle = T.make_bundle(tmp_path / "fixed", backbone=T.backbone_bytes(fixed_batch=fixed))
    dynamic = Runtime(world["bundle"].path, provider="cpu", views=(2, 1), batch_size=5)
    fixed_rt = Runtime(bundle.path, provider="cpu", views=(2, 1), batch_size=5)
    for a, b in zip(dynamic.classify(world["videos"]), fixed_rt.classify(world["videos"])):
        assert b.error is None
        assert [lab for lab, _ in a.top_k] == [lab for lab, _ in b.top_k]
        np.testing.assert_allclose([p for _, p in a.top_k], [p for _, p in b.top_k], atol=1e-5)


def test_bad_video_keeps_order_and_others(world):
    bad = str(V.short_video(world["dir"] / "short.mp4"))
    preds = Runtime(world["bundle"], provider="cpu", batch_size=2).classify(
        [world["videos"][0], bad, world["videos"][1]], top_k=2)
    assert [p.video for p in preds] == [world["videos"][0], bad, world["videos"][1]]
    assert preds[1].error.startswith(f"{bad}: too short") and preds[1].top_k == []
    assert preds[0].error is None and preds[2].error is None and len(preds[2].top_k) == 2


def test_swap_head_keeps_backbone_session(world):
    rt = Runtime(world["bundle"].path, provider="cpu")
    backbone = rt._backbone
    x = load_views(world["videos"][0], T.PRE)
    feats = rt.features(x)
    before = rt.logits(feats)
    rt.swap_head(world["other"].path)
    assert rt._backbone is backbone  # the backbone session was not rebuilt
    assert rt.labels == ["a", "b", "c"] and rt.bundle.path == world["other"].path
    after = rt.logits(feats)
    assert after.shape == (1, 3) and before.shape == (1, 5)
    (pred,) = rt.classify(world["videos"][:1], top_k=3)
    assert {lab for lab, _ in pred.top_k} == {"a", "b", "c"}


def test_swap_head_refuses_other_backbone(world, tmp_path):
    other = T.make_bundle(tmp_path / "x", backbone=T.backbone_bytes(seed=5))
    rt = Runtime(world["bundle"].path, provider="cpu")
    with pytest.raises(BundleError, match="sha256 differs from the running backbone"):
        rt.swap_head(other.path)
    assert rt.labels == T.LABELS  # unchanged


def test_swap_head_refuses_wrong_head_dim(world, tmp_path):
    bad = T.make_bundle(tmp_path / "x", backbone=world["bundle"].backbone_path, head=T.head_bytes(5, dim=7))
    rt = Runtime(world["bundle"].path, provider="cpu")
    with pytest.raises(BundleError, match=r"head\.onnx: input dimension 7 does not match .* 8"):
        rt.swap_head(bad.path)


def test_ntchw_bundle(tmp_path, world):
    pre = Preprocess(num_frames=4, crop=24, resize=28, layout="NTCHW", sampling="stride", stride=2)
    b = T.make_bundle(tmp_path / "ntchw", pre=pre)
    (pred,) = Runtime(b, provider="cpu").classify(world["videos"][:1])
    assert pred.error is None and len(pred.top_k) == 5


def test_cli_json_schema(world):
    res = CliRunner().invoke(run, [str(world["bundle"].path), *world["videos"], "--json", "--top-k", "3",
                                   "--views", "2x3", "--provider", "cpu", "--batch-size", "4"])
    assert res.exit_code == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [d["video"] for d in lines] == world["videos"]
    for d in lines:
        assert set(d) == {"video", "top_k", "provider", "timings_ms"}
        assert len(d["top_k"]) == 3 and all(set(t) == {"label", "prob"} for t in d["top_k"])
        assert all(t["label"] in T.LABELS and 0 <= t["prob"] <= 1 for t in d["top_k"])
        assert d["provider"] == CPU and set(d["timings_ms"]) == {"decode", "backbone", "head"}
    assert res.stderr == ""


def test_cli_table(world):
    res = CliRunner().invoke(run, [str(world["bundle"].path), world["videos"][0], "--top-k", "2"])
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[0].startswith(world["videos"][0]) and "ExecutionProvider" in lines[0]
    assert len(lines) == 3 and lines[1].split()[0] == "1" and lines[1].split()[1] in T.LABELS
