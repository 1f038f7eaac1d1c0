"""Low-shot isolated fine-tuning (docs/method.md §4) on real mp4 clips through the bundle's own backbone."""
import numpy as np
import pytest

from catsplit.compiler.compile import compile_split
from catsplit.compiler.errors import CompileError
from catsplit.compiler.lowshot import read_shots, train_rows
from catsplit.compiler.options import ShotConfig, SplitOptions
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
    assert rep.record.method == ("ma" if init == "ma" else None)
    before, after = Runtime(src.path, provider="cpu"), Runtime(out, provider="cpu")
    for (path, label) in read_shots(shots, NEW):
        assert before.classify([path], top_k=1)[0].top_k[0][0] != "Moving something"  # not c's clips before
        ranked = [y for y, _ in after.classify([path], top_k=len(LABELS) + 1)[0].top_k]
        if mode == "flat":
            assert ranked[0] == label
        else:  # the subcategories only share c's probability: the right one leads among them
            assert [y for y in ranked if y in NEW][0] == label


def test_train_rows_only_moves_the_new_rows_and_stops_early():
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((6, 8)).astype(np.float32)
    old = rng.standard_normal((6, 5)).astype(np.float32)
    w0, b0 = np.zeros((2, 8), np.float32), np.zeros(2, np.float32)
    fit = train_rows(feats, np.array([0, 1, 0, 1, 0, 1]), old, 2, "flat", w0, b0, seed=0,
                     config=ShotConfig(max_epochs=5000))
    assert fit.epochs < 5000 and fit.epochs - fit.best_epoch >= 5
    assert not np.allclose(fit.w, w0) and np.array_equal(w0, np.zeros((2, 8)))
    again = train_rows(feats, np.array([0, 1, 0, 1, 0, 1]), old, 2, "flat", w0, b0, seed=0,
                       config=ShotConfig(max_epochs=5000))
    np.testing.assert_array_equal(fit.w, again.w)


def test_unreadable_shot_video_writes_nothing(tmp_path):
    src = make_bundle(tmp_path / "src")
    (tmp_path / "a.mp4").write_bytes(b"not a video at all")
    _clip(tmp_path / "b.mp4", (0, 0, 0))
    (tmp_path / "s.csv").write_text(f"a.mp4,{NEW[0]}\nb.mp4,{NEW[1]}\n")
    with pytest.raises(CompileError, match="a.mp4"):
        compile_split(src.path, SPLIT, tmp_path / "out", SplitOptions(init="coarse"), shots=tmp_path / "s.csv")
    assert not (tmp_path / "out").exists()
    assert load_bundle(src.path).labels == LABELS
