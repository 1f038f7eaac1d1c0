"""Issue 4's acceptance on the shipped default: split a subset-A target of model A with MR and MA, flat
and hierarchical, through `catsplit-compile`, then classify the shipped mp4 clips with `catsplit-run`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.world.write_mp4 import read_index
from catsplit.compiler.cli import compile_cmd
from catsplit.runtime.bundle import load_bundle
from catsplit.runtime.cli import run

BUNDLES = Path(__file__).resolve().parents[1] / "models" / "bundles"
MODEL_A = BUNDLES / "ssv2_split_A_synth"
SAMPLES = BUNDLES / "samples"
TARGET = "Showing something with spatial relation"


def _classify(bundle: Path, videos: list[str]) -> dict[str, tuple[str, float]]:
    result = CliRunner().invoke(run, [str(bundle), *videos, "--top-k", "1", "--json", "--provider", "cpu"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return {r["video"]: (r["top_k"][0]["label"], r["top_k"][0]["prob"]) for r in rows}


@pytest.fixture(scope="module")
def original():
    videos = [str(SAMPLES / r["path"]) for r in read_index(SAMPLES / "clips.csv")]
    return videos, _classify(MODEL_A, videos)


@pytest.mark.parametrize("method", ["mr", "ma"])
@pytest.mark.parametrize("mode", ["flat", "hierarchical"])
def test_split_model_a_and_run_its_clips(minilm, tmp_path, original, method, mode):
    bundle = load_bundle(MODEL_A)
    subs = bundle.groups[TARGET]
    spec = tmp_path / "split.json"
    spec.write_text(json.dumps({"split": TARGET, "into": [{"label": s} for s in subs]}))
    out = tmp_path / "edited"
    result = CliRunner().invoke(compile_cmd, [str(MODEL_A), "--spec", str(spec), "-o", str(out),
                                              "--method", method, "--mode", mode, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["method"] == method and report["mode"] == mode
    assert [s["label"] for s in report["sources"]] == subs
    if method == "mr":  # each subcategory borrowed a different dictionary modifier
        entries = [s["entry"] for s in report["sources"]]
        assert len(set(entries)) == len(subs) and all(e in bundle.labels for e in entries)

    edited = load_bundle(out)
    assert edited.files["backbone.onnx"] == bundle.files["backbone.onnx"]
    assert TARGET not in edited.labels and edited.labels[-len(subs):] == subs

    videos, before = original
    after = _classify(out, videos)
    for video in videos:
        label, prob = before[video]
        new_label, new_prob = after[video]
        assert new_label in edited.labels
        if mode != "hierarchical":
            continue
        if label == TARGET:  # the subcategories share c's mass, so nothing can now exceed p(c)
            assert new_prob <= prob + 1e-6
        else:  # every other prediction is untouched
            assert new_label == label and new_prob == pytest.approx(prob, abs=1e-5)
