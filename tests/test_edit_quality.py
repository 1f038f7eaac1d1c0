"""Edit-quality benchmark: docs/method.md §6 metrics on hand-made numbers, and a tiny end-to-end run of the
harness on a real (tiny) bundle of the rendered world: one target, one val clip per label."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from benchmarks.edit_quality import methods as M
from benchmarks.edit_quality.bench import run_benchmark, write_results
from catsplit.compiler.metrics import TargetScore, generality, locality, masked_probs, predictions, \
    score_target, summary
from catsplit.compiler.options import ShotConfig
from catsplit.compiler.options import AlignConfig


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_masked_probs_zero_the_coarse_class_renormalise_then_average_views():
    z = np.array([[[5.0, 1.0, 0.0], [5.0, 0.0, 2.0]]])  # 1 video, 2 views, c = 0 dominates both views
    p = masked_probs(z, mask=0)
    per_view = [softmax(np.array([1.0, 0.0])), softmax(np.array([0.0, 2.0]))]
    want = np.concatenate([[0.0], (per_view[0] + per_view[1]) / 2])
    np.testing.assert_allclose(p[0], want, atol=1e-12)
    assert p[0, 0] == 0 and predictions(z, 0)[0] == 2  # view averaging picks label 2, not label 1
    assert predictions(z)[0] == 0                       # unmasked, c wins


def test_flat_scoring_with_c_masked_equals_the_spliced_head_without_c():
    rng = np.random.default_rng(0)
    with_c = rng.standard_normal((4, 3, 6)) * 3     # old rows incl. c (column 2) then new rows
    without_c = np.delete(with_c, 2, axis=-1)
    np.testing.assert_allclose(np.delete(masked_probs(with_c, 2), 2, axis=1), masked_probs(without_c), atol=1e-12)


def test_score_target_counts_only_new_labels_and_masks_c_for_both_models():
    orig_labels = ["c", "x", "y"]
    edited_labels = ["x", "y", "s1", "s2"]
    # clips: two of the target (s1, s2), two others (x, y)
    truth = ["s1", "s2", "x", "y"]
    inside = np.array([True, True, False, False])
    edited = np.log(np.array([[[.1, .1, .7, .1]], [[.7, .1, .1, .1]], [[.1, .1, .1, .7]], [[.1, .7, .1, .1]]]))
    original = np.log(np.array([[[.8, .1, .1]], [[.8, .1, .1]], [[.9, .08, .02]], [[.9, .02, .08]]]))
    s = score_target("c", ["s1", "s2"], edited_labels, orig_labels, 0, edited, original, truth, inside)
    assert (s.correct, s.clips) == (1, 2)  # clip 2 went to old label x: wrong
    assert s.original_acc == 1.0           # c masked: the original gets x and y right
    assert s.edited_acc == 0.5             # x clip went to s2
    assert s.locality == 0.5 and s.generality == 0.5


def test_generality_pooled_locality_averaged_and_sample_std_over_seeds():
    a = TargetScore("a", 3, 4, 0.9, 1.0)
    b = TargetScore("b", 1, 2, 0.5, 0.5)
    assert generality([a, b]) == pytest.approx(4 / 6)       # pooled, not (0.75 + 0.5) / 2
    assert locality([a, b]) == pytest.approx((0.9 + 1.0) / 2)
    s = summary([[a, b], [TargetScore("a", 4, 4, 1.0, 1.0), TargetScore("b", 2, 2, 0.5, 0.5)]])
    g = np.array([4 / 6, 1.0]) * 100
    assert s["generality"] == pytest.approx((g.mean(), np.std(g, ddof=1)))
    assert s["mean"][0] == pytest.approx(((g + np.array([95.0, 100.0])) / 2).mean())


FAST = AlignConfig(max_epochs=15)  # MA as the compiler trains it, fewer epochs
TARGET = "Pushing something"  # model A's whole-model fine-tuning target too


@pytest.fixture(scope="module")
def tiny_world_bundle(tmp_path_factory):
    """Model A's label space on an untrained CatNet, its head fitted (least squares) to one val clip per
    label so that the original model is right on them; exported with the real export_bundle."""
    from benchmarks.edit_quality.data import features
    from benchmarks.world.labels import class_of, label_space, rendered_groups
    from benchmarks.world.splits import PREPROCESS, WorldSplits
    from catsplit.models.catnet import Backbone, catnet_s
    from catsplit.models.export import export_bundle
    from catsplit.runtime import Runtime

    root = tmp_path_factory.mktemp("eq")
    labels = label_space("A")
    torch.manual_seed(0)
    net = catnet_s(0)
    dim = net.num_features
    backbone = Backbone(net).eval()
    prov = {"splits": {"seed": 0, "n_train": 2, "n_val": 1}}
    first = export_bundle(backbone, nn.Linear(dim, len(labels)), labels, PREPROCESS, root / "random")
    splits = WorldSplits(0, 2, 1)
    val = splits.clips("val")
    x = features(Runtime(first, provider="cpu"), splits, val, (1, 1), None)[:, 0]
    y = np.eye(len(labels))[[labels.index(class_of("A")[r.label]) for r in val]] * 10
    xa = np.hstack([x, np.ones((len(x), 1))])
    sol = np.linalg.lstsq(xa, y, rcond=None)[0]
    head = nn.Linear(dim, len(labels))
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(sol[:-1].T.astype(np.float32)))
        head.bias.copy_(torch.from_numpy(sol[-1].astype(np.float32)))
    return export_bundle(backbone, head, labels, PREPROCESS, root / "A", groups=rendered_groups(), provenance=prov)


def test_end_to_end_on_a_tiny_bundle(tiny_world_bundle, minilm, tmp_path):
    keys = ["coarse", "text", "mr", "ma", "ma_hier", "shot_ma", "ma_randtext", "full_model"]
    doc = run_benchmark({"A": tiny_world_bundle.path}, seeds=(0, 1), methods=keys, views=(1, 1),
                        targets=[TARGET], full_n_val=1, cache=tmp_path / "cache", command="test", align=FAST,
                        full_config=ShotConfig(max_epochs=3))
    info = doc["models"]["A"]
    assert info["targets"] == [TARGET] and info["k"] == {TARGET: 9} and info["val_clips"] == 96
    assert info["original_top1"] == 100.0
    assert set(info["methods"]) == set(keys)
    for key, entry in info["methods"].items():
        assert set(entry["seeds"]) == {"0", "1"}
        for scores in entry["seeds"].values():
            (s,) = scores
            assert s["target"] == TARGET and s["clips"] == 9 and 0 <= s["correct"] <= 9
            assert 0 <= s["edited_acc"] <= 1 and s["original_acc"] == 1.0
    hier = info["methods"]["ma_hier"]["seeds"]["0"][0]
    assert hier["edited_acc"] == 1.0  # hierarchical: every clip the original did not put in c keeps its label
    note = info["methods"]["full_model"]["note"]
    assert note.startswith("subset: targets Pushing something") and "at most 3 epochs" in note
    # features are cached: a second run reads them back (keyed by backbone sha256, world seed, split)
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(cached) == 2 and all(tiny_world_bundle.files["backbone.onnx"][:16] in n for n in cached)
    out = write_results(doc, tmp_path / "res" / "edit_quality.md")
    md = out[0].read_text()
    assert "SSv2-Split (paper)" in md and "SSv2-Split-Synth (ours)" in md and "| MA (hierarchical) |" in md
    assert json.loads(out[1].read_text())["meta"]["command"] == "test"
    assert out[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the CLI re-renders the same tables from the JSON alone
    from click.testing import CliRunner

    from benchmarks.edit_quality.__main__ import main
    again = tmp_path / "again" / "edit_quality.md"
    res = CliRunner().invoke(main, ["--from-json", str(out[1]), "--out", str(again)])
    assert res.exit_code == 0, res.output
    assert again.read_text() == md


def test_shared_zero_shot_rows_equal_one_edit_rows_call(tiny_world_bundle, minilm, tmp_path):
    """The harness computes MA rows once and reuses them; that must equal what edit_rows gives for each
    method on its own (mode, bias offset, hierarchical temperature, one-shot training from MA init)."""
    from benchmarks.edit_quality.data import load_world
    from catsplit.compiler.compile import EditTarget, Shots, edit_rows
    from catsplit.compiler.groups import resolve_groups
    from catsplit.compiler.options import SplitOptions

    world = load_world(tiny_world_bundle.path, "A", (1, 1), [TARGET], cache=tmp_path)
    rows = M.Rows(world, {"minilm": minilm}, FAST)
    spec = M.spec_of(world, TARGET)
    c = world.bundle.labels.index(TARGET)
    groups = resolve_groups(world.bundle)
    for key in ("ma_hier", "ma_hier_t1", "ma_bias-1", "shot_ma", "shot_ma_hier", "shot_ma_hier_t1"):
        m = M.BY_KEY[key]
        shots = Shots(*M.shots_of(world, TARGET, 1, m.shots)) if m.shots else None
        new = edit_rows(EditTarget(world.bundle, spec, world.head, world.w, world.b, c, groups),
                        SplitOptions("ma", m.mode, "ma", 1, m.bias_offset, m.temperature, minilm, FAST), shots)
        want = new.w, new.b
        got = rows(m, TARGET, 1)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_unlabelled_and_ensemble_rows_equal_one_edit_rows_call(tiny_world_bundle, minilm, tmp_path):
    """The harness's unlabelled rows (refined and/or calibrated on the deploy pool) and averaged maps are
    what edit_rows gives with that pool and that ensemble."""
    import dataclasses

    from benchmarks.edit_quality.data import load_world
    from catsplit.compiler.compile import EditTarget, Pool, Shots, edit_rows
    from catsplit.compiler.groups import resolve_groups
    from catsplit.compiler.options import SplitOptions, UnlabelledConfig

    world = load_world(tiny_world_bundle.path, "A", (1, 1), [TARGET], cache=tmp_path, n_deploy=2)
    assert len(world.deploy) == 2 * len(world.splits.world.fine_labels()) and world.deploy_feats.shape[1] > 0
    rows = M.Rows(world, {"minilm": minilm}, FAST)
    spec, c = M.spec_of(world, TARGET), world.bundle.labels.index(TARGET)
    target = EditTarget(world.bundle, spec, world.head, world.w, world.b, c, resolve_groups(world.bundle))
    for key in ("ma_cal8", "ma_ref8", "ma_hier_ref48", "ma_ens5", "shot_ma_cal48", "ma_rescale_cal48", "ma_mr_ref48",
                "ma_mr"):
        m = dataclasses.replace(M.BY_KEY[key], unlabelled=2 if M.BY_KEY[key].unlabelled else 0)
        pool = Pool.of(world.head, world.unlabelled(2)) if m.unlabelled else None
        shots = Shots(*M.shots_of(world, TARGET, 1, m.shots)) if m.shots else None
        options = SplitOptions("ma", m.mode, "ma" if shots else None, seed=1, text_encoder=minilm,
                               align=dataclasses.replace(FAST, ensemble=m.ensemble, rescale=m.rescale,
                                                         with_mr=m.with_mr),
                               unlabelled=UnlabelledConfig(refine=m.refine))
        want = edit_rows(target, options, shots, pool=pool)
        if shots is not None:
            assert want.lowshot.negatives > 0  # the pool's other-label clips
        got = rows(m, TARGET, 1)
        np.testing.assert_array_equal(got[0], want.w)
        np.testing.assert_array_equal(got[1], want.b)
        assert (want.unlabelled is not None) == bool(m.unlabelled)
    from benchmarks.edit_quality.clusters import cluster_purity

    (info,) = cluster_purity(world).values()   # the diagnostic beside these rows, on the same pool
    assert info["k"] == 9 and info["inside"] <= info["called_c"] <= len(world.deploy)
    assert info["called_c"] > info["k"] and 0 < info["purity"] <= 1


def test_bootstrap_gap_is_paired_over_targets():
    from benchmarks.edit_quality.report import bootstrap_gap

    def entry(correct):
        return {"seeds": {"0": [{"target": f"t{i}", "correct": k, "clips": 10, "edited_acc": 1.0, "original_acc": 1.0}
                                for i, k in enumerate(correct)]}}

    doc = {"models": {"A": {"methods": {"a": entry([5, 6, 7, 8]), "b": entry([4, 5, 6, 7]), "c": entry([8, 5, 2, 9])}}}}
    assert bootstrap_gap(doc, "A", "a", "b") == pytest.approx((10.0, 10.0, 10.0))  # the same gap on every target
    gap, lo, hi = bootstrap_gap(doc, "A", "a", "c")
    assert gap == pytest.approx(5.0) and lo < gap < hi
    assert bootstrap_gap(doc, "A", "a", "missing") is None


def test_purity_counts_each_clusters_most_common_label():
    from benchmarks.edit_quality.clusters import purity

    assert purity(np.array([0, 0, 1, 1]), ["a", "a", "a", "b"]) == 0.75
    assert purity(np.array([0, 1, 2, 3]), ["a", "a", "b", "b"]) == 1.0


def test_kmeans_finds_separated_blobs_and_not_labels_the_features_ignore():
    from benchmarks.edit_quality.clusters import kmeans, purity

    rng = np.random.default_rng(1)
    blob = np.repeat(np.arange(3), 40)
    z = rng.normal(size=(120, 8)) + 6.0 * np.eye(8)[blob]
    assign = kmeans(z, 3, np.random.default_rng(0))
    assert purity(assign, list(blob)) == 1.0
    shuffled = list(rng.permutation(blob))  # labels unrelated to where the clips lie
    assert purity(assign, shuffled) < 0.6
