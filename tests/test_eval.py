"""`catsplit eval`: an edit scored on a user's own clips, by the benchmark's own metrics (docs/method.md §6).

Two parts: the benchmark's numbers come out of `evaluate_edit` on mp4 files of the benchmark world's val
clips; and the command line (bad rows skipped and reported, a wrong ORIGINAL refused, --json, files).
"""
from __future__ import annotations

import csv
import sys
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from catsplit.compiler.compile import compile_split
from catsplit.compiler.evaluate import evaluate_edit
from catsplit.compiler.options import AlignConfig, SplitOptions
from catsplit.runtime.cli import catsplit
from edit_bundles import SPLIT, HashedBagOfWords, make_bundle
from videos import non_video, write_video

MODEL_A = Path(__file__).resolve().parents[1] / "models" / "bundles" / "ssv2_split_A_synth"
FAST = AlignConfig(max_epochs=3)
TARGET = "Pushing something"  # 9 subcategories


def _write_clips(world, truth, folder: Path, write) -> Path:
    """Each val clip as an mp4 written by `write(frames, path)`, listed with its truth in folder/clips.csv
    (csv quotes the labels that hold commas)."""
    folder.mkdir()
    with open(folder / "clips.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label"])
        for i, (ref, label) in enumerate(zip(world.val, truth)):
            write(world.splits.render(ref), folder / f"{i:03d}.mp4")
            w.writerow([f"{i:03d}.mp4", label])
    return folder / "clips.csv"


@pytest.mark.slow
def test_benchmark_numbers_come_out_of_eval_on_mp4s(tmp_path):
    """The benchmark world (model A, 2 val clips per fine label, views 1x1) and an MA split of TARGET made by
    compile_split; the benchmark scores it with benchmarks/edit_quality/run.py `evaluate` (its own rows and
    splice) on features of the rendered frames, eval on mp4 files of the same clips.

    Exact, where it can be: written losslessly (RGB H.264, qp 0) the mp4s decode to the rendered frames, so
    eval must give the benchmark's TargetScore and its per-clip predictions exactly. Within tolerance, where
    a user's files are: written by the world's own writer (H.264 4:2:0, crf 18, lossy) the features
    differ slightly; measured here, ~3% of these 56-pixel clips change a prediction. So: the predictions
    of both models agree for >= 95% of the clips, and each metric moves no more than the clips that
    flipped account for (one flipped clip of 18 already moves generality by 5.6 points).
    """
    from benchmarks.edit_quality import methods as M
    from benchmarks.edit_quality.data import head_session, load_world, run_head
    from benchmarks.edit_quality.run import evaluate
    from benchmarks.world.write_mp4 import write_mp4
    from catsplit.compiler.head import load_head
    from catsplit.compiler.metrics import label_predictions
    from catsplit.runtime.bundle import load_bundle

    world = load_world(MODEL_A, "A", (1, 1), [TARGET], n_train=1, n_val=2, cache=tmp_path / "cache")
    enc = HashedBagOfWords()
    bench = evaluate(world, M.BY_KEY["ma"], TARGET, 0, M.Rows(world, {"minilm": enc}, FAST))
    out = tmp_path / "edited"
    compile_split(MODEL_A, M.spec_of(world, TARGET), out, SplitOptions(text_encoder=enc, align=FAST, seed=0))
    edited = load_bundle(out)
    labels = world.bundle.labels
    pe, po = label_predictions(run_head(head_session(load_head(edited.head_path)), world.val_feats), edited.labels,
                               world.original, labels, labels.index(TARGET))
    truth, inside = world.truth(TARGET)
    assert inside.sum() == 18 and 0 < bench.correct < 18  # a partly right edit: the comparison can tell

    exact = evaluate_edit(MODEL_A, out, _write_clips(world, truth, tmp_path / "lossless",
                                                     lambda f, p: write_video(p, f, lossless=True)), provider="cpu")
    assert not exact.skipped and [c.truth for c in exact.clips] == truth
    assert exact.score == bench
    assert [c.edited for c in exact.clips] == list(pe) and [c.original for c in exact.clips] == list(po)
    assert exact.record.spec.split == TARGET and exact.record.method == "ma" and exact.record.seed == 0

    lossy = evaluate_edit(MODEL_A, out, _write_clips(world, truth, tmp_path / "lossy", write_mp4), provider="cpu")
    assert len(lossy.clips) == len(world.val) and not lossy.skipped
    flips_e = np.array([p != c.edited for p, c in zip(pe, lossy.clips)])
    flips_o = np.array([p != c.original for p, c in zip(po, lossy.clips)])
    assert flips_e.mean() <= 0.05 and flips_o.mean() <= 0.05, (flips_e.sum(), flips_o.sum())
    s, n_out = lossy.score, (~inside).sum()
    assert abs(bench.generality - s.generality) <= flips_e[inside].sum() / inside.sum() + 1e-12
    assert abs(bench.edited_acc - s.edited_acc) <= flips_e[~inside].sum() / n_out + 1e-12
    assert abs(bench.original_acc - s.original_acc) <= flips_o[~inside].sum() / n_out + 1e-12


# --- the command line, on the small hand-made bundles ---------------------------------------------

UP, DOWN = SPLIT["into"][0]["label"], SPLIT["into"][1]["label"]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    src = make_bundle(root / "src")
    compile_split(src.path, SPLIT, root / "edited", SplitOptions(text_encoder=HashedBagOfWords(), align=FAST))
    make_bundle(root / "other", seed=2)
    clips = root / "clips"
    clips.mkdir()
    colours = {"up0": (250, 20, 20), "up1": (230, 60, 30), "down0": (20, 40, 250), "push0": (30, 200, 40),
               "hold0": (120, 120, 120)}
    for name, rgb in colours.items():
        write_video(clips / f"{name}.mp4", np.broadcast_to(np.array(rgb, np.uint8), (8, 32, 32, 3)).copy())
    non_video(clips / "broken.mp4")
    return root


def _csv(root: Path, name: str, rows: list[str]) -> Path:
    path = root / name
    path.write_text("\n".join(["path,label", *rows]) + "\n")
    return path


def _eval(root: Path, *args: str, original: str = "src"):
    return CliRunner().invoke(catsplit, ["eval", str(root / original), str(root / "edited"), "--quiet", *args])


def test_cli_skips_bad_rows_and_evaluates_the_rest(bundles, tmp_path):
    csv = _csv(bundles, "mixed.csv", [
        f"clips/up0.mp4,{UP}", f"clips/up1.mp4,{UP}", f"clips/down0.mp4,{DOWN}",
        "clips/push0.mp4,Pushing something off the table", "clips/hold0.mp4,Holding something",
        f"clips/missing.mp4,{UP}",                 # row 6: no such file
        "clips/hold0.mp4,Moving something",        # row 7: c is not a label of the edited model
        f"clips/broken.mp4,{DOWN}",                # row 8: not a video
        "clips/up0.mp4"])                          # row 9: one field
    out = tmp_path / "report"
    res = _eval(bundles, "--clips", str(csv), "-o", str(out), "--json")
    assert res.exit_code == 1, res.output
    errors = res.stderr.splitlines()
    assert [line.split(": skipped row ")[1].split()[0].rstrip(":") for line in errors] == ["6", "7", "9", "8"]
    assert all(line.startswith(f"catsplit: error: {csv}: skipped row ") for line in errors)
    doc = json.loads(res.stdout)
    assert [s["row"] for s in doc["skipped"]] == [6, 7, 8, 9] and "does not exist" in doc["skipped"][0]["problem"]
    assert "not a label of" in doc["skipped"][1]["problem"] and doc["skipped"][2]["video"].endswith("broken.mp4")
    assert [c["row"] for c in doc["clips"]] == [1, 2, 3, 4, 5]
    assert doc["coarse"] == "Moving something" and doc["subcategories"] == [UP, DOWN]
    assert doc["generality_per_subcategory"][UP]["clips"] == 2 and doc["locality_clips"] == 2
    per = doc["generality_per_subcategory"]
    assert doc["generality"] == pytest.approx((per[UP]["correct"] + per[DOWN]["correct"]) / 3)
    assert doc["edit"]["method"] == "ma" and doc["edit"]["text_encoder"]["name"] == "hashed-bow-64"
    assert doc["edit"]["seed"] == 0
    conf = doc["confusion"]
    assert conf["columns"][:2] == [UP, DOWN] and conf["columns"][-1] == "(other)"
    assert [sum(r) for r in conf["counts"][:2]] == [2, 1]  # every subcategory clip counted once
    assert {c["path"] for c in doc["changed"]} == {c["path"] for c in doc["clips"] if c["original"] != c["edited"]}
    # the unmasked original gives c to none of the subcategory clips here or to some: either way counted right
    assert 0 <= doc["coarse_hits"] <= 3
    assert sorted(p.name for p in out.iterdir()) == ["eval.json", "eval.md", "eval.png"]
    assert json.loads((out / "eval.json").read_text()) == doc
    assert (out / "eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "eval.md").read_text()
    assert "| generality (pooled) |" in md and "## Skipped rows (4)" in md


def test_cli_markdown_by_default_and_force_replaces_only_a_report(bundles, tmp_path):
    csv = _csv(bundles, "good.csv", [f"clips/up0.mp4,{UP}", f"clips/down0.mp4,{DOWN}", "clips/hold0.mp4,Holding something"])
    out = tmp_path / "report"
    res = _eval(bundles, "--clips", str(csv), "-o", str(out))
    assert res.exit_code == 0 and res.stderr == "", res.stderr
    assert res.stdout == (out / "eval.md").read_text() and res.stdout.startswith("# Edit 1 of ")
    assert _eval(bundles, "--clips", str(csv), "-o", str(out)).exit_code == 2  # exists, no --force
    assert _eval(bundles, "--clips", str(csv), "-o", str(out), "--force").exit_code == 0
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep")
    res = _eval(bundles, "--clips", str(csv), "-o", str(tmp_path / "other"), "--force")
    assert res.exit_code == 2 and "not a catsplit eval report" in res.stderr
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep"


def test_a_different_backbone_runs_both(bundles, tmp_path):
    """EDITED with another backbone file (as after re-exporting it): each clip goes through both backbones,
    and the edited model's predictions are its own (top-1 of `catsplit run`; it has no c to mask)."""
    from catsplit.runtime.bundle import Bundle, load_bundle, write_bundle
    from catsplit.runtime.session import Runtime
    from edit_bundles import backbone

    edited = load_bundle(bundles / "edited")
    sources = {rel: edited.path / rel for rel in edited.files}
    sources["backbone.onnx"] = backbone(seed=5).SerializeToString()
    other = write_bundle(Bundle(**{**edited.__dict__, "files": {}}), tmp_path / "rebacked", sources)
    assert other.files["backbone.onnx"] != edited.files["backbone.onnx"]
    csv = _csv(bundles, "three.csv", [f"clips/up0.mp4,{UP}", f"clips/down0.mp4,{DOWN}", "clips/hold0.mp4,Holding something"])
    rep = evaluate_edit(bundles / "src", other.path, csv, provider="cpu")
    run = Runtime(other.path, provider="cpu").classify([c.path for c in rep.clips], top_k=1)
    assert [c.edited for c in rep.clips] == [p.top_k[0][0] for p in run]
    shared = evaluate_edit(bundles / "src", bundles / "edited", csv, provider="cpu")
    assert [c.original for c in rep.clips] == [c.original for c in shared.clips]
    assert [c.edited for c in rep.clips] != [c.edited for c in shared.clips]  # the other backbone did run


def _one_line(res) -> str:
    assert res.exit_code == 2, res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("catsplit: error: "), res.stderr
    return lines[0]


def test_cli_refuses_an_original_the_edit_was_not_made_from(bundles, tmp_path):
    csv = _csv(bundles, "one.csv", [f"clips/up0.mp4,{UP}"])
    for wrong in ("other", "edited"):
        line = _one_line(_eval(bundles, "--clips", str(csv), "-o", str(tmp_path / wrong), original=wrong))
        assert f"{bundles / wrong}: is not the bundle" in line and "last edit (edit 1)" in line
        assert not (tmp_path / wrong).exists()


def test_cli_without_a_usable_row_is_one_line_and_writes_nothing(bundles, tmp_path):
    csv = _csv(bundles, "bad.csv", [f"clips/missing.mp4,{UP}", f"clips/broken.mp4,{DOWN}"])
    res = _eval(bundles, "--clips", str(csv), "-o", str(tmp_path / "r"))
    assert res.exit_code == 2 and res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 3 and lines[-1] == f"catsplit: error: {csv}: no usable clip (2 row(s) skipped)"
    assert not (tmp_path / "r").exists()


def test_without_matplotlib_the_png_is_left_out_with_a_note(bundles, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as on an install without catsplit[bench]
    csv = _csv(bundles, "two.csv", [f"clips/up0.mp4,{UP}", f"clips/down0.mp4,{DOWN}"])
    res = _eval(bundles, "--clips", str(csv), "-o", str(tmp_path / "r"))
    assert res.exit_code == 0, res.output
    assert res.stderr.startswith("catsplit: note: eval.png left out: matplotlib is not installed")
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["eval.json", "eval.md"]
