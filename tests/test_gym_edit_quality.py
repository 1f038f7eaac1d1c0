"""The edit-quality benchmark on FineGym-Split-Synth (`--world gym`), on a tiny world and bundle: two
split targets of the real gym world, an untrained CatNet whose head is fitted to one val clip per label."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import torch
from torch import nn

from benchmarks.edit_quality.bench import run_benchmark, write_results
from benchmarks.gym.labels import WORLD
from catsplit.compiler.ma import AlignConfig

TARGET = "(FX) arabian double salto"   # model A's target: tucked / piked


def tiny_bundle(root):
    from benchmarks.edit_quality.data import features
    from benchmarks.world.splits import WorldSplits
    from catsplit.models.catnet import Backbone, catnet_s
    from catsplit.models.export import export_bundle
    from catsplit.runtime import Runtime

    world = dataclasses.replace(WORLD, groups_a=(TARGET, "(UB) transition flight"),
                                groups_b=("(VT) handspring forward on", "(BB) salto sideward tucked"), singletons=())
    labels = world.label_space("A")
    torch.manual_seed(0)
    backbone = Backbone(catnet_s(0)).eval()
    dim = backbone.net.num_features
    prov = {"world": "gym", "splits": {"seed": 0, "n_train": 1, "n_val": 1}}
    first = export_bundle(backbone, nn.Linear(dim, len(labels)), labels, world.preprocess, root / "random")
    splits = WorldSplits(0, 1, 1, world)
    val = splits.clips("val")
    x = features(Runtime(first, provider="cpu"), splits, val, (1, 1), None)[:, 0]
    y = np.eye(len(labels))[[labels.index(world.class_of("A")[r.label]) for r in val]] * 10
    sol = np.linalg.lstsq(np.hstack([x, np.ones((len(x), 1))]), y, rcond=None)[0]
    head = nn.Linear(dim, len(labels))
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(sol[:-1].T.astype(np.float32)))
        head.bias.copy_(torch.from_numpy(sol[-1].astype(np.float32)))
    bundle = export_bundle(backbone, head, labels, world.preprocess, root / "A", groups=world.rendered_groups(),
                           provenance=prov)
    return world, bundle


def test_world_gym_path_on_a_tiny_world(tmp_path, minilm):
    world, bundle = tiny_bundle(tmp_path)
    keys = ["coarse", "mr", "ma", "ma_hier"]
    doc = run_benchmark({"A": bundle.path}, seeds=(0,), methods=keys, views=(1, 1), targets=[TARGET],
                        cache=tmp_path / "cache", command="test", align=AlignConfig(max_epochs=10), world=world)
    assert doc["meta"]["world"] == "gym" and doc["meta"]["scheme"] == "authors"
    info = doc["models"]["A"]
    assert info["targets"] == [TARGET] and info["k"] == {TARGET: 2} and info["original_top1"] == 100.0
    for key in keys:
        (s,) = info["methods"][key]["seeds"]["0"]
        assert s["clips"] == 2 and 0 <= s["correct"] <= 2 and s["original_acc"] == 1.0
    assert info["methods"]["ma_hier"]["seeds"]["0"][0]["edited_acc"] == 1.0
    out = write_results(doc, tmp_path / "res" / "edit_quality.md")
    assert [p.name for p in out] == ["edit_quality.md", "edit_quality_gym.json", "edit_quality_gym.png"]
    md = out[0].read_text()
    assert "# Edit quality on FineGym-Split-Synth" in md and "FineGym-Split (paper)" in md
    assert "| MA (flat) |" in md and "34.2 | 97.8" in md and "shape" in md     # kinds from the parser
    assert json.loads(out[1].read_text())["meta"]["world"] == "gym"
