"""The latency harness end to end on the tiny model (--quick): every section and number is there."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.flops import count_flops
from tests.tiny_bundle import PRE, backbone_bytes

REPO = Path(__file__).resolve().parents[1]


def test_flops_of_a_conv3d_backbone():
    """tiny_bundle's backbone: Conv3d(3 -> 8, k=3, stride 2, pad 1) on 8 x 32 x 32 -> 8 x 4 x 16 x 16 outputs."""
    import onnx

    model = onnx.load_from_string(backbone_bytes())
    macs = 8 * 4 * 16 * 16 * 3 * 27  # output elements x (C_in x kernel volume)
    for batch in (1, 3):
        got = count_flops(model, batch=batch)
        assert got == {"flops": 2 * macs * batch, "macs": macs * batch, "by_op": {"Conv": 2 * macs * batch}}
    assert PRE.input_shape(1) == (1, 3, 8, 32, 32)


@pytest.mark.slow
def test_quick_run_writes_results(tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.latency", "--quick", "--threads", "1",
                           "--work", str(tmp_path / "work"), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads((out / "latency.json").read_text())
    assert res["machine"]["threads"] == 1 and res["quick"] is True
    tiny = res["models"]["tiny"]
    assert tiny["flops"]["flops"] > 0
    for engine in ("runtime", "onnx", "torch"):
        b1 = tiny[engine]["batch1"]
        assert 0 < b1["p50_ms"] <= b1["p95_ms"] and b1["n"] == 8
        assert tiny[engine]["batch8"]["clips_per_s"] > 0 and tiny[engine]["rss_peak_mib"] > 0
    assert "torch" not in tiny["runtime"]["provider"] and tiny["torch"]["provider"].startswith("torch")
    assert tiny["onnx"]["rss_peak_mib"] < tiny["torch"]["rss_peak_mib"]  # onnxruntime workers never load torch
    swap = tiny["runtime"]["swap"]
    assert swap["swap_dir"]["p50_ms"] > 0 and swap["reload"]["p50_ms"] > 0
    assert "nothing to quantise" in tiny["int8"]["dynamic"]["error"]  # a CNN: no MatMul for dynamic mode
    assert 0 <= tiny["int8"]["static"]["agreement"]["top1_agreement"] <= 1
    folder = tiny["folder"]
    assert folder["clips"] == 8 and folder["overlapped"]["clips_per_s"] > 0 and folder["decode"]["p50_ms"] > 0
    assert res["gemm"]["onnxruntime"]["gflops"] > 0 and res["gemm"]["numpy"]["gflops"] > 0
    md = (out / "latency.md").read_text()
    for section in ("## Machine limit", "## CPU", "## Head swap", "## Decoding and folder", "## int8",
                    "## GPU", "## Targets", "--quick"):
        assert section in md
    if not res["cuda"]["available"]:
        assert "not measured (no CUDA GPU in this run)" in md
    assert md.count("| tiny |") >= 5  # swap, folder, int8 x2, targets
    assert (out / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
