"""The committed FineGym-Split-Synth bundles: they load (every file's sha256 checked), carry the world's
label space, group scheme and provenance, and classify their shipped sample mp4s through catsplit-run."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from benchmarks.gym.labels import WORLD
from benchmarks.world.splits import WorldSplits
from benchmarks.world.write_mp4 import read_index, sample_refs
from catsplit.runtime.bundle import load_bundle

SAMPLES = WORLD.bundle("A").parent / "finegym_samples"


@pytest.mark.parametrize("model", ["A", "B"])
def test_bundle_carries_the_gym_label_space_and_its_provenance(model):
    b = load_bundle(WORLD.bundle(model))
    assert b.labels == WORLD.label_space(model)
    assert b.groups == WORLD.rendered_groups()
    assert b.preprocess == WORLD.preprocess
    assert b.provenance["world"] == "gym" and f"--model {model}" in b.provenance["training_command"]
    assert "--world gym" in b.provenance["training_command"] and b.provenance["val_top1"] >= 0.3


def test_shipped_samples_are_model_a_targets():
    rows = read_index(SAMPLES / "clips.csv")
    assert [(r["label"], r["split"], r["index"]) for r in rows] == \
        [(c.label, c.split, c.index) for c in sample_refs(WorldSplits(world=WORLD), per_target=1)]
    assert {WORLD.class_of("A")[r["label"]] for r in rows} == set(WORLD.groups_a)


def test_catsplit_run_classifies_the_shipped_samples_as_reported():
    from catsplit.runtime.cli import run

    rows = read_index(SAMPLES / "clips.csv")
    expected = json.loads((SAMPLES / "expected.json").read_text())
    res = CliRunner().invoke(run, [str(WORLD.bundle("A")), *[r["path"] for r in rows], "--top-k", "1", "--json",
                                   "--threads", "1"])
    assert res.exit_code == 0, res.output
    top1 = {p["video"]: p["top_k"][0]["label"] for p in map(json.loads, res.stdout.splitlines())}
    assert set(top1) == {r["path"] for r in rows}
    hits = sum(top1[r["path"]] == WORLD.class_of("A")[r["label"]] for r in rows)
    assert abs(hits - expected["model_A_correct"]) <= 1   # float noise may flip a borderline clip
    assert hits >= len(rows) // 2
