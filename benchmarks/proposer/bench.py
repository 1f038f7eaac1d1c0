"""Score `catsplit groups propose` (catsplit.compiler.propose) against hand-made group schemes.

Label sets: the authors' SSv2-Split and FineGym-Split schemes over every label of each data set; the
label spaces of the shipped base models A and B of both rendered worlds (what `catsplit groups propose
BUNDLE` sees: collapsed group names plus fine labels) against the authors' scheme stored in the bundle;
and two held-out sets whose grouping we wrote down from public taxonomies before scoring
(heldout.json: 20BN-Jester's gestures, ISU figure skating elements). Parameters are also tuned on
one of the two authors' schemes and tested on the other (leave one data set out), to show how much a
setting fitted to one vocabulary carries to another. For FineGym-Split, `parameter_ceiling` bounds
what any grouping by a fixed set of element parameters can reach (the gym world's parser knows every
label's apparatus, salto direction, shape, twists ...): a greedy search for the key that best fits the
authors' scheme itself.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import fields
from pathlib import Path

from catsplit.compiler.propose import _join_by_embedding, pairwise_agreement, propose_groups

HERE = Path(__file__).parent
GRID = {"min_words": (1, 2, 3), "max_size": (6, 9, 12, 20), "join_threshold": (0.6, 0.7, 0.8, 0.9)}
DEFAULTS = {"min_words": 2, "max_size": 9, "join_threshold": 0.7}


class CachedEncoder:
    """An encoder that embeds each distinct text once (the grid re-proposes the same labels many times)."""

    def __init__(self, encoder):
        self.encoder, self.cache = encoder, {}
        self.name, self.sha256 = encoder.name, encoder.sha256

    def encode(self, texts):
        import numpy as np

        new = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if new:
            self.cache.update(zip(new, np.asarray(self.encoder.encode(new))))
        return np.stack([self.cache[t] for t in texts])


def schemes() -> dict[str, dict[str, list[str]]]:
    """Name -> reference group scheme covering every label to propose for."""
    from benchmarks.world.domain import get

    out = {"SSv2-Split": get("ssv2").scheme()["group_scheme"], "FineGym-Split": get("gym").scheme()["group_scheme"]}
    held = json.loads((HERE / "heldout.json").read_text(encoding="utf-8"))
    out.update({f"held out: {name}": doc["group_scheme"] for name, doc in held.items()})
    return out


def bundle_label_sets() -> dict[str, tuple[list[str], dict[str, list[str]]]]:
    """The shipped base models' label spaces and the authors' scheme their bundles store."""
    from benchmarks.world.domain import get
    from catsplit.runtime.bundle import load_bundle

    out = {}
    for world in ("ssv2", "gym"):
        for model in ("A", "B"):
            b = load_bundle(get(world).bundle(model), verify=False)
            out[f"{get(world).title} model {model} ({len(b.labels)} labels)"] = (b.labels, b.groups)
    return out


def score(labels: list[str], reference: dict[str, list[str]], encoder=None, **params) -> dict[str, float]:
    proposed = propose_groups(labels, encoder, **params)
    return {**pairwise_agreement(proposed, reference), "groups": len(proposed),
            "multi_label_groups": sum(len(v) > 1 for v in proposed.values())}


def similarity_alone(labels: list[str], reference: dict[str, list[str]], encoder,
                     thresholds=(0.5, 0.6, 0.7, 0.8, 0.9)) -> dict:
    """Text similarity without the word rules: average-linkage clusters of the label embeddings, at the
    threshold that fits `reference` best (an optimistic baseline: the threshold is chosen on the answer)."""
    best = None
    for t in thresholds:
        clusters = _join_by_embedding([([y], False) for y in labels], labels, encoder, t, [""] * len(labels))
        s = pairwise_agreement({str(i): m for i, (m, _) in enumerate(clusters)}, reference)
        if best is None or s["f1"] > best["f1"]:
            best = {**s, "threshold": t}
    return best


def labels_of(scheme: dict[str, list[str]]) -> list[str]:
    return [y for members in scheme.values() for y in members]


def grid(reference: dict[str, list[str]], encoder) -> list[tuple[dict, dict]]:
    """(params, score) for every setting of GRID, with the encoder."""
    labels = labels_of(reference)
    return [(p, score(labels, reference, encoder, **p))
            for p in (dict(zip(GRID, v)) for v in itertools.product(*GRID.values()))]


def leave_one_out(grids: dict[str, list[tuple[dict, dict]]]) -> list[dict]:
    """Tune on one scheme (best F1 there), report the other scheme's F1 at that setting."""
    out = []
    for tuned, test in itertools.permutations(grids, 2):
        params, s = max(grids[tuned], key=lambda ps: ps[1]["f1"])
        held = next(t for p, t in grids[test] if p == params)
        best_test = max(t["f1"] for _, t in grids[test])
        out.append({"tuned_on": tuned, "params": params, "f1_tuned": s["f1"], "tested_on": test,
                    "f1_tested": held["f1"], "precision_tested": held["precision"], "recall_tested": held["recall"],
                    "best_f1_on_test_any_setting": best_test})
    return out


def parameter_ceiling() -> list[tuple[float, list[str]]]:
    """Greedy forward selection of the gym parser's element parameters whose joint value best reproduces
    FineGym-Split's groups (fitted to the reference itself: an upper bound for parameter-keyed rules)."""
    from benchmarks.gym.parse import Element, parse
    from benchmarks.world.domain import get

    reference = get("gym").scheme()["group_scheme"]
    params = {y: parse(y).params() for y in labels_of(reference)}

    def f1(key: list[str]) -> float:
        groups: dict[tuple, list[str]] = {}
        for y, p in params.items():
            groups.setdefault(tuple(p[k] for k in key), []).append(y)
        return pairwise_agreement({str(k): v for k, v in groups.items()}, reference)["f1"]

    chosen: list[str] = []
    path, best = [], 0.0
    names = [f.name for f in fields(Element)]
    while True:
        gain, name = max((f1(chosen + [n]), n) for n in names if n not in chosen)
        if gain <= best:
            return path
        best, chosen = gain, chosen + [name]
        path.append((gain, list(chosen)))
