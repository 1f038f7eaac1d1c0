"""The shipped bundles and an edit of model A, through the runtime alone (numpy, PyAV, onnxruntime, click).

`make test-floor` runs this module on the oldest onnxruntime the runtime declares: the shipped files and
what the compiler writes must load and give the same answers there.
"""
from __future__ import annotations

import csv
import json

import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner

from benchmarks.world.labels import class_of
from catsplit.runtime import Runtime, load_bundle
from catsplit.runtime.cli import run
from catsplit.runtime.session import CPU, CUDA, ProviderError
from tests.runtime_fixtures import MODEL_A, MODEL_B, SAMPLES, TARGET, provider_here


@pytest.fixture(scope="module")
def samples() -> list[dict[str, str]]:
    with open(SAMPLES / "clips.csv", newline="") as f:
        return [{**row, "path": str(SAMPLES / row["path"])} for row in csv.DictReader(f)]


def _run_json(bundle, videos: list[str]) -> dict[str, dict]:
    result = CliRunner().invoke(run, [str(bundle), *videos, "--top-k", "1", "--json", "--provider", "cpu"])
    assert result.exit_code == 0, result.output
    return {d["video"]: d["top_k"][0] for d in map(json.loads, result.stdout.splitlines())}


def test_the_writers_ir_and_opset_caps_load_on_this_onnxruntime(runtime_fixtures):
    so = ort.SessionOptions()
    so.log_severity_level = 4
    session = ort.InferenceSession(str(runtime_fixtures / "caps.onnx"), so, providers=["CPUExecutionProvider"])
    x = np.array([[-1.0, 0.0, 2.0, -3.0]], np.float32)
    np.testing.assert_array_equal(session.run(None, {"x": x})[0], np.maximum(x, 0))


def test_model_a_on_the_shipped_mp4_samples_gives_the_reported_accuracy(samples):
    expected = json.loads((SAMPLES / "expected.json").read_text())
    preds = Runtime(MODEL_A, provider="cpu", threads=1).classify([r["path"] for r in samples], top_k=1)
    assert all(p.error is None for p in preds)
    hits = [p.top_k[0][0] == class_of("A")[r["label"]] for p, r in zip(preds, samples)]
    assert abs(sum(hits) - expected["model_A_correct"]) <= 1      # float noise may flip one borderline clip
    assert np.mean(hits) >= 0.7


def test_model_b_loads_and_answers_in_its_own_label_space(samples):
    rt = Runtime(MODEL_B, provider="cpu")
    preds = rt.classify([r["path"] for r in samples[:4]], top_k=3)
    assert all(p.error is None and {lab for lab, _ in p.top_k} <= set(load_bundle(MODEL_B).labels) for p in preds)


def test_the_hierarchical_edit_changes_only_the_split_label(runtime_fixtures, samples):
    """Through `catsplit run`: rows other than the split one are untouched, so every other prediction
    keeps its label and probability; the split label's mass goes to its subcategories."""
    edited = load_bundle(runtime_fixtures / "edited")
    videos = [r["path"] for r in samples]
    before, after = _run_json(MODEL_A, videos), _run_json(edited.path, videos)
    assert TARGET not in edited.labels and len(edited.labels) == 66
    for video in videos:
        if before[video]["label"] == TARGET:
            assert after[video]["label"] in edited.groups[TARGET] + edited.labels
            assert after[video]["prob"] <= before[video]["prob"] + 1e-6
        else:
            assert after[video]["label"] == before[video]["label"]
            assert after[video]["prob"] == pytest.approx(before[video]["prob"], abs=1e-5)


def test_the_provider_reported_is_the_one_this_machine_runs(samples):
    """auto: CUDA exactly where onnxruntime has it and it starts (CPU on a machine without a GPU, even
    with onnxruntime-gpu installed); cuda: refused in one line where it does not start."""
    here = provider_here()
    auto = Runtime(MODEL_A, provider="auto")
    assert auto.provider == here
    with pytest.raises(ProviderError, match="unknown provider 'tpu'"):
        Runtime(MODEL_A, provider="tpu")
    if here == CPU:
        with pytest.raises(ProviderError, match="the CUDA execution provider does not start here"):
            Runtime(MODEL_A, provider="cuda")
        return
    rt = Runtime(MODEL_A, provider="cuda")
    assert rt.provider == CUDA
    videos = [r["path"] for r in samples[:3]]
    for gpu, cpu in zip(rt.classify(videos), Runtime(MODEL_A, provider="cpu").classify(videos)):
        assert gpu.top_k[0][0] == cpu.top_k[0][0]
        np.testing.assert_allclose([p for _, p in gpu.top_k], [p for _, p in cpu.top_k], atol=1e-4)
