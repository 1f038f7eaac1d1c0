"""Propose a group scheme from the label texts alone (`catsplit groups propose`), for a person to review.

1. Shared leading words: labels whose first `min_words` words (extended past function words) agree
   form a group ("Pushing something ...", "Pretending to put something ...", "(FX) salto ..."); a group
   of more than `max_size` labels is split by one more leading word, recursively.
2. Text-embedding similarity (when `encoder` is given): the labels left alone are clustered with
   average linkage on the cosine similarity of their embeddings, with each other or into a group of
   step 1, while the best similarity is at least `join_threshold`. Two groups of step 1 are never
   merged. ("Squeezing something" joins "Pretending to squeeze something".)
3. A leading bracketed tag ("(FX) ...", "(BB) ...": an apparatus, a domain, a source) is a namespace:
   step 2 never joins labels of different namespaces (step 1 cannot: the tag is their first word).
Labels still alone are groups of one. Group names are the members' common leading words, else the
member texts joined by " and ".

What it finds, scored against the authors' hand-made schemes, and why it stays well below them on
FineGym-Split, is measured by `python -m benchmarks.proposer` (benchmarks/results/proposer.md).
`pairwise_agreement` is that score: precision, recall and F1 of same-group label pairs.
"""
from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np

from catsplit.compiler.groups import _EDGE_PUNCT, FUNCTION_WORDS, _back_off, _common_prefix, _norm, _words

_TAG = re.compile(r"\s*(\([^()]*\))\s*\S")


def namespace(label: str) -> str:
    """The label's leading bracketed tag, lower-cased ("" without one)."""
    m = _TAG.match(label)
    return m.group(1).lower() if m else ""


def _key(words: Sequence[str], n: int) -> tuple[str, ...]:
    """The first n leading words, extended so that they end on a content word ("Pretending to put",
    not "Pretending to"): the base concept a label shares with the labels of its group."""
    n = min(n, len(words))
    while n < len(words) and _norm(words[n - 1]) in FUNCTION_WORDS:
        n += 1
    return tuple(_norm(w) for w in words[:n])


def _by_prefix(labels: Sequence[str], n: int, max_size: int) -> list[list[str]]:
    """Group labels by their key of n words; a group over max_size is split by longer keys."""
    by_key: dict[tuple[str, ...], list[str]] = {}
    for y in labels:
        by_key.setdefault(_key(_words(y), n), []).append(y)
    out = []
    for key, members in by_key.items():
        longer = max(len(_key(_words(y), len(key) + 1)) for y in members)
        if len(members) > max_size and longer > len(key):
            out += _by_prefix(members, len(key) + 1, max_size)
        else:
            out.append(members)
    return out


def _name(members: Sequence[str]) -> str:
    """A readable group name: the members' common base, else their texts joined (as SSv2-Split does)."""
    if len(members) == 1:
        return members[0]
    words = [_words(y) for y in members]
    n = _back_off(words[0], _common_prefix(words))
    if n >= 2:
        return " ".join(words[0][:n]).rstrip(_EDGE_PUNCT)
    return " and ".join(members)


def propose_groups(labels: Sequence[str], encoder=None, min_words: int = 2, max_size: int = 9,
                   join_threshold: float = 0.7) -> dict[str, list[str]]:
    """Suggest a group scheme for `labels` (module docstring), for a person to review."""
    labels = list(dict.fromkeys(labels))
    clusters = [(ms, len(ms) > 1) for ms in _by_prefix(labels, min_words, max_size)]  # (members, by words)
    if encoder is not None and len(labels) > 1:
        clusters = _join_by_embedding(clusters, labels, encoder, join_threshold,
                                      [namespace(ms[0]) for ms, _ in clusters])
    order = {y: i for i, y in enumerate(labels)}
    scheme: dict[str, list[str]] = {}
    for members, _ in sorted(clusters, key=lambda c: min(order[y] for y in c[0])):
        members = sorted(members, key=order.__getitem__)
        name = base = _name(members)
        n = 2
        while name in scheme:
            name, n = f"{base} ({n})", n + 1
        scheme[name] = members
    return scheme


def _join_by_embedding(clusters: list[tuple[list[str], bool]], labels: Sequence[str], encoder, threshold: float,
                       namespaces: Sequence[str]) -> list[tuple[list[str], bool]]:
    emb = np.asarray(encoder.encode(labels), np.float64)
    emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    row = {y: i for i, y in enumerate(labels)}
    onehot = np.zeros((len(clusters), len(labels)))
    for i, (members, _) in enumerate(clusters):
        onehot[i, [row[y] for y in members]] = 1
    total = onehot @ (emb @ emb.T) @ onehot.T  # summed similarity between clusters' members
    size = onehot.sum(1)
    fixed = np.array([f for _, f in clusters])
    space = np.asarray(namespaces, dtype=object)
    apart = space[:, None] != space[None, :]
    members = [list(m) for m, _ in clusters]
    alive = np.ones(len(clusters), bool)
    while True:
        link = total / np.outer(size, size)  # average linkage
        blocked = ~np.outer(alive, alive) | np.outer(fixed, fixed) | apart | np.eye(len(size), dtype=bool)
        link[blocked] = -np.inf
        i, j = np.unravel_index(np.argmax(link), link.shape)
        if link[i, j] < threshold:
            return [(members[k], bool(fixed[k])) for k in np.flatnonzero(alive)]
        total[i] += total[j]
        total[:, i] += total[:, j]
        size[i] += size[j]
        fixed[i] |= fixed[j]
        members[i] += members[j]
        alive[j] = False


def pairwise_agreement(proposed: Mapping[str, Sequence[str]], reference: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Pairwise precision, recall and F1 of "same group" decisions over the labels both schemes cover."""
    def pairs(scheme):
        out = set()
        for members in scheme.values():
            ms = sorted(set(members) & common)
            out.update((a, b) for i, a in enumerate(ms) for b in ms[i + 1:])
        return out

    common = {y for m in proposed.values() for y in m} & {y for m in reference.values() for y in m}
    p, r = pairs(proposed), pairs(reference)
    hit = len(p & r)
    precision = hit / len(p) if p else 0.0
    recall = hit / len(r) if r else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hit else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}
