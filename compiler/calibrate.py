"""Calibration on unlabelled clips (docs/method.md §8): the new rows' biases chosen from the original
model's own predictions; no label is read.

In a flat edit a clip that the original model gives to a label p != c keeps that prediction unless the
best new row outscores z[p]. With every new bias shifted by the same delta, clip i flips exactly when
delta > m_i, its margin m_i = z_old[i, p_i] - max_j(x_i . w_j + b_j). Locality on the pool is therefore
the fraction of margins >= delta, and the largest delta that keeps it at the target is an order statistic
of the margins. The clips the original model calls c go to the new rows more often as delta grows, so
that largest delta is the one taken.

The offset is shared, not per row (our choice): a shared shift leaves the order among the new rows, i.e.
which subcategory a clip gets, exactly as the rows decide it, and one number fitted on a few hundred
clips overfits less than k.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catsplit.compiler.errors import CompileError


@dataclass(frozen=True)
class Calibration:
    """The shared bias offset and what it does on the pool (fractions in [0, 1])."""

    offset: float
    others: int          # pool clips the original model gives to a label other than c
    coarse: int          # pool clips it gives to c
    locality: float      # others keeping their prediction after the edit
    capture: float | None  # coarse clips going to one of the new rows (None without any)


def new_row_logits(feats: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[N, k] logits of the new rows."""
    return np.asarray(feats, np.float64) @ np.asarray(w, np.float64).T + np.asarray(b, np.float64)


def calibrate(original: np.ndarray, feats: np.ndarray, c: int, w: np.ndarray, b: np.ndarray,
              target: float = 0.995) -> Calibration:
    """The largest shared offset of the new rows' biases that keeps `target` of the pool's other clips.

    original: the original head's logits [N, C] on the pool; feats: the pool's features [N, D];
    w, b: the new rows [k, D], [k] before the offset.
    """
    original = np.asarray(original, np.float64)
    pred = original.argmax(axis=1)
    others, coarse = pred != c, pred == c
    if not others.any():
        raise CompileError("the unlabelled clips: the original model gives every one of them to the split label; "
                           "calibration needs clips of other labels", params=("unlabelled",))
    best_new = new_row_logits(feats, w, b).max(axis=1)
    margins = np.sort(original[others, pred[others]] - best_new[others])
    allowed = int(np.floor((1.0 - target) * len(margins) + 1e-9))   # clips that may flip
    edge = margins[min(allowed, len(margins) - 1)]
    offset = float(edge - 1e-6 * (1.0 + abs(edge)))                  # strictly below: ties keep their label
    locality = float((margins >= offset).mean())
    rest = np.delete(original, c, axis=1)[coarse].max(axis=1) if coarse.any() else np.empty(0)
    capture = float((best_new[coarse] + offset > rest).mean()) if coarse.any() else None
    return Calibration(offset, int(others.sum()), int(coarse.sum()), locality, capture)
