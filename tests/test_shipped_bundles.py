"""The committed SSv2-Split-Synth bundles: schema, provenance, and that they classify rendered clips (their
accuracy on the shipped mp4 samples, through the runtime alone, is in test_shipped_runtime.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.world.labels import GROUPS_A, class_of, label_space, rendered_groups
from benchmarks.world.splits import PREPROCESS, WorldSplits, frame_arrays
from benchmarks.world.write_mp4 import read_index, sample_refs
from catsplit.runtime import Runtime
from catsplit.runtime.bundle import load_bundle
from catsplit.runtime.video import preprocess_clip

BUNDLES = Path(__file__).resolve().parents[1] / "models" / "bundles"
SAMPLES = BUNDLES / "samples"


def bundle_dir(model: str) -> Path:
    return BUNDLES / f"ssv2_split_{model}_synth"


@pytest.mark.parametrize("model", ["A", "B"])
def test_bundle_carries_the_world_label_space_and_its_provenance(model):
    b = load_bundle(bundle_dir(model))                       # verifies every file's sha256
    assert b.labels == label_space(model)
    assert b.groups == rendered_groups()
    assert b.preprocess == PREPROCESS
    assert f"--model {model}" in b.provenance["training_command"]
    assert b.provenance["seed"] == 0 and b.provenance["val_top1"] >= 0.5


def test_shipped_samples_are_model_a_targets_with_their_fine_labels():
    rows = read_index(SAMPLES / "clips.csv")
    assert [(r["label"], r["split"], r["index"]) for r in rows] == \
        [(c.label, c.split, c.index) for c in sample_refs(WorldSplits())]
    assert {class_of("A")[r["label"]] for r in rows} == set(GROUPS_A)
    assert all(Path(r["path"]).is_file() for r in rows)


def test_model_b_classifies_rendered_arrays_it_never_saw():
    """Fresh val clips (index 15 of the shipped split, first label of each A group, fine in B)."""
    splits = WorldSplits(seed=0)
    refs = [c for g in GROUPS_A for c in splits.clips("val", rendered_groups()[g][:1])[15:16]]
    x = np.concatenate([preprocess_clip(f, PREPROCESS) for f in frame_arrays(splits, refs)])
    rt = Runtime(bundle_dir("B"), provider="cpu", threads=1)
    pred = np.asarray(rt.labels)[rt.logits(rt.features(x)).argmax(axis=1)]
    assert np.mean(pred == [r.label for r in refs]) >= 0.6
