"""Unlabelled clips (docs/method.md §8): calibration, refinement, the pool readers and compile --unlabelled."""
import json

import dataclasses

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from catsplit.compiler.calibrate import calibrate
from catsplit.compiler.cli import compile_cmd, features_cmd
from catsplit.compiler.compile import compile_split
from catsplit.compiler.errors import CompileError
from catsplit.compiler.lowshot import head_logits
from catsplit.compiler.options import RefineConfig, SplitOptions, UnlabelledConfig
from catsplit.compiler.refine import balance, refine_rows
from catsplit.compiler.unlabelled import read_unlabelled, save_features
from catsplit.runtime import load_bundle
from edit_bundles import LABELS, SPLIT, HashedBagOfWords, make_bundle, write_spec
from videos import write_video

BOW = HashedBagOfWords()
C = LABELS.index(SPLIT["split"])


def _pool(rng, n=400, c=2, classes=6, dim=8):
    """Original logits [n, classes] and features [n, dim] of a made-up pool."""
    return rng.normal(size=(n, classes)) * 2, rng.normal(size=(n, dim))


@pytest.mark.parametrize("target", [0.9, 0.995, 1.0])
def test_calibration_takes_the_largest_offset_that_keeps_the_target(target):
    rng = np.random.default_rng(0)
    original, feats = _pool(rng)
    w, b = rng.normal(size=(3, 8)), np.zeros(3)
    cal = calibrate(original, feats, 2, w, b, target)
    pred = original.argmax(1)
    others = pred != 2

    def kept(offset):
        new = (feats @ w.T + b + offset).max(1)
        return float((new[others] < original[others, pred[others]]).mean())

    assert cal.locality == pytest.approx(kept(cal.offset)) and cal.locality >= target
    assert kept(cal.offset + 1e-3) < target or kept(cal.offset + 1e-3) == cal.locality < 1.0
    assert cal.others == others.sum() and cal.coarse == (~others).sum()
    rest = np.delete(original, 2, axis=1)[~others].max(1)
    assert cal.capture == pytest.approx(float(((feats @ w.T).max(1)[~others] + cal.offset > rest).mean()))


def test_calibration_needs_clips_of_other_labels():
    original = np.zeros((5, 4))
    original[:, 1] = 1
    with pytest.raises(CompileError, match="clips of other labels"):
        calibrate(original, np.ones((5, 3)), 1, np.ones((2, 3)), np.zeros(2))


def test_balanced_assignment_spreads_mass_evenly():
    logq = np.array([[5.0, 0.0], [4.0, 0.0], [3.0, 0.0], [0.0, 1.0]])
    q, log_v = balance(logq, 200)
    assert np.allclose(q.sum(1), 1.0) and np.allclose(q.sum(0), 2.0, atol=1e-3)
    assert q[:, 0].argmax() == 0 and q[3, 1] > 0.5 and log_v[1] > log_v[0]


def _clusters(tilt):
    """Three clusters of non-negative features, and rows only weakly tilted towards their own cluster."""
    rng = np.random.default_rng(1)
    centres = np.abs(rng.normal(size=(3, 32))) * 2
    truth = np.repeat(np.arange(3), 60)
    feats = np.abs(centres[truth] + rng.normal(size=(180, 32)))
    w0 = np.stack([0.02 * feats.mean(0) + tilt * (c - centres.mean(0)) for c in centres])
    return feats, truth, w0 + rng.normal(scale=0.03, size=w0.shape), np.zeros(3)


def test_refinement_finds_the_clusters_the_rows_roughly_point_at():
    feats, truth, w0, b0 = _clusters(0.01)
    before = float(((feats @ w0.T + b0).argmax(1) == truth).mean())
    fit = refine_rows(feats, w0, b0, RefineConfig())
    after = float(((feats @ fit.w.T + fit.b).argmax(1) == truth).mean())
    assert before < 0.7 and after > 0.9
    assert fit.clips == 180 and fit.moved == pytest.approx(float(
        ((feats @ fit.w.T + fit.b).argmax(1) != (feats @ w0.T).argmax(1)).mean()))


def test_refined_rows_are_the_last_assignment_in_closed_form():
    """The rows' argmax over the clips is the final (balanced) assignment's: each subcategory near n / k."""
    feats, _, w0, b0 = _clusters(0.01)
    fit = refine_rows(feats, w0, b0, RefineConfig())
    counts = np.bincount((feats @ fit.w.T + fit.b).argmax(1), minlength=3)
    assert counts.min() >= 45 and counts.max() <= 75


def test_refinement_leaves_too_few_clips_alone():
    w0, b0 = np.ones((3, 4)), np.zeros(3)
    fit = refine_rows(np.ones((5, 4)), w0, b0, RefineConfig(min_clips=2))
    assert fit.rounds == 0 and np.array_equal(fit.w, w0)


# --- compile --unlabelled on a small bundle ---------------------------------------------------------

@pytest.fixture
def src(tmp_path):
    return make_bundle(tmp_path / "src")


@pytest.fixture
def clips(tmp_path):
    """A folder of 24 plain-colour clips (the small bundle's backbone sees the mean colour), and a CSV of
    them whose label column is nonsense: no label may be read."""
    folder = tmp_path / "pool"
    folder.mkdir()
    rng = np.random.default_rng(2)
    lines = ["path,label"]
    for i in range(24):
        frames = np.broadcast_to(rng.integers(0, 256, 3).astype(np.uint8), (8, 32, 32, 3)).copy()
        write_video(folder / f"c{i:02d}.mp4", frames)
        lines.append(f"pool/c{i:02d}.mp4,not a label {i}")
    (tmp_path / "pool.csv").write_text("\n".join(lines) + "\n")
    return folder


def _edit(src, out, unlabelled, mode="flat", **kw):
    options = SplitOptions(method="ma", mode=mode, text_encoder=BOW, unlabelled=UnlabelledConfig(**kw))
    return compile_split(src.path, SPLIT, out, options, unlabelled=unlabelled)


def test_flat_edit_keeps_the_pools_other_predictions(src, clips, tmp_path):
    rep = _edit(src, tmp_path / "out", clips, locality_target=1.0)
    u = rep.record.unlabelled
    feats = read_unlabelled(src, clips)
    edited = load_bundle(tmp_path / "out")
    pred = head_logits(onnx.load(src.head_path), feats).argmax(1)
    others = pred != C
    labels_after = [edited.labels[i] for i in head_logits(onnx.load(edited.head_path), feats).argmax(1)]
    kept = np.mean([LABELS[p] == y for p, y, o in zip(pred, labels_after, others) if o])
    assert u.clips == 24 and u.called_coarse == int((~others).sum()) and u.locality_target == 1.0
    assert kept == 1.0 == u.pool_locality
    doc = json.loads((tmp_path / "out" / "bundle.json").read_text())["edits"][-1]["unlabelled"]
    assert doc["offset"] == u.offset and doc["refined"] is True


def test_csv_folder_and_feature_file_give_the_same_head(src, clips, tmp_path):
    a = _edit(src, tmp_path / "a", clips)
    b = _edit(src, tmp_path / "b", tmp_path / "pool.csv")
    res = CliRunner().invoke(features_cmd, [str(src.path), str(clips), "-o", str(tmp_path / "f.npz")])
    assert res.exit_code == 0, res.output
    c = _edit(src, tmp_path / "c", tmp_path / "f.npz")
    heads = [(p / "head.onnx").read_bytes() for p in (a.bundle, b.bundle, c.bundle)]
    assert heads[0] == heads[1] == heads[2]


def test_hierarchical_edit_is_refined_but_not_shifted(src, clips, tmp_path):
    u = _edit(src, tmp_path / "out", clips, mode="hierarchical").record.unlabelled
    assert u.offset == 0.0 and u.pool_locality is None


def test_bad_unlabelled_input_is_one_line_and_writes_nothing(src, clips, tmp_path):
    other = dataclasses.replace(src, files={**src.files, "backbone.onnx": "0" * 64})
    save_features(tmp_path / "other.npz", np.ones((3, 16), np.float32), other)
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    spec = write_spec(tmp_path / "spec.json")
    cases = {str(tmp_path / "other.npz"): "another backbone", str(tmp_path / "empty"): "no video",
             str(tmp_path / "junk.npz"): "not a feature file", str(tmp_path / "nope"): "no such file"}
    for path, message in cases.items():
        res = CliRunner().invoke(compile_cmd, [str(src.path), "--spec", str(spec), "-o", str(tmp_path / "out"),
                                               "--text-encoder", "minilm", "--unlabelled", path])
        assert res.exit_code != 0 and message in res.output and len(res.output.strip().splitlines()) == 1, res.output
        assert not (tmp_path / "out").exists()
    res = CliRunner().invoke(compile_cmd, [str(src.path), "--spec", str(spec), "-o", str(tmp_path / "out"),
                                           "--unlabelled", str(clips), "--bias-offset", "-1"])
    assert res.exit_code != 0 and "exclude each other" in res.output
