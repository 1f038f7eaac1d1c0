"""Do the unlabelled pool's clips cluster by subcategory? A diagnostic that reads the pool's labels.

Refinement (docs/method.md §8) can only move the new rows to clusters that the clips form. Here the clips
the original model calls c are clustered by k-means into k clusters, in the space refinement uses
(features standardised per dimension over those clips), and each cluster is scored against the clips'
true labels: purity = the share of clips that carry their cluster's most common label. Low purity means
that the features alone do not say where the subcategories are, whatever the text rows add.
"""
from __future__ import annotations

import numpy as np

from benchmarks.edit_quality.data import World
from catsplit.compiler.compile import Pool

RESTARTS = 10   # k-means runs per target; the one with the lowest within-cluster sum of squares is kept
ITERATIONS = 100


def kmeans(z: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Cluster index [n] of each row of z: Lloyd's iterations from a k-means++ start, best of RESTARTS."""
    best, best_cost = None, np.inf
    for _ in range(RESTARTS):
        centres = [z[rng.integers(len(z))]]
        for _ in range(k - 1):
            d2 = ((z[:, None] - np.array(centres)[None]) ** 2).sum(-1).min(1)
            centres.append(z[rng.choice(len(z), p=d2 / d2.sum())])
        centres = np.array(centres)
        for _ in range(ITERATIONS):
            assign = ((z[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
            moved = np.array([z[assign == j].mean(0) if (assign == j).any() else centres[j] for j in range(k)])
            if np.allclose(moved, centres):
                break
            centres = moved
        cost = float(((z - centres[assign]) ** 2).sum())
        if cost < best_cost:
            best, best_cost = assign, cost
    return best


def purity(assign: np.ndarray, truth: list[str]) -> float:
    """The share of clips whose label is their cluster's most common one."""
    truth = np.asarray(truth, dtype=object)
    hit = sum(max(np.unique(truth[assign == j], return_counts=True)[1]) for j in np.unique(assign))
    return float(hit / len(assign))


def cluster_purity(world: World) -> dict[str, dict]:
    """Per target: k, the deploy clips the original model calls c, how many of them are the target's own,
    and the k-means purity of those clips against their labels (None with no more clips than k)."""
    pool = Pool.of(world.head, world.deploy_feats)   # "called c" exactly as refinement decides it
    out = {}
    for target in world.targets:
        fine = set(world.fine(target))
        called = np.flatnonzero(pool.called(world.bundle.labels.index(target)))
        labels = [world.deploy[i].label for i in called]
        k = len(fine)
        out[target] = {"k": k, "called_c": int(len(called)), "inside": sum(y in fine for y in labels), "purity": None}
        if len(called) > k:
            x = pool.features[called].astype(np.float64)
            z = (x - x.mean(0)) / (x.std(0) + 1e-6)
            out[target]["purity"] = round(purity(kmeans(z, k, np.random.default_rng(0)), labels), 4)
    return out

