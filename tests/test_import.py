"""ONNX import by graph surgery: every zoo model through both torch.onnx exporters, then `catsplit-run`
on a real mp4 against the PyTorch model on the same preprocessed frames; and the graphs it refuses."""
from __future__ import annotations

import json
import time

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from catsplit.models.importer import OnnxImportError, default_preprocess, import_onnx
from catsplit.models.onnx_io import load_onnx, save_onnx
from catsplit.runtime.bundle import Preprocess, load_bundle
from catsplit.runtime.cli import catsplit, run
from catsplit.runtime.output import OutputError
from catsplit.runtime.video import load_views
from tests import zoo
from tests.videos import normal_video

LABELS = zoo.LABELS
# Every zoo model goes through torch.onnx (seconds to minutes each; mvit_v2_s through dynamo alone 50-90 s):
# all are marked slow, so `make test-fast` runs only the hand-made graphs below.
CASES = [pytest.param(name, dynamo, id=f"{name}-{'dynamo' if dynamo else 'torchscript'}", marks=pytest.mark.slow)
         for name in zoo.ZOO for dynamo in (False, True)]


@pytest.fixture(scope="session")
def video(tmp_path_factory):
    return normal_video(tmp_path_factory.mktemp("video") / "clip.mp4", n=32, height=72, width=96)


def _head_rows(bundle) -> tuple[np.ndarray, np.ndarray]:
    head = onnx.load(str(bundle.head_path))
    (node,) = head.graph.node
    assert node.op_type == "Gemm" and helper.get_attribute_value(node.attribute[0]) == 1  # transB=1
    inits = {t.name: numpy_helper.to_array(t) for t in head.graph.initializer}
    return inits[node.input[1]], inits[node.input[2]]


@pytest.mark.parametrize("name,dynamo", CASES)
def test_zoo_import_matches_torch_through_catsplit_run(tmp_path, video, name, dynamo):
    z = zoo.ZOO[name]
    model, final = zoo.build(name)
    t0 = time.perf_counter()
    source = zoo.export_onnx(model, z.preprocess, tmp_path / f"{name}.onnx", dynamo)
    t1 = time.perf_counter()
    bundle = import_onnx(source, LABELS, tmp_path / "bundle", z.preprocess)
    t2 = time.perf_counter()
    print(f"{name} dynamo={dynamo}: export {t1 - t0:.1f} s, import {t2 - t1:.1f} s")

    assert bundle.feature_dim == z.feature_dim and bundle.labels == LABELS
    assert bundle.provenance["verify"]["max_abs_diff"] <= 1e-4
    w, b = _head_rows(load_bundle(bundle.path))  # the torch classifier's rows, exactly
    np.testing.assert_array_equal(w, final.weight.detach().numpy().reshape(len(LABELS), -1))
    np.testing.assert_array_equal(b, final.bias.detach().numpy())
    backbone = onnx.load(str(bundle.backbone_path))
    assert [o.name for o in backbone.graph.output] == ["features"]
    assert backbone.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # batch stays dynamic

    result = CliRunner().invoke(run, [str(bundle.path), str(video), "--json", "--provider", "cpu",
                                      "--top-k", str(len(LABELS))])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout.strip().splitlines()[-1])
    got = {e["label"]: e["prob"] for e in doc["top_k"]}
    assert doc["provider"] == "CPUExecutionProvider"

    x = load_views(video, z.preprocess)
    with torch.no_grad():
        want = torch.softmax(model(torch.from_numpy(x)), dim=1)[0].numpy()
    assert doc["top_k"][0]["label"] == LABELS[int(want.argmax())]
    assert np.sort(want)[-1] - np.sort(want)[-2] > 1e-3  # the top-1 comparison means something
    np.testing.assert_allclose([got[lab] for lab in LABELS], want, atol=1e-4, rtol=0)


# -- small graphs from the TorchScript exporter, for what the importer accepts and refuses ---------
PRE = Preprocess(num_frames=2, crop=8, resize=9, layout="NCTHW")


class Video(nn.Module):
    """video -> per-position features [B, D, T, H, W] -> a configurable tail."""

    def __init__(self, tail: str, dim: int = 6, classes: int = 3):
        super().__init__()
        torch.manual_seed(0)
        self.tail = tail
        self.conv = nn.Conv3d(3, dim, 3, padding=1)
        self.fc, self.fc2 = nn.Linear(dim, classes), nn.Linear(dim, classes)
        self.pointwise = nn.Conv3d(dim, classes, 1)

    def forward(self, x):
        f = torch.relu(self.conv(x))
        pooled = f.mean((2, 3, 4))
        tokens = f.flatten(2).transpose(1, 2)  # [B, N, D]
        return {
            "linear": lambda: self.fc(pooled),
            "softmax": lambda: torch.softmax(self.fc(pooled), dim=1),
            "token_mean": lambda: self.fc(tokens).mean(1),
            "pointwise_mean": lambda: self.pointwise(f).mean((2, 3, 4)),
            "no_linear": lambda: torch.relu(pooled)[:, :3],
            "mean_last": lambda: pooled,
            "sum_of_two": lambda: self.fc(pooled) + self.fc2(pooled),
            "two_outputs": lambda: (self.fc(pooled), self.fc2(pooled)),
            "token_max": lambda: self.fc(tokens).amax(1),
            "per_token": lambda: self.fc(tokens).flatten(1),
        }[self.tail]()


def _export(tmp_path, tail: str, batch: int = 2, dynamic: bool = True):
    model = Video(tail).eval()
    outs = ["logits", "extra"] if tail == "two_outputs" else ["logits"]
    axes = {n: {0: "batch"} for n in ["video", *outs]} if dynamic else None
    data = zoo.export_buffer(model, torch.randn(PRE.input_shape(batch)), input_names=["video"],
                             output_names=outs, dynamic_axes=axes)
    path = tmp_path / f"{tail}.onnx"
    path.write_bytes(data)
    return model, path


@pytest.mark.parametrize("tail,mean_axes,output", [
    ("linear", None, "logits"),
    ("softmax", None, "probabilities"),
    ("token_mean", [1], "logits"),
    ("pointwise_mean", [2, 3, 4], "logits"),
])
def test_accepted_tails(tmp_path, tail, mean_axes, output):
    model, path = _export(tmp_path, tail)
    bundle = import_onnx(path, ["a", "b", "c"], tmp_path / "b", PRE)
    assert bundle.provenance["head"]["mean_over_axes"] == mean_axes
    assert bundle.provenance["original_output"] == output
    w, b = _head_rows(bundle)
    lin = model.pointwise if tail == "pointwise_mean" else model.fc
    np.testing.assert_allclose(w, lin.weight.detach().numpy().reshape(3, -1), rtol=0, atol=1e-7)
    np.testing.assert_allclose(b, lin.bias.detach().numpy(), rtol=0, atol=1e-7)


@pytest.mark.parametrize("tail,why", [
    ("no_linear", "no linear layer at the end: the output comes from Slice"),
    ("mean_last", "no linear layer at the end: the output comes from Relu"),
    ("sum_of_two", "ambiguous head: Add"),
    ("two_outputs", "ambiguous head: the graph has 2 outputs (logits, extra)"),
    ("token_max", "ReduceMax"),
    ("per_token", "acts on a tensor of shape [2, 128, 6]"),
])
def test_refused_tails(tmp_path, tail, why):
    _, path = _export(tmp_path, tail)
    out = tmp_path / "b"
    with pytest.raises(OnnxImportError) as e:
        import_onnx(path, ["a", "b", "c"], out, PRE)
    assert why in str(e.value) and str(e.value).startswith(str(path)) and "\n" not in str(e.value)
    assert not out.exists() and not list(tmp_path.glob(".b*"))


def test_label_count_mismatch_refused(tmp_path):
    _, path = _export(tmp_path, "linear")
    with pytest.raises(OnnxImportError, match="the classifier has 3 outputs but 2 labels were given"):
        import_onnx(path, ["a", "b"], tmp_path / "b", PRE)


def test_preprocess_that_does_not_fit_the_input_refused(tmp_path):
    _, path = _export(tmp_path, "linear")
    wrong = Preprocess(num_frames=4, crop=8, resize=9)
    with pytest.raises(OnnxImportError, match=r"has shape \['batch', 3, 2, 8, 8\], but the preprocessing gives"):
        import_onnx(path, ["a", "b", "c"], tmp_path / "b", wrong)


def test_fixed_batch_of_one_is_kept_and_verified(tmp_path):
    """An export without dynamic axes has batch 1 baked in; the backbone keeps it, checked sample by sample."""
    _, path = _export(tmp_path, "linear", batch=1, dynamic=False)
    bundle = import_onnx(path, ["a", "b", "c"], tmp_path / "b", PRE)
    dims = onnx.load(str(bundle.backbone_path)).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_value == 1 and bundle.provenance["verify"]["samples"] == 2


def _handmade(tmp_path, transpose_b: bool) -> tuple[onnx.ModelProto, np.ndarray, np.ndarray]:
    """mean-pool -> MatMul(Transpose(W)) -> Add(b on the left) -> Softmax, or Gemm(transB=0, C [1, C]),
    the forms other exporters write."""
    rng = np.random.default_rng(1)
    w, b = rng.standard_normal((3, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    nodes = [helper.make_node("ReduceMean", ["video", "axes"], ["f"], keepdims=0)]
    inits = [numpy_helper.from_array(np.array([2, 3, 4], np.int64), "axes")]
    if transpose_b:
        inits += [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")]
        nodes += [helper.make_node("Transpose", ["W"], ["Wt"], perm=[1, 0]),
                  helper.make_node("MatMul", ["f", "Wt"], ["z"]), helper.make_node("Add", ["b", "z"], ["l"]),
                  helper.make_node("Softmax", ["l"], ["probs"], axis=-1)]
        out = "probs"
    else:
        inits += [numpy_helper.from_array(w.T.copy(), "W"), numpy_helper.from_array(b[None], "b")]
        nodes += [helper.make_node("Gemm", ["f", "W", "b"], ["logits"])]
        out = "logits"
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("video", TensorProto.FLOAT,
                                                                         ["n", 3, 2, 8, 8])],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["n", 3])], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), w, b


@pytest.mark.parametrize("transpose_b", [True, False], ids=["matmul-transpose-add-softmax", "gemm-transB0"])
def test_other_linear_forms_become_the_canonical_gemm(tmp_path, transpose_b):
    model, w, b = _handmade(tmp_path, transpose_b)
    save_onnx(model, tmp_path / "m.onnx")
    bundle = import_onnx(tmp_path / "m.onnx", ["a", "b", "c"], tmp_path / "b", PRE)
    got_w, got_b = _head_rows(bundle)
    np.testing.assert_array_equal(got_w, w)
    np.testing.assert_array_equal(got_b, b)
    assert bundle.provenance["original_output"] == ("probabilities" if transpose_b else "logits")


def test_external_data_outside_the_folder_refused_before_reading(tmp_path):
    model, _, _ = _handmade(tmp_path, transpose_b=False)
    for t in model.graph.initializer:
        if t.name == "W":
            t.data_location = TensorProto.EXTERNAL
            t.ClearField("raw_data")
            t.ClearField("float_data")
            t.external_data.add(key="location", value="../secret.bin")
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    with pytest.raises(OnnxImportError, match="leaves the model's folder"):
        import_onnx(tmp_path / "m.onnx", ["a", "b", "c"], tmp_path / "b", PRE)


def test_existing_output_needs_force(tmp_path):
    _, path = _export(tmp_path, "linear")
    first = import_onnx(path, ["a", "b", "c"], tmp_path / "b", PRE)
    with pytest.raises(OutputError, match="already exists"):
        import_onnx(path, ["x", "y", "z"], tmp_path / "b", PRE)
    assert load_bundle(tmp_path / "b").labels == first.labels
    assert import_onnx(path, ["x", "y", "z"], tmp_path / "b", PRE, force=True).labels == ["x", "y", "z"]


def test_default_preprocess_from_the_input_shape(tmp_path):
    _, path = _export(tmp_path, "linear")
    assert default_preprocess(load_onnx(path), str(path)) == Preprocess(num_frames=2, crop=8, resize=9)
    z = zoo.ZOO["videomae"]
    src = zoo.export_onnx(zoo.build("videomae")[0], z.preprocess, tmp_path / "v.onnx", dynamo=False)
    pre = default_preprocess(load_onnx(src), str(src))
    assert (pre.layout, pre.num_frames, pre.crop) == ("NTCHW", 4, 32)


# -- the command ------------------------------------------------------------------------------------
def test_import_command(tmp_path):
    _, path = _export(tmp_path, "linear")
    (tmp_path / "labels.txt").write_text("a\nb\n\nc\n")
    args = ["import", str(path), "--labels", str(tmp_path / "labels.txt"), "-o", str(tmp_path / "b"), "--json"]
    result = CliRunner().invoke(catsplit, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["labels"] == ["a", "b", "c"] and doc["preprocess"]["crop"] == 8

    pre = json.dumps({"num_frames": 2, "crop": 8, "resize": 12, "mean": [0.5] * 3, "std": [0.5] * 3})
    result = CliRunner().invoke(catsplit, args[:-1] + ["--preprocess", pre, "--force"])
    assert result.exit_code == 0, result.output
    assert load_bundle(tmp_path / "b").preprocess.resize == 12


@pytest.mark.parametrize("labels,extra,why", [
    ("a\nb\n", [], "the classifier has 3 outputs but 2 labels were given"),
    ("a\nb\na\n", [], "labels repeat"),
    ("a\nb\nc\n", ["--preprocess", "{\"layout\": \"NHWC\"}"], "--preprocess: bad preprocessing (layout must be"),
    ("a\nb\nc\n", ["--preprocess", "nope.json"], "nope.json"),
])
def test_import_command_bad_input_is_one_line(tmp_path, labels, extra, why):
    _, path = _export(tmp_path, "linear")
    (tmp_path / "labels.txt").write_text(labels)
    result = CliRunner().invoke(catsplit, ["import", str(path), "--labels", str(tmp_path / "labels.txt"),
                                           "-o", str(tmp_path / "b"), *extra])
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("catsplit: error: ") and why in lines[0], result.stderr
    assert not (tmp_path / "b").exists()
