"""Modifier Retrieval (docs/method.md §2): borrow the best-matching dictionary modifier for each subcategory.

S[i, y] = alpha cos(phi(m(s_i)), phi(m(y))) + beta cos(phi(t(s_i)), phi(t(y))); then k times the global
maximum (i, y) of S is taken, W_new[s_i] = W[c] + v_y, and row i and column y leave S, so each
dictionary modifier serves at most one subcategory. Ties break towards the lowest (i, y) in row-major
order (numpy argmax), which makes MR fully deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from catsplit.compiler.dictionary import Dictionary
from catsplit.compiler.text_encoder import TextEncoder


@dataclass(frozen=True)
class Retrieval:
    target: str
    entry: str  # the dictionary label whose modifier vector was borrowed
    group: str
    score: float
    modifier_score: float
    label_score: float


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def similarity(encoder: TextEncoder, targets: Sequence[str], target_modifiers: Sequence[str],
               dictionary: Dictionary) -> tuple[np.ndarray, np.ndarray]:
    """(modifier cosines, label cosines), each [k, |dictionary|]; S = alpha * first + beta * second."""
    e = dictionary.entries
    emb = _unit(encoder.encode(list(target_modifiers) + [x.modifier for x in e]
                               + list(targets) + [x.label for x in e]))
    k, n = len(targets), len(e)
    tm, dm, tl, dl = np.split(emb, [k, k + n, 2 * k + n])
    return tm @ dm.T, tl @ dl.T


def greedy_assign(scores: np.ndarray) -> list[tuple[int, int]]:
    """k pairs (i, y), each the global maximum of what is left after removing earlier rows and columns."""
    s = np.array(scores, np.float64)
    if s.shape[0] > s.shape[1]:
        raise ValueError(f"{s.shape[0]} targets but only {s.shape[1]} dictionary entries")
    pairs = []
    for _ in range(s.shape[0]):
        i, y = np.unravel_index(int(np.argmax(s)), s.shape)
        pairs.append((int(i), int(y)))
        s[i, :] = -np.inf
        s[:, y] = -np.inf
    return pairs


def modifier_retrieval(encoder: TextEncoder, w_coarse: np.ndarray, targets: Sequence[str], target_modifiers: Sequence[str],
                       dictionary: Dictionary, alpha: float = 0.5,
                       beta: float = 0.5) -> tuple[np.ndarray, list[Retrieval]]:
    """New rows [k, D] in target order (W[c] + v_y), and what each one borrowed with its scores."""
    s_mod, s_lab = similarity(encoder, targets, target_modifiers, dictionary)
    scores = alpha * s_mod + beta * s_lab
    rows = np.zeros((len(targets), w_coarse.shape[0]), np.float32)
    found: dict[int, Retrieval] = {}
    for i, y in greedy_assign(scores):
        entry = dictionary.entries[y]
        rows[i] = w_coarse + entry.vector
        found[i] = Retrieval(targets[i], entry.label, entry.group, float(scores[i, y]),
                             float(s_mod[i, y]), float(s_lab[i, y]))
    return rows, [found[i] for i in range(len(targets))]
