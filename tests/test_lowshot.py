"""Low-shot isolated fine-tuning (docs/method.md §4) on real mp4 clips through the bundle's own backbone."""
import numpy as np
import pytest

from catsplit.compiler.compile import compile_split
from catsplit.compiler.edits import read_history
from catsplit.compiler.errors import CompileError
from catsplit.compiler.lowshot import read_shots, train_rows, zero_shot_start
from catsplit.compiler.options import ShotConfig, SplitOptions
from catsplit.compiler.record import LowShot
from catsplit.runtime import load_bundle
from catsplit.runtime.session import Runtime
from edit_bundles import LABELS, SPLIT, HashedBagOfWords, make_bundle
from videos import write_video

NEW = ["Moving something up", "Moving something down"]
COLOURS = {NEW[0]: [(250, 20, 20), (230, 60, 30)], NEW[1]: [(20, 40, 250), (40, 20, 220)]}


def _clip(path, rgb):
    frames = np.broadcast_to(np.array(rgb, np.uint8), (8, 32, 32, 3)).copy()
    return write_video(path, frames)


@pytest.fixture
def shots(tmp_path):
    (tmp_path / "clips").mkdir()
    lines = ["video,label"]
    for label, colours in COLOURS.items():
        for j, rgb in enumerate(colours):
            name = f"clips/{label.split()[-1]}{j}.mp4"
            _clip(tmp_path / name, rgb)
            lines.append(f"{name},{label}")
    (tmp_path / "shots.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "shots.csv"


def test_read_shots(shots, tmp_path):
    rows = read_shots(shots, NEW)
    assert [y for _, y in rows] == [NEW[0], NEW[0], NEW[1], NEW[1]] and all(p.is_file() for p, _ in rows)
    (tmp_path / "bad.csv").write_text("clips/missing.mp4,Moving something up\n")
    with pytest.raises(CompileError, match="does not exist"):
        read_shots(tmp_path / "bad.csv", NEW)
    (tmp_path / "one.csv").write_text("clips/up0.mp4,Moving something up\n")
    with pytest.raises(CompileError, match="no clip for subcategory 'Moving something down'"):
        read_shots(tmp_path / "one.csv", NEW)


@pytest.mark.parametrize("mode,init", [("flat", "coarse"), ("hierarchical", "random"), ("flat", "ma")])
def test_fine_tuned_rows_classify_their_shots(shots, tmp_path, mode, init):
    src = make_bundle(tmp_path / "src", dim=384)  # a realistic D: the few AdamW steps move the logits enough
    out = tmp_path / "out"
    rep = compile_split(src.path, SPLIT, out, SplitOptions(mode=mode, init=init, text_encoder=HashedBagOfWords()),
                        shots=shots)
    low = rep.record.lowshot
    assert low.init == init and low.clips == 4 and 1 <= low.best_epoch <= low.epochs
    assert low.steps >= ShotConfig().min_steps and low.stop in ("patience", "max_epochs")
    assert rep.record.method == ("ma" if init == "ma" else None)
    assert read_history(load_bundle(out))[-1].lowshot == low  # bundle.json keeps every field
    before, after = Runtime(src.path, provider="cpu"), Runtime(out, provider="cpu")
    for (path, label) in read_shots(shots, NEW):
        assert before.classify([path], top_k=1)[0].top_k[0][0] != "Moving something"  # not c's clips before
        ranked = [y for y, _ in after.classify([path], top_k=len(LABELS) + 1)[0].top_k]
        if mode == "flat":
            assert ranked[0] == label
        else:  # the subcategories only share c's probability: the right one leads among them
            assert [y for y in ranked if y in NEW][0] == label


def _problem(n=6, d=8, seed=0):
    """Non-negative features (as post-ReLU pooled ones), random frozen old logits, k = 2 new rows."""
    rng = np.random.default_rng(seed)
    feats = np.abs(rng.standard_normal((n, d))).astype(np.float32)
    old = rng.standard_normal((n, 5)).astype(np.float32)
    return feats, np.arange(n) % 2, old


def test_train_rows_only_moves_the_new_rows_and_stops_early():
    feats, y, old = _problem()
    w0, b0 = np.zeros((2, 8), np.float32), np.zeros(2, np.float32)
    cfg = ShotConfig(max_epochs=5000, penalty=0.0, cap=False)
    fit = train_rows(feats, y, old, 2, "flat", w0, b0, seed=0, config=cfg)
    assert fit.epochs < 5000 and fit.epochs - fit.best_epoch >= 5 and fit.stop == "patience"
    assert not np.allclose(fit.w, w0) and np.array_equal(w0, np.zeros((2, 8)))
    again = train_rows(feats, y, old, 2, "flat", w0, b0, seed=0, config=cfg)
    np.testing.assert_array_equal(fit.w, again.w)


def test_three_clips_train_at_least_the_minimum_steps():
    """The paper's rule with one clip per subcategory (one optimiser step per epoch) stopped after 6 epochs
    with the rows still at their start; now training runs min_steps steps and keeps a trained epoch."""
    feats, _, old = _problem(n=3, d=32)
    w_c, b_c = np.full(32, 0.05, np.float32), 0.1
    w0, b0 = np.tile(w_c, (3, 1)), np.full(3, b_c, np.float32)
    for cfg in (ShotConfig(), ShotConfig(min_steps=120)):
        fit = train_rows(feats, np.arange(3), old, 2, "flat", w0, b0, seed=0, config=cfg, coarse_row=(w_c, b_c))
        assert fit.steps == fit.epochs >= cfg.min_steps  # 3 clips: one step an epoch
        assert fit.best_epoch > 6 and not np.allclose(fit.w, w0)


def test_penalty_keeps_rows_near_their_start():
    feats, y, old = _problem()
    w0 = np.full((2, 8), 0.1, np.float32)
    b0 = np.zeros(2, np.float32)
    moved = {}
    for penalty in (0.0, 0.005, 0.1):
        cfg = ShotConfig(penalty=penalty, cap=False, max_epochs=200, min_steps=200)
        fit = train_rows(feats, y, old, 2, "flat", w0, b0, seed=0, config=cfg)
        moved[penalty] = float(np.linalg.norm(fit.w - w0))
    assert moved[0.0] > moved[0.005] > moved[0.1] > 0


def test_cap_keeps_norm_and_bias_under_the_coarse_row():
    feats, y, old = _problem()
    w_c, b_c = np.full(8, 0.1, np.float32), 0.2
    w0 = np.tile(w_c * 3, (2, 1))  # a start longer than the coarse row (as MA's rows often are)
    b0 = np.full(2, 0.5, np.float32)
    fit = train_rows(feats, y, old, 2, "flat", w0, b0, seed=0, config=ShotConfig(penalty=0.0, lr=1e-2),
                     coarse_row=(w_c, b_c))
    assert np.all(np.linalg.norm(fit.w, axis=1) <= np.linalg.norm(w_c) * (1 + 1e-5)) and np.all(fit.b <= b_c + 1e-6)
    free = train_rows(feats, y, old, 2, "flat", w0, b0, seed=0, config=ShotConfig(penalty=0.0, lr=1e-2, cap=False))
    assert np.all(np.linalg.norm(free.w, axis=1) > np.linalg.norm(w_c) * 2)
    with pytest.raises(ValueError, match="coarse_row"):
        train_rows(feats, y, old, 2, "flat", w0, b0)


def test_zero_shot_start_moves_from_the_coarse_row_towards_the_rescaled_rows():
    w_c = np.array([3.0, 4.0], np.float32)  # norm 5
    rows = np.array([[0.0, 20.0], [6.0, 0.0]], np.float32)  # longer than W[c], as MA's often are
    np.testing.assert_allclose(zero_shot_start(rows, w_c, 0.0), [w_c, w_c])
    np.testing.assert_allclose(zero_shot_start(rows, w_c, 1.0), [[0, 5], [5, 0]], atol=1e-6)
    np.testing.assert_allclose(zero_shot_start(rows, w_c, 0.25), [[2.25, 4.25], [3.5, 3.0]], atol=1e-6)


def test_negatives_keep_their_own_prediction():
    """A negative clip that the new rows take at first is given back to its old label by its cross-entropy."""
    feats, y, old = _problem()
    neg = feats[:1] * 1.5  # close to a shot: the rows trained on the shots take it
    neg_old = np.zeros((1, 5), np.float32)
    neg_old[0, 4] = 0.5
    w0, b0 = np.zeros((2, 8), np.float32), np.zeros(2, np.float32)
    cfg = ShotConfig(penalty=0.0, cap=False, lr=1e-2)

    def top(fit):
        return int(np.argmax(np.concatenate([np.delete(neg_old[0], 2), neg[0] @ fit.w.T + fit.b])))

    assert top(train_rows(feats, y, old, 2, "flat", w0, b0, config=cfg)) >= 4  # a new row
    with_neg = train_rows(feats, y, old, 2, "flat", w0, b0, config=cfg, negatives=neg, negative_logits=neg_old)
    assert top(with_neg) == 3  # old column 4, the 4th kept column (c = 2 left out)


def test_lowshot_record_round_trips():
    for init, weight in (("coarse", None), ("ma", 0.25)):
        low = LowShot(init, 3, 57, 57, 51, 0.125, "patience", False, 300, 50, 0.005, True, weight, 0, (1, 1))
        assert LowShot.from_json(low.to_json(), "edits[0].lowshot") == low
    doc = {**low.to_json(), "stop": "bored"}
    with pytest.raises(CompileError, match="stop"):
        LowShot.from_json(doc, "edits[0].lowshot")


def test_unreadable_shot_video_writes_nothing(tmp_path):
    src = make_bundle(tmp_path / "src")
    (tmp_path / "a.mp4").write_bytes(b"not a video at all")
    _clip(tmp_path / "b.mp4", (0, 0, 0))
    (tmp_path / "s.csv").write_text(f"a.mp4,{NEW[0]}\nb.mp4,{NEW[1]}\n")
    with pytest.raises(CompileError, match="a.mp4"):
        compile_split(src.path, SPLIT, tmp_path / "out", SplitOptions(init="coarse"), shots=tmp_path / "s.csv")
    assert not (tmp_path / "out").exists()
    assert load_bundle(src.path).labels == LABELS


def test_cli_shot_flags_default_to_shot_config():
    """catsplit-compile spells the low-shot defaults out for --help; they must be ShotConfig's."""
    from catsplit.compiler.cli import compile_cmd

    flags = {p.name: p.default for p in compile_cmd.params}
    cfg = ShotConfig()
    assert (flags["shot_epochs"], flags["shot_min_steps"], flags["shot_penalty"], flags["shot_cap"],
            flags["shot_init_weight"]) == (cfg.max_epochs, cfg.min_steps, cfg.penalty, cfg.cap, cfg.init_weight)
