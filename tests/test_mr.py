"""Modifier dictionary and Modifier Retrieval against docs/method.md §1-2, on a small hand-made head."""
import numpy as np
import pytest

from catsplit.compiler.compile import compile_split
from catsplit.compiler.options import SplitOptions
from catsplit.compiler.dictionary import build_dictionary
from catsplit.compiler.errors import CompileError
from catsplit.compiler.mr import greedy_assign, modifier_retrieval
from edit_bundles import GROUPS, LABELS, MODIFIERS, HashedBagOfWords, head_weights, logits, make_bundle


def test_greedy_takes_global_maximum_not_per_row_argmax():
    s = np.array([[0.90, 0.80, 0.10],
                  [0.95, 0.20, 0.30]])
    assert list(s.argmax(axis=1)) == [0, 0]  # per-row argmax would reuse entry 0
    assert greedy_assign(s) == [(1, 0), (0, 1)]


def test_greedy_refuses_more_targets_than_entries():
    with pytest.raises(ValueError):
        greedy_assign(np.zeros((3, 2)))


def test_dictionary_prototypes_and_modifier_vectors():
    w, _ = head_weights()
    d = build_dictionary(LABELS, w, GROUPS, MODIFIERS)
    push = [LABELS.index(y) for y in GROUPS["Pushing something"]]
    np.testing.assert_allclose(d.prototypes["Pushing something"], w[push].mean(axis=0), rtol=1e-6)
    assert set(d.prototypes) == {"Pushing something", "Pulling something"}
    for e in d.entries:
        np.testing.assert_allclose(e.vector, w[LABELS.index(e.label)] - d.prototypes[e.group], atol=1e-6)
        assert e.modifier == MODIFIERS[e.label]
    # collapsed group, a group with one row, and a label no group lists are singletons
    assert d.singletons == {"Moving something": "Moving something",
                            "Tearing something": "Tearing something into two pieces",
                            "Holding something": "Holding something"}


def test_dictionary_needs_a_group_with_two_rows():
    w, _ = head_weights()
    with pytest.raises(CompileError, match="no group with 2 or more labels"):
        build_dictionary(LABELS, w, {"Tearing something": GROUPS["Tearing something"]}, MODIFIERS)


def _expected_mr(enc, w, targets, mods, dictionary):
    def unit(x):
        x = x.astype(np.float64)
        return x / np.linalg.norm(x, axis=1, keepdims=True)
    e = dictionary.entries
    s = 0.5 * unit(enc.encode(mods)) @ unit(enc.encode([x.modifier for x in e])).T \
        + 0.5 * unit(enc.encode(targets)) @ unit(enc.encode([x.label for x in e])).T
    rows, free_i, free_y = {}, set(range(len(targets))), set(range(len(e)))
    while free_i:
        i, y = max(((i, y) for i in free_i for y in free_y), key=lambda p: s[p])
        rows[i] = w + e[y].vector
        free_i.discard(i)
        free_y.discard(y)
    return np.stack([rows[i] for i in range(len(targets))]), s


def test_mr_rows_follow_the_formula():
    enc, (w, _) = HashedBagOfWords(), head_weights()
    d = build_dictionary(LABELS, w, GROUPS, MODIFIERS)
    targets = ["Moving something from left to right", "Moving something away", "Moving something off the table"]
    mods = ["from left to right", "away", "off the table"]
    c = LABELS.index("Moving something")
    rows, found = modifier_retrieval(enc, w[c], targets, mods, d)
    expected, s = _expected_mr(enc, w[c], targets, mods, d)
    np.testing.assert_allclose(rows, expected, atol=1e-6)
    assert [MODIFIERS[f.entry] for f in found][::2] == ["from left to right", "off the table"]
    assert len({f.entry for f in found}) == 3  # one-to-one
    for i, f in enumerate(found):
        assert f.score == pytest.approx(s[i, [x.label for x in d.entries].index(f.entry)], abs=1e-6)


def test_compile_mr_writes_the_rows_into_the_head(tmp_path):
    src = make_bundle(tmp_path / "b")
    targets, mods = ["Moving something rightwards", "Moving something off a shelf"], ["from left to right", "off the table"]
    spec = {"split": "Moving something", "into": [{"label": t, "modifier": m} for t, m in zip(targets, mods)]}
    rep = compile_split(src.path, spec, tmp_path / "out", SplitOptions(method="mr", text_encoder=HashedBagOfWords()))
    w, b = head_weights()
    c = LABELS.index("Moving something")
    d = build_dictionary(LABELS, w, GROUPS, MODIFIERS)
    expected, _ = _expected_mr(HashedBagOfWords(), w[c], targets, mods, d)
    x = np.random.default_rng(3).standard_normal((8, w.shape[1])).astype(np.float32)
    got = logits(tmp_path / "out" / "head.onnx", x)
    np.testing.assert_allclose(got[:, -2:], x @ expected.T + b[c], rtol=1e-5, atol=1e-5)
    assert [s["entry"] for s in rep.to_json()["sources"]] == ["Pushing something from left to right",
                                                              "Pushing something off the table"]
    assert rep.record.method == "mr" and rep.record.text_encoder.name == "hashed-bow-64"
