"""Modifier Alignment (docs/method.md §3): training pairs, the edit formula, seeds."""
import numpy as np
import torch

from catsplit.compiler.dictionary import build_dictionary
from catsplit.compiler.ma import AlignmentMLP, alignment_pairs, modifier_alignment, predict
from catsplit.compiler.options import AlignConfig
from edit_bundles import GROUPS, LABELS, MODIFIERS, HashedBagOfWords, head_weights

C = LABELS.index("Moving something")
MODS = ["upwards", "downwards"]


def _setup():
    w, _ = head_weights()
    return w, build_dictionary(LABELS, w, GROUPS, MODIFIERS)


def test_pairs_are_the_three_kinds_from_the_head():
    w, d = _setup()
    texts, targets = alignment_pairs(d, LABELS, w)
    pairs = dict(zip(texts[:2], targets[:2]))
    np.testing.assert_allclose(pairs["Pulling something"],
                               w[[LABELS.index(y) for y in GROUPS["Pulling something"]]].mean(axis=0), rtol=1e-6)
    assert len(texts) == 2 + 2 * 5 + 3  # prototypes, (label, modifier) per entry, singletons
    i = texts.index("from right to left")  # first occurrence: Pushing's modifier vector
    np.testing.assert_allclose(targets[i], d.entries[1].vector)
    np.testing.assert_array_equal(targets[texts.index("Holding something")], w[LABELS.index("Holding something")])
    np.testing.assert_array_equal(targets[texts.index("Tearing something")],
                                  w[LABELS.index("Tearing something into two pieces")])


def test_rows_are_coarse_row_plus_mlp_of_modifier_embedding():
    enc, (w, d) = HashedBagOfWords(), _setup()
    rows, fit = modifier_alignment(enc, w[C], MODS, d, LABELS, w, seed=0)
    assert isinstance(fit.mlp, AlignmentMLP) and fit.mlp[0].out_features == 384
    assert isinstance(fit.mlp[1], torch.nn.GELU)
    np.testing.assert_allclose(rows, w[C] + predict(fit.mlp, enc.encode(MODS)), rtol=0, atol=0)
    assert 1 <= fit.best_epoch <= fit.epochs <= 200 and fit.num_pairs == 15


def test_training_fits_the_head_and_seeds_are_reproducible():
    enc, (w, d) = HashedBagOfWords(), _setup()
    a, fit = modifier_alignment(enc, w[C], MODS, d, LABELS, w, seed=0)
    b, _ = modifier_alignment(enc, w[C], MODS, d, LABELS, w, seed=0)
    other, _ = modifier_alignment(enc, w[C], MODS, d, LABELS, w, seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, other)
    texts, targets = alignment_pairs(d, LABELS, w)
    pred = predict(fit.mlp, enc.encode(texts))
    cos = (pred * targets).sum(1) / np.linalg.norm(pred, axis=1) / np.linalg.norm(targets, axis=1)
    untrained = predict(AlignmentMLP(enc.dim, w.shape[1]).eval(), enc.encode(texts))
    cos0 = (untrained * targets).sum(1) / np.linalg.norm(untrained, axis=1) / np.linalg.norm(targets, axis=1)
    assert cos.mean() > 0.8 > cos0.mean() + 0.3, (cos.mean(), cos0.mean())
    assert fit.best_cosine_ema > 0.5


def test_early_stopping_ends_before_max_epochs():
    enc, (w, d) = HashedBagOfWords(), _setup()
    _, fit = modifier_alignment(enc, w[C], MODS, d, LABELS, w, seed=0, config=AlignConfig(max_epochs=2000))
    assert fit.epochs < 2000 and fit.epochs - fit.best_epoch >= 5
