"""int8 (dynamic, static) and fp16 bundles: what changes, what is recorded, what is refused."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from catsplit.models.quantize import QuantizeError, calibration_videos, quantize_bundle
from catsplit.runtime import Runtime
from catsplit.runtime.bundle import Preprocess, load_bundle, sha256_file
from catsplit.runtime.output import OutputError
from tests.tiny_bundle import head_bytes, make_bundle, onnx_bytes
from tests.videos import normal_video

PRE = Preprocess(num_frames=8, crop=32, resize=36)
DIM, LABELS = 32, ["walk", "run", "jump", "sit", "wave"]


class SmallNet(nn.Module):
    """RGB stem (stays float), a 16-channel conv and a Linear: something for every int8 mode."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv3d(3, 16, 3, stride=(1, 2, 2), padding=1)
        self.conv = nn.Conv3d(16, 32, 3, stride=2, padding=1)
        self.fc = nn.Linear(32, DIM)

    def forward(self, x):
        x = torch.relu(self.conv(torch.relu(self.stem(x))))
        return torch.relu(self.fc(x.mean(dim=(2, 3, 4))))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("quantize")
    torch.manual_seed(0)
    backbone = onnx_bytes(SmallNet().eval(), torch.zeros(PRE.input_shape(2)))
    return make_bundle(root / "fp32", LABELS, PRE, backbone=backbone, head=head_bytes(len(LABELS), DIM, scale=20.0),
                       dim=DIM)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("calib")
    for i in range(4):
        normal_video(root / f"c{i}.mp4", n=16 + 4 * i)
    return root


def _ops(path: Path) -> set[str]:
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def _logits(bundle_dir: Path, x: np.ndarray) -> np.ndarray:
    rt = Runtime(bundle_dir, provider="cpu", threads=1)
    return rt.logits(rt.features(x))


@pytest.mark.parametrize("mode,int8_ops", [("dynamic", {"MatMulInteger", "DynamicQuantizeLinear"}),
                                           ("static", {"QuantizeLinear", "DequantizeLinear"})])
def test_int8_bundle(bundle, clips, tmp_path, mode, int8_ops):
    out = quantize_bundle(bundle.path, tmp_path / mode, mode=mode, calib=clips)
    assert int8_ops <= _ops(out.backbone_path)
    q = out.provenance["quantization"]
    assert out.provenance["precision"] == "int8" and q["mode"] == mode
    assert q["source_backbone_sha256"] == bundle.files["backbone.onnx"]
    assert q["check"]["clips"] == 4 and 0.0 <= q["check"]["top1_agreement"] <= 1.0
    # The head, labels and preprocessing are the source's; the backbone is new and smaller-typed.
    assert out.files["head.onnx"] == bundle.files["head.onnx"]
    assert out.labels == bundle.labels and out.preprocess == bundle.preprocess
    assert out.files["backbone.onnx"] != bundle.files["backbone.onnx"]
    loaded = load_bundle(out.path)  # checksums hold
    x = np.random.default_rng(0).standard_normal((6, *PRE.input_shape(1)[1:])).astype(np.float32)
    ref, got = _logits(bundle.path, x), _logits(loaded.path, x)
    assert got.dtype == np.float32 and got.shape == ref.shape
    assert np.corrcoef(ref.ravel(), got.ravel())[0, 1] > 0.98  # close to fp32, yet not identical
    assert not np.array_equal(ref, got)


def test_static_keeps_the_rgb_stem_float(bundle, clips, tmp_path):
    out = quantize_bundle(bundle.path, tmp_path / "s", mode="static", calib=clips)
    model = onnx.load(str(out.backbone_path))
    produced_by = {o: n for n in model.graph.node for o in n.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    weights_quantized = [produced_by.get(c.input[1]) is not None and produced_by[c.input[1]].op_type
                         == "DequantizeLinear" for c in convs]
    assert weights_quantized == [False, True]


def test_fp16_bundle_keeps_float32_io(bundle, tmp_path):
    out = quantize_bundle(bundle.path, tmp_path / "h", mode="fp16")
    model = onnx.load(str(out.backbone_path))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    assert out.provenance["precision"] == "fp16"
    check = out.provenance["quantization"]["check"]
    assert "top1_agreement" in check or "skipped" in check


def test_calibration_csv_with_header_and_relative_paths(clips, tmp_path):
    csv = clips / "list.csv"
    csv.write_text("path,label\nc0.mp4,a\nc2.mp4,b\n")
    assert calibration_videos(csv) == [clips / "c0.mp4", clips / "c2.mp4"]


def test_refusals_write_nothing(bundle, clips, tmp_path):
    with pytest.raises(QuantizeError, match="needs calibration clips"):
        quantize_bundle(bundle.path, tmp_path / "a", mode="static")
    conv_only = make_bundle(tmp_path / "conv_only")  # tiny_bundle: one 3-channel Conv3d, no MatMul
    with pytest.raises(QuantizeError, match="nothing to quantise"):
        quantize_bundle(conv_only.path, tmp_path / "b", mode="dynamic")
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text(f"{clips / 'c0.mp4'}\nmissing.mp4\n")  # absolute paths are kept as they are
    with pytest.raises(QuantizeError, match="missing.mp4"):
        quantize_bundle(bundle.path, tmp_path / "c", mode="static", calib=bad_csv)
    with pytest.raises(QuantizeError, match="unknown mode"):
        quantize_bundle(bundle.path, tmp_path / "d", mode="int4")
    (tmp_path / "e").mkdir()
    with pytest.raises(OutputError, match="already exists"):
        quantize_bundle(bundle.path, tmp_path / "e", mode="fp16")
    int8 = quantize_bundle(bundle.path, tmp_path / "f", mode="dynamic")
    with pytest.raises(QuantizeError, match="already int8"):
        quantize_bundle(int8.path, tmp_path / "g", mode="static", calib=clips)
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["bad.csv", "conv_only", "e", "f"]


def test_cli(bundle, clips, tmp_path):
    cmd = [str(Path(sys.executable).with_name("catsplit"))]
    ok = subprocess.run([*cmd, "quantize", str(bundle.path), "-o", str(tmp_path / "q"), "--mode", "static",
                         "--calib", str(clips), "--json"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["provenance"]["quantization"]["mode"] == "static" and Path(doc["path"]) == tmp_path / "q"
    bad = subprocess.run([*cmd, "quantize", str(bundle.path), "-o", str(tmp_path / "r"), "--mode", "static"],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and bad.stderr.startswith("catsplit: error: ")
    assert not (tmp_path / "r").exists()


def _cuda_works() -> bool:
    """onnxruntime's CUDA provider really starts here (compiled in is not enough)."""
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False
    ort.set_default_logger_severity(4)
    try:
        sess = ort.InferenceSession(head_bytes(2, 4), providers=["CUDAExecutionProvider"])
        return sess.get_providers()[0] == "CUDAExecutionProvider"
    except Exception:
        return False
    finally:
        ort.set_default_logger_severity(2)


@pytest.mark.skipif(not _cuda_works(), reason="needs a CUDA GPU with onnxruntime's CUDA provider")
def test_fp16_bundle_on_cuda_matches_fp32_on_cpu(bundle, tmp_path):
    out = quantize_bundle(bundle.path, tmp_path / "h", mode="fp16")
    x = np.random.default_rng(0).standard_normal((4, *PRE.input_shape(1)[1:])).astype(np.float32)
    rt = Runtime(out.path, provider="cuda")
    assert rt.provider == "CUDAExecutionProvider"
    got = rt._logits_of_views(x)[0]  # the IO-binding path: features stay on the GPU
    np.testing.assert_allclose(got, _logits(bundle.path, x), rtol=2e-2, atol=2e-2)
    assert sha256_file(out.head_path) == bundle.files["head.onnx"]
