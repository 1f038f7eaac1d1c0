"""train_alignment remembers fits by their exact inputs: sound only because training is deterministic."""
from __future__ import annotations

import numpy as np
import torch

from catsplit.compiler import ma
from catsplit.compiler.ma import AlignConfig, train_alignment

CONFIG = AlignConfig(max_epochs=20)


def test_a_remembered_fit_is_what_training_again_gives():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 16)).astype(np.float32), rng.standard_normal((30, 8)).astype(np.float32)
    first = train_alignment(x, y, seed=3, config=CONFIG)
    assert train_alignment(x.copy(), y.copy(), seed=3, config=CONFIG) is first        # remembered
    fresh = ma._fit(x, y, 3, CONFIG)                                                   # trained again
    for (_, a), (_, b) in zip(first.mlp.state_dict().items(), fresh.mlp.state_dict().items()):
        assert torch.equal(a, b)
    assert (fresh.epochs, fresh.best_epoch, fresh.best_cosine_ema) == (first.epochs, first.best_epoch,
                                                                       first.best_cosine_ema)
    assert train_alignment(x, y, seed=4, config=CONFIG) is not first                  # another seed: another fit
    y2 = y.copy()
    y2[0, 0] += 1e-3
    assert train_alignment(x, y2, seed=3, config=CONFIG) is not first                 # other targets: another fit
    for k in range(ma.REMEMBERED + 1):                                                # bounded
        train_alignment(x, y, seed=100 + k, config=AlignConfig(max_epochs=1))
    assert len(ma._FITS) == ma.REMEMBERED
