"""Splicing new rows into head graphs (docs/method.md §5): exactness of untouched logits, hierarchy, composition."""
import numpy as np
import onnx
import pytest

from catsplit.compiler.errors import CompileError
from catsplit.compiler.head import read_rows
from catsplit.compiler.splice import splice, spliced_labels, verify_splice
from catsplit.models.head import make_head
from edit_bundles import head_weights, logits
from tiny_bundle import head_bytes


def _save(model: onnx.ModelProto, path):
    path.write_bytes(model.SerializeToString())
    return path


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture
def setup(tmp_path):
    w, b = head_weights(6, 16, seed=5)
    rng = np.random.default_rng(0)
    w_new, b_new = rng.standard_normal((3, 16)).astype(np.float32), np.full(3, b[2], np.float32)
    x = (rng.standard_normal((256, 16)) * 2).astype(np.float32)
    return w, b, w_new, b_new, x, _save(make_head(w, b), tmp_path / "head.onnx")


def test_flat_keeps_untouched_logits_bit_identical(setup, tmp_path):
    w, b, w_new, b_new, x, path = setup
    new = _save(splice(make_head(w, b), 2, w_new, b_new, "flat", "edit1"), tmp_path / "new.onnx")
    old_z, z = logits(path, x), logits(new, x)
    assert z.shape == (256, 8)
    assert np.array_equal(z[:, :5].view(np.int32), np.delete(old_z, 2, axis=1).view(np.int32))
    np.testing.assert_allclose(z[:, 5:], x @ w_new.T + b_new, rtol=1e-5, atol=1e-5)
    rows_w, rows_b = read_rows(onnx.load(str(new)))
    np.testing.assert_array_equal(rows_w, np.concatenate([np.delete(w, 2, axis=0), w_new]))
    np.testing.assert_array_equal(rows_b, np.concatenate([np.delete(b, 2), b_new]))
    verify_splice(str(path), str(new), 2, 3, 16, 8)


def test_hierarchical_shares_the_coarse_probability(setup, tmp_path):
    w, b, w_new, b_new, x, path = setup
    new = _save(splice(make_head(w, b), 2, w_new, b_new, "hierarchical", "edit1"), tmp_path / "new.onnx")
    old_z, z = logits(path, x), logits(new, x)
    assert np.array_equal(z[:, :5].view(np.int32), np.delete(old_z, 2, axis=1).view(np.int32))
    p_old, p = _softmax(old_z.astype(np.float64)), _softmax(z.astype(np.float64))
    np.testing.assert_allclose(p[:, 5:].sum(axis=1), p_old[:, 2], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(p[:, :5], np.delete(p_old, 2, axis=1), rtol=1e-5, atol=1e-7)
    not_c = old_z.argmax(axis=1) != 2
    assert not_c.sum() > 100 and (~not_c).sum() > 10
    old_pred = np.delete(np.arange(6), 2)[z[not_c].argmax(axis=1)]  # new column -> old label index
    assert np.array_equal(old_pred, old_z[not_c].argmax(axis=1))
    np.testing.assert_array_equal(read_rows(onnx.load(str(new)))[0][5:], w_new)
    verify_splice(str(path), str(new), 2, 3, 16, 8)


def test_edits_compose_in_both_modes(setup, tmp_path):
    w, b, w_new, b_new, x, path = setup
    labels = list("abcdef")
    model, z_prev, rng = make_head(w, b), logits(path, x), np.random.default_rng(1)
    steps = [("hierarchical", "c", ["c1", "c2", "c3"]), ("flat", "a", ["a1", "a2"]),
             ("hierarchical", "c2", ["c2x", "c2y"]), ("flat", "c1", ["c1x", "c1y"])]
    for n, (mode, coarse, into) in enumerate(steps, 1):
        c = labels.index(coarse)
        rows = rng.standard_normal((len(into), 16)).astype(np.float32)
        model = splice(model, c, rows, np.zeros(len(into), np.float32), mode, f"edit{n}")
        new = _save(model, tmp_path / f"head{n}.onnx")
        onnx.checker.check_model(str(new), full_check=True)
        z = logits(new, x)
        kept = len(labels) - 1
        assert np.array_equal(z[:, :kept].view(np.int32), np.delete(z_prev, c, axis=1).view(np.int32))
        labels = spliced_labels(labels, c, into)
        assert z.shape[1] == len(labels) == read_rows(model)[0].shape[0]
        z_prev = z
    assert labels == ["b", "d", "e", "f", "c3", "a1", "a2", "c2x", "c2y", "c1x", "c1y"]


def test_torch_exported_head(tmp_path):
    """A head exported by torch.onnx (input "x", output "y") splices the same way."""
    path = tmp_path / "head.onnx"
    path.write_bytes(head_bytes(5))
    w, b = read_rows(onnx.load(str(path)))
    x = np.random.default_rng(0).standard_normal((16, w.shape[1])).astype(np.float32)
    np.testing.assert_allclose(logits(path, x), x @ w.T + b, rtol=1e-5, atol=1e-5)
    new = _save(splice(onnx.load(str(path)), 0, w[:2] * 0.5, b[:2], "hierarchical", "edit1"), tmp_path / "n.onnx")
    verify_splice(str(path), str(new), 0, 2, w.shape[1], w.shape[0] + 1)


def test_verify_refuses_a_head_whose_untouched_logits_moved(setup, tmp_path):
    w, b, w_new, b_new, x, path = setup
    bad = w.copy()
    bad[0, 0] = np.nextafter(bad[0, 0], np.float32(np.inf))  # one ulp in one weight
    new = _save(splice(make_head(bad, b), 2, w_new, b_new, "flat", "edit1"), tmp_path / "new.onnx")
    with pytest.raises(CompileError, match="untouched logits differ"):
        verify_splice(str(path), str(new), 2, 3, 16, 8)
