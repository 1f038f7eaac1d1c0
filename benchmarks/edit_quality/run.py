"""The harness: every method x target x seed, each edit spliced and scored through onnxruntime."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

from benchmarks.edit_quality import methods as M
from benchmarks.edit_quality.data import World, head_session, run_head
from catsplit.compiler.metrics import TargetScore, score_target
from catsplit.compiler.options import AlignConfig
from catsplit.compiler.splice import splice, spliced_labels


def evaluate(world: World, method: M.Method, target: str, seed: int, rows: M.Rows) -> TargetScore:
    """Compute the method's rows, splice them into the head (an ONNX graph) and score it on every val clip."""
    labels = world.bundle.labels
    c = labels.index(target)
    w_new, b_new = rows(method, target, seed)
    head = splice(world.head, c, w_new, b_new, method.mode, tag="bench")
    logits = run_head(head_session(head), world.val_feats)
    truth, inside = world.truth(target)
    fine = world.fine(target)
    return score_target(target, fine, spliced_labels(labels, c, fine), labels, c, logits, world.original,
                        truth, inside)


@dataclass
class Table:
    """scores[method key][seed] = one TargetScore per target; seconds[method key] = wall time."""

    model: str
    scores: dict[str, dict[int, list[TargetScore]]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def run_table(world: World, methods: Sequence[M.Method], seeds: Sequence[int], encoders: dict,
              progress: bool = False, align: AlignConfig = AlignConfig(),
              groups: dict[str, list[str]] | None = None) -> Table:
    """Every method x seed x target; `groups` replaces the bundle's group scheme (a proposed one)."""
    table = Table(world.model)
    jobs = [(m, s, t) for m in methods for s in (m.seeds or seeds) for t in world.targets]
    it = jobs
    if progress:
        from tqdm import tqdm
        it = tqdm(jobs, desc=f"model {world.model}", leave=False)
    rows = M.Rows(world, encoders, align, groups)
    for method, seed, target in it:
        t0 = time.perf_counter()
        score = evaluate(world, method, target, seed, rows)
        table.scores.setdefault(method.key, {}).setdefault(seed, []).append(score)
        table.seconds[method.key] = table.seconds.get(method.key, 0.0) + time.perf_counter() - t0
    return table
