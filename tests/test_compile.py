"""compile_split and the CLI end to end: outputs, records, sequences of edits, undo, bad input."""
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from catsplit.compiler.cli import compile_cmd, edits
from catsplit.compiler.compile import compile_split
from catsplit.compiler.options import SplitOptions
from catsplit.runtime import load_bundle
from catsplit.runtime.session import Runtime
from edit_bundles import DIM, LABELS, SPLIT, HashedBagOfWords, logits, make_bundle, write_spec
from videos import normal_video

BOW = HashedBagOfWords()


@pytest.fixture
def src(tmp_path):
    return make_bundle(tmp_path / "src")


@pytest.mark.parametrize("mode", ["flat", "hierarchical"])
def test_ma_edit_writes_a_verified_bundle_that_the_runtime_runs(src, tmp_path, mode):
    out = tmp_path / "out"
    rep = compile_split(src.path, SPLIT, out, SplitOptions(method="ma", mode=mode, text_encoder=BOW, seed=3))
    new = load_bundle(out)
    assert new.labels == [y for y in LABELS if y != "Moving something"] + ["Moving something up",
                                                                          "Moving something down"]
    assert new.files["backbone.onnx"] == src.files["backbone.onnx"]
    assert (out / "backbone.onnx").stat().st_ino == (src.path / "backbone.onnx").stat().st_ino  # hard link
    assert new.groups["Moving something"] == ["Moving something up", "Moving something down"]
    rec = new.edits[-1]
    assert (rec["n"], rec["method"], rec["mode"], rec["seed"]) == (1, "ma", mode, 3)
    assert rec["text_encoder"] == {"name": BOW.name, "sha256": BOW.sha256}
    assert rec["previous"]["sha256"] == src.files["head.onnx"] and rec["timings"]["total"] > 0
    assert rep.to_json()["sources"][0]["modifier"] == "upwards"
    x = np.random.default_rng(0).standard_normal((32, DIM)).astype(np.float32)
    z0, z1 = logits(src.head_path, x), logits(new.head_path, x)
    assert np.array_equal(z1[:, :-2].view(np.int32), np.delete(z0, LABELS.index("Moving something"), 1).view(np.int32))
    pred = Runtime(out, provider="cpu").classify([normal_video(tmp_path / "v.mp4")], top_k=len(new.labels))[0]
    assert pred.error is None and {lab for lab, _ in pred.top_k} == set(new.labels)


def test_sequence_of_edits_and_undo_byte_for_byte(src, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    compile_split(src.path, SPLIT, a, SplitOptions(method="ma", mode="hierarchical", text_encoder=BOW))
    spec2 = {"split": "Moving something up", "into": [{"label": "Moving something up slowly"},
                                                      {"label": "Moving something up quickly"}]}
    compile_split(a, spec2, b, SplitOptions(method="mr", mode="flat", text_encoder=BOW, bias_offset=-0.5))
    rec = load_bundle(b).edits
    assert [r["n"] for r in rec] == [1, 2] and rec[1]["bias_offset"] == -0.5
    assert rec[1]["sources"][0]["entry"]  # MR learnt from the first edit's subcategories too
    runner = CliRunner()
    listed = runner.invoke(edits, [str(b), "--json"])
    assert listed.exit_code == 0 and [e["split"] for e in json.loads(listed.output)] == [
        "Moving something", "Moving something up"]
    assert runner.invoke(edits, ["undo", str(b), "-o", str(c)]).exit_code == 0
    assert (c / "head.onnx").read_bytes() == (a / "head.onnx").read_bytes()
    assert load_bundle(c).labels == load_bundle(a).labels
    r = runner.invoke(edits, ["undo", str(c), "-o", str(tmp_path / "d")])
    assert r.exit_code == 0, r.output
    d = load_bundle(tmp_path / "d")
    assert (d.path / "head.onnx").read_bytes() == src.head_path.read_bytes()
    assert (d.labels, d.groups, d.modifiers, d.edits) == (src.labels, src.groups, src.modifiers, [])
    assert set(d.files) == {"backbone.onnx", "head.onnx"}
    r = runner.invoke(edits, ["undo", str(d.path), "-o", str(tmp_path / "e")])
    assert r.exit_code != 0 and "no edits to undo" in r.output and not (tmp_path / "e").exists()


def test_hierarchical_temperature_divides_the_rows_and_is_recorded(src, tmp_path):
    """The rows share c's probability at the temperature: the same MR rows at T = 1 and at the default
    differ by exactly that factor, every other logit is bit-identical, and the record keeps it."""
    from catsplit.compiler.options import HIER_TEMPERATURE

    heads = {}
    for t in (1.0, None):
        out = tmp_path / f"t{t}"
        compile_split(src.path, SPLIT, out, SplitOptions(method="mr", mode="hierarchical", temperature=t,
                                                         text_encoder=BOW))
        heads[t] = load_bundle(out)
        assert heads[t].edits[-1]["temperature"] == (t or HIER_TEMPERATURE)
    x = np.random.default_rng(1).standard_normal((64, DIM)).astype(np.float32)
    one, default = logits(heads[1.0].head_path, x), logits(heads[None].head_path, x)
    np.testing.assert_array_equal(one[:, :-2], default[:, :-2])
    c = LABELS.index("Moving something")
    zc = logits(src.head_path, x)[:, c]
    sub = lambda z: z[:, -2:] - zc[:, None]  # noqa: E731  log_softmax of the rows / T
    np.testing.assert_allclose(np.exp(sub(one)).sum(1), 1, rtol=1e-5)
    np.testing.assert_allclose(np.exp(sub(default)).sum(1), 1, rtol=1e-5)
    gap1, gap_t = np.diff(sub(one), axis=1), np.diff(sub(default), axis=1)
    np.testing.assert_allclose(gap_t, gap1 / HIER_TEMPERATURE, rtol=1e-4, atol=1e-4)
    compile_split(src.path, SPLIT, tmp_path / "flat", SplitOptions(method="mr", text_encoder=BOW))
    assert "temperature" not in load_bundle(tmp_path / "flat").edits[-1]


def test_ma_with_mr_is_the_mean_of_the_two_methods_rows(src):
    """--ma-with-mr: each row is the mean of MA's (here rescaled) row and MR's row for that subcategory; the
    record and the sources say so."""
    import dataclasses

    from catsplit.compiler.compile import EditTarget, edit_rows
    from catsplit.compiler.groups import resolve_groups
    from catsplit.compiler.head import load_head, read_rows
    from catsplit.compiler.options import AlignConfig
    from catsplit.compiler.spec import parse_spec

    head = load_head(src.head_path)
    w, b = read_rows(head)
    c = LABELS.index("Moving something")
    target = EditTarget(src, parse_spec(SPLIT, "spec"), head, w, b, c, resolve_groups(src))
    ma = SplitOptions(method="ma", text_encoder=BOW, seed=2, align=AlignConfig(max_epochs=20, rescale=True))
    both = edit_rows(target, dataclasses.replace(ma, align=dataclasses.replace(ma.align, with_mr=True)))
    alone, mr = edit_rows(target, ma), edit_rows(target, SplitOptions(method="mr", text_encoder=BOW))
    np.testing.assert_allclose(both.w, (alone.w + mr.w) / 2, rtol=1e-6, atol=1e-7)
    assert not np.allclose(alone.w, mr.w)
    assert both.alignment.with_mr and not alone.alignment.with_mr
    assert [s.entry for s in both.sources] == [s.entry for s in mr.sources] and all(
        s.origin.endswith("g(phi(modifier))) / 2") for s in both.sources)


def test_the_help_states_the_temperature_default():
    from catsplit.compiler.options import HIER_TEMPERATURE

    # cli.py keeps its imports light for --help, so it writes the value out; this keeps the two in step
    help_text = CliRunner().invoke(compile_cmd, ["--help"]).output
    assert re.search(rf"\[default:\s+{re.escape(str(HIER_TEMPERATURE))}\]", help_text), help_text


def _no_groups(tmp_path):
    return make_bundle(tmp_path / "nogroups", groups=None)


BAD = {
    "coarse label missing": ({"split": "Flying", "into": [{"label": "a"}, {"label": "b"}]}, [], "is not a label"),
    "subcategory exists": ({"split": "Moving something", "into": [{"label": "Holding something"}, {"label": "b"}]},
                           [], "already is a label"),
    "subcategory repeats": ({"split": "Moving something", "into": [{"label": "a"}, {"label": "a"}]}, [], "repeats"),
    "one subcategory": ({"split": "Moving something", "into": [{"label": "a"}]}, [], "at least 2"),
    "empty spec": ("", [], "is empty"),
    "malformed spec": ("{\"split\": ", [], "not valid JSON"),
    "wrong keys": ({"split": "Moving something", "intoo": []}, [], "unknown key"),
    "no group with 2 rows": (SPLIT, ["--groups", "GROUPS1"], "no group with 2 or more labels"),
    "bias offset in hierarchical": (SPLIT, ["--mode", "hierarchical", "--bias-offset", "1"], "no effect"),
    "shots with unknown label": (SPLIT, ["--shots", "SHOTS"], "not a subcategory"),
    "temperature in flat mode": (SPLIT, ["--hier-temperature", "0.5"], "hierarchical mode only"),
    "temperature zero": (SPLIT, ["--mode", "hierarchical", "--hier-temperature", "0"], "--hier-temperature"),
    "MA flag with MR rows": (SPLIT, ["--method", "mr", "--ma-with-mr"], "--ma-with-mr changes MA's rows"),
    "MA flag with a coarse start": (SPLIT, ["--shots", "SHOTS", "--init", "coarse", "--ma-rescale"],
                                    "--ma-rescale changes MA's rows"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_writes_nothing(src, tmp_path, case):
    spec, extra, message = BAD[case]
    (tmp_path / "g1.json").write_text(json.dumps({"Tearing something": ["Tearing something into two pieces"]}))
    (tmp_path / "shots.csv").write_text("v.mp4,Moving sideways\n")
    normal_video(tmp_path / "v.mp4")
    extra = [{"GROUPS1": str(tmp_path / "g1.json"), "SHOTS": str(tmp_path / "shots.csv")}.get(e, e) for e in extra]
    out = tmp_path / "out"
    r = CliRunner().invoke(compile_cmd, [str(src.path), "--spec", str(write_spec(tmp_path / "s.json", spec)),
                                         "-o", str(out), *extra])
    assert r.exit_code != 0 and not out.exists()
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("catsplit: error: ") and message in lines[0], r.output


def test_bundle_without_groups_suggests_propose(tmp_path):
    b = _no_groups(tmp_path)
    r = CliRunner().invoke(compile_cmd, [str(b.path), "--spec", str(write_spec(tmp_path / "s.json")),
                                         "-o", str(tmp_path / "out")])
    assert r.exit_code != 0 and "catsplit groups propose" in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_existing_output_needs_force(src, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = [str(src.path), "--spec", str(write_spec(tmp_path / "s.json")), "-o", str(out), "--method", "mr"]
    r = CliRunner().invoke(compile_cmd, args)
    assert r.exit_code != 0 and "already exists" in r.output and (out / "keep.txt").read_text() == "mine"


def test_cli_compiles_with_the_builtin_text_encoder(src, tmp_path, minilm):
    out = tmp_path / "out"
    r = CliRunner().invoke(compile_cmd, [str(src.path), "--spec", str(write_spec(tmp_path / "s.json")), "-o",
                                         str(out), "--method", "mr", "--mode", "hierarchical", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["method"] == "mr" and doc["text_encoder"]["name"] == "minilm" and doc["seed"] == 0
    assert [s["label"] for s in doc["sources"]] == ["Moving something up", "Moving something down"]
    assert all(-1 <= s["score"] <= 1 and s["entry"] for s in doc["sources"])
    assert load_bundle(out).edits[0]["sources"] == doc["sources"]
