"""Refinement on unlabelled clips (docs/method.md §8): move the k new rows to where the clips the
original model calls c actually are, with no label read.

The zero-shot rows decide which cluster is which subcategory; the clips decide where the clusters are.
A mixture model over the clips the original model calls c, with the rows as each clip's prior:

    log q[i, j] = alpha * log_softmax_j(x_i . w0_j + b0_j) - |z_i - mu_j|^2 / (D * tau) + log v_j

where z are the clips' features standardised per dimension (over these clips), mu_j the q-weighted
means of z, and v_j the Sinkhorn-Knopp column scaling that makes the assignment balanced (every
subcategory gets 1/k of the clips): the prior that keeps one row from taking every clip. E and M steps
alternate for `rounds`.

|z_i|^2 is the same for every j, so the final log q is linear in x: the refined rows are that linear
map itself, in closed form (no gradient steps), and their argmax over the pool is exactly the final
assignment's. Their level against the old labels is calibration's job (calibrate.py), which runs next.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catsplit.compiler.options import RefineConfig


@dataclass(frozen=True)
class Refinement:
    w: np.ndarray
    b: np.ndarray
    clips: int                 # clips the rows were refined on
    rounds: int
    moved: float               # fraction of those clips whose best new row changed


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def balance(logq: np.ndarray, iters: int) -> tuple[np.ndarray, np.ndarray]:
    """Sinkhorn-Knopp on exp(logq): (q with rows summing to 1 and columns to n / k, the log column scaling)."""
    n, k = logq.shape
    logq = log_softmax(logq)
    log_v = np.zeros(k)
    for _ in range(iters):
        col = np.logaddexp.reduce(logq + log_v, axis=0)
        log_v += np.log(n / k) - col
        logq = log_softmax(logq + log_v) - log_v   # renormalise rows; keep log_v separate
    q = np.exp(log_softmax(logq + log_v))
    return q, log_v


def refine_rows(feats: np.ndarray, w0: np.ndarray, b0: np.ndarray, config: RefineConfig = RefineConfig()) -> Refinement:
    """Refine rows [k, D], [k] on the features [n, D] of clips the original model calls c."""
    x = np.asarray(feats, np.float64)
    w0, b0 = np.asarray(w0, np.float64), np.asarray(b0, np.float64)
    k = len(b0)
    if len(x) < config.min_clips * k:
        return Refinement(w0.astype(np.float32), b0.astype(np.float32), len(x), 0, 0.0)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    width = x.shape[1] * config.temperature
    prior = config.prior * log_softmax(x @ w0.T + b0)
    q, log_v = balance(prior, config.sinkhorn_iters)
    for _ in range(config.rounds):
        mu = (q.T @ z) / q.sum(axis=0)[:, None]
        logq = prior + (2 * z @ mu.T - (mu ** 2).sum(axis=1)) / width
        q, log_v = balance(logq, config.sinkhorn_iters)
    # the last E step's logits as rows over x: z = (x - mean) / scale
    w = config.prior * w0 + 2 * (mu / scale) / width
    b = config.prior * b0 - (2 * (mu / scale) @ mean + (mu ** 2).sum(axis=1)) / width + log_v
    moved = float(((x @ w.T + b).argmax(axis=1) != (x @ w0.T + b0).argmax(axis=1)).mean())
    return Refinement(w.astype(np.float32), b.astype(np.float32), len(x), config.rounds, moved)
