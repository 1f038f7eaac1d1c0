"""Group schemes, derived modifier texts and proposed schemes, on the real SSv2 labels and SSv2-Split's
published group scheme."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from catsplit.compiler.errors import CompileError
from catsplit.compiler.groups import check_scheme, derive_modifier, load_scheme, modifiers, resolve_groups
from catsplit.compiler.propose import pairwise_agreement, propose_groups
from catsplit.runtime.bundle import Bundle, Preprocess, write_bundle

DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "world" / "data"  # copies of shared/data
SCHEME_FILE = DATA / "ssv2_split_group_scheme.json"
SCHEME = json.loads(SCHEME_FILE.read_text())["group_scheme"]
LABELS = [y.strip() for y in (DATA / "ssv2_labels.txt").read_text().splitlines() if y.strip()]


@pytest.mark.parametrize("label, group, expected", [
    ("Pushing something from left to right", "Pushing something", "from left to right"),
    ("Putting something behind something", "Putting something with spatial relation", "behind something"),
    ("Pretending to put something underneath something", "Pretending to put something with spatial relation",
     "underneath something"),
    ("Lifting something up completely, then letting it drop down", "Lifting something up completely",
     "then letting it drop down"),
    ("Putting something on the edge of something so it is not supported and falls down",
     "Putting something on a surface or onto something",
     "on the edge of something so it is not supported and falls down"),  # "on" stays with the modifier
    ("Putting something on a surface", "Putting something on a surface or onto something", "on a surface"),
    ("Lifting a surface with something on it until it starts sliding down", "Lifting a surface with something on it",
     "until it starts sliding down"),
    ("Tipping something over", "Tipping something over and Tipping something with something in it over, so "
     "something in it falls out", "over"),
    ("Something falling like a rock", "Something falling", "like a rock"),
    ("Closing something", "Closing something and Opening something", "Closing something"),
    ("Moving something up", "Moving something", "up"),
])
def test_derive_modifier_on_ssv2(label, group, expected):
    assert derive_modifier(label, group, [y for y in SCHEME[group] if y != label]) == expected


def test_modifiers_of_all_ssv2_groups():
    mods = modifiers(SCHEME)
    assert len(mods) == 174 == len(set(LABELS)) and set(mods) == set(LABELS)
    for name, members in SCHEME.items():
        texts = [mods[y] for y in members]
        assert len(set(texts)) == len(texts), name  # a modifier tells the group's labels apart
        for y, m in zip(members, texts):
            assert m and y.endswith(m), (y, m)  # the label's own trailing words
    assert sum(mods[y] != y for y in LABELS) >= 110  # most labels lose a shared base (measured: 117)


def test_overrides_win():
    mods = modifiers(SCHEME, overrides={"Pushing something so it spins": "so it rotates"})
    assert mods["Pushing something so it spins"] == "so it rotates"
    assert mods["Pushing something with something"] == "with something"


def test_load_scheme_formats(tmp_path):
    assert load_scheme(SCHEME_FILE) == SCHEME  # the data file's {"group_scheme": ...}
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"Pushing something": SCHEME["Pushing something"]}))
    assert list(load_scheme(plain)) == ["Pushing something"]
    bundle_json = tmp_path / "bundle.json"
    bundle_json.write_text(json.dumps({"schema": "catsplit.bundle", "groups": SCHEME}))
    assert load_scheme(bundle_json) == SCHEME


@pytest.mark.parametrize("doc, problem", [
    ({}, "non-empty JSON object"),
    ([["a", "b"]], "non-empty JSON object"),
    ({"g": []}, "one or more label strings"),
    ({"g": ["a", 3]}, "one or more label strings"),
    ({"g": ["a", "b"], "h": ["b"]}, "in both 'g' and 'h'"),
    ({"g": ["a", "a"]}, "listed twice"),
])
def test_bad_schemes(doc, problem):
    with pytest.raises(CompileError, match=problem):
        check_scheme(doc, "groups.json")


def make_bundle(tmp_path: Path, labels, groups=None, name="b") -> Path:
    """A bundle for label-level commands (its ONNX files are never opened by them)."""
    b = Bundle(path=tmp_path / name, labels=list(labels), feature_dim=4,
               preprocess=Preprocess(num_frames=2, crop=8, resize=8), files={}, groups=groups)
    write_bundle(b, tmp_path / name, {"backbone.onnx": b"", "head.onnx": b""})
    return tmp_path / name


def test_resolve_groups(tmp_path):
    split_a = json.loads((DATA / "ssv2_split_A_labels.json").read_text())
    with_groups = make_bundle(tmp_path, split_a, SCHEME, "a")
    assert resolve_groups(with_groups) == SCHEME
    plain = tmp_path / "g.json"
    plain.write_text(json.dumps({"Pushing something": SCHEME["Pushing something"]}))
    assert list(resolve_groups(with_groups, plain)) == ["Pushing something"]
    without = make_bundle(tmp_path, split_a, None, "n")
    with pytest.raises(CompileError, match="no group scheme.*catsplit groups propose"):
        resolve_groups(without)
    assert resolve_groups(without, SCHEME_FILE) == SCHEME
    other = make_bundle(tmp_path, ["walking", "running"], None, "o")
    with pytest.raises(CompileError, match="names none of the labels"):
        resolve_groups(other, SCHEME_FILE)


def test_propose_by_shared_words_only():
    scheme = propose_groups(LABELS)
    assert sorted(y for ms in scheme.values() for y in ms) == sorted(LABELS)
    assert scheme["Pushing something"] == SCHEME["Pushing something"]
    assert scheme["Pretending to put something"] == SCHEME["Pretending to put something with spatial relation"]
    agreement = pairwise_agreement(scheme, SCHEME)
    assert agreement["f1"] >= 0.65  # measured 0.698 (precision 0.868, recall 0.584)


def test_propose_with_embeddings(minilm):
    scheme = propose_groups(LABELS, minilm)
    assert sorted(y for ms in scheme.values() for y in ms) == sorted(LABELS)
    group_of = {y: name for name, ms in scheme.items() for y in ms}
    # joined by text similarity, no shared leading words:
    assert group_of["Squeezing something"] == group_of["Pretending to squeeze something"]
    assert group_of["Turning something upside down"] == group_of["Pretending to turn something upside down"]
    agreement = pairwise_agreement(scheme, SCHEME)
    assert agreement["f1"] >= 0.72  # measured 0.741 (precision 0.783, recall 0.704)
    assert agreement["f1"] > pairwise_agreement(propose_groups(LABELS), SCHEME)["f1"]


def test_cli_propose_and_show(tmp_path, minilm):
    from catsplit.compiler.cli import groups

    bundle = make_bundle(tmp_path, [y for y in LABELS if y.startswith(("Pu", "Pretending", "Squeez"))])
    out = tmp_path / "scheme.json"
    runner = CliRunner()
    res = runner.invoke(groups, ["propose", str(bundle), "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    printed = json.loads(res.stdout)
    assert load_scheme(out) == printed["group_scheme"]
    assert printed["modifiers"]["Pushing something from left to right"] == "from left to right"
    res = runner.invoke(groups, ["propose", str(bundle), "-o", str(out), "--no-embeddings"])
    assert res.exit_code != 0 and "already exists" in res.stderr and res.stderr.count("\n") == 1
    res = runner.invoke(groups, ["show", str(bundle), "--groups", str(out)])
    assert res.exit_code == 0 and "    Pushing something from left to right  [from left to right]" in res.stdout
    res = runner.invoke(groups, ["show", str(bundle)])
    assert res.exit_code != 0 and res.stderr.startswith("catsplit: error: ") and "groups propose" in res.stderr
    res = runner.invoke(groups, ["propose", str(tmp_path / "missing")])
    assert res.exit_code != 0 and res.stderr.startswith("catsplit: error: ") and res.stderr.count("\n") == 1
