"""The methods of the table. Every edited head is produced by the compiler itself: rows from
`compiler.compile.edit_rows` (the in-memory core of `catsplit-compile`: MR, MA, the coarse/random
starting rows, low-shot isolated fine-tuning), spliced by `compiler.splice.splice`. Only the text-only
baseline is the benchmark's own (the compiler has no such method): a ridge map from label-text
embeddings to head rows, with no modifier structure.

A method is a `Method(key, label, family, ...)` of compiler settings; `Rows` turns it into new rows for
one target and seed.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import numpy as np

from benchmarks.edit_quality.data import World
from catsplit.compiler.compile import (EditTarget, NewRows, Pool, Shots, adapt_rows, edit_rows, finish_rows,
                                      fine_tune_rows)
from catsplit.compiler.groups import resolve_groups
from catsplit.compiler.options import AlignConfig, SplitOptions, UnlabelledConfig
from catsplit.compiler.spec import SplitSpec, parse_spec

RIDGE_GRID = tuple(10.0 ** np.arange(-6, 1.5, 0.5))  # text-only baseline: penalties tried (leave-one-out)
POOL_SIZES = (8, 24, 48)  # unlabelled deploy clips per fine label


@dataclass(frozen=True)
class Method:
    key: str
    label: str             # as printed in the table
    family: str            # "baseline", "zero-shot", "one-shot", "all data", "ablation", "bias offset",
                           # "seeds", "text signal", "unlabelled"
    mode: str = "flat"
    init: str | None = None      # edit_rows init: "ma", "mr", "coarse", "random"; None = text-only
    shots: str | None = None     # None, "one" (one clip per subcategory) or "all" (the whole pool)
    encoder: str = "minilm"
    bias_offset: float = 0.0
    temperature: float | None = None   # hierarchical mode: SplitOptions.temperature (None: the compiler's default)
    unlabelled: int = 0          # deploy clips per fine label to refine/calibrate on (0: none)
    refine: bool = True          # with `unlabelled`: refine then calibrate (False: calibrate only)
    ensemble: int = 1            # MA maps averaged (AlignConfig.ensemble)
    rescale: bool = False        # MA rows at W[c]'s norm (AlignConfig.rescale)
    with_mr: bool = False        # MA rows averaged with MR's (AlignConfig.with_mr)
    seeds: tuple[int, ...] | None = None   # these seeds instead of the run's (a method that needs more)


METHODS = (
    Method("coarse", "coarse copy", "baseline", init="coarse"),
    Method("random", "random rows", "baseline", init="random"),
    Method("text", "text-only (ridge)", "baseline"),
    Method("mr", "MR", "zero-shot", init="mr"),
    Method("ma", "MA (flat)", "zero-shot", init="ma"),
    Method("ma_hier", "MA (hierarchical)", "zero-shot", mode="hierarchical", init="ma"),
    Method("shot_coarse", "one-shot, new rows, coarse init", "one-shot", init="coarse", shots="one"),
    Method("shot_random", "one-shot, new rows, random init", "one-shot", init="random", shots="one"),
    Method("shot_ma", "one-shot, new rows, MA init", "one-shot", init="ma", shots="one"),
    Method("shot_ma_hier", "one-shot, new rows, MA init, hierarchical", "one-shot", mode="hierarchical", init="ma",
           shots="one"),
    # not an edit_rows method: benchmarks/edit_quality/full_model.py trains backbone and head
    Method("full_model", "one-shot, whole model, coarse init", "one-shot", init="coarse", shots="one"),
    Method("all_coarse", "all train clips, new rows, coarse init", "all data", init="coarse", shots="all"),
    Method("ma_use", "MA (flat), USE text encoder", "ablation", init="ma", encoder="use"),
    Method("ma_randtext", "MA (flat), random text vectors", "ablation", init="ma", encoder="random"),
    Method("ma_bias-1", "MA (flat), bias offset -1", "bias offset", init="ma", bias_offset=-1.0),
    Method("ma_bias-2", "MA (flat), bias offset -2", "bias offset", init="ma", bias_offset=-2.0),
    *(Method(f"ma_hier_t{t:g}", f"MA (hierarchical), temperature {t:g}", "hierarchical temperature",
             mode="hierarchical", init="ma", temperature=t) for t in (1.0, 0.5, 0.1)),
    Method("shot_ma_hier_t1", "one-shot, new rows, MA init, hierarchical, temperature 1", "hierarchical temperature",
           mode="hierarchical", init="ma", shots="one", temperature=1.0),
    Method("ma_5seeds", "MA (flat), seeds 0-4", "seeds", init="ma", seeds=(0, 1, 2, 3, 4)),
    Method("ma_ens5", "MA (flat), 5 maps averaged", "text signal", init="ma", ensemble=5),
    Method("ma_rescale", "MA (flat), rows at the coarse row's norm", "text signal", init="ma", rescale=True),
    Method("ma_mr", "MA + MR (flat), MA's rows at the coarse row's norm, averaged with MR's", "text signal",
           init="ma", rescale=True, with_mr=True),
    *(Method(f"ma_cal{n}", f"MA (flat), calibrated, {n} unlabelled clips/label", "unlabelled", init="ma",
             unlabelled=n, refine=False) for n in POOL_SIZES),
    *(Method(f"ma_ref{n}", f"MA (flat), refined + calibrated, {n} unlabelled clips/label", "unlabelled",
             init="ma", unlabelled=n) for n in POOL_SIZES),
    Method("ma_rescale_cal48", "MA (flat), rows at the coarse row's norm, calibrated, 48 unlabelled clips/label",
           "unlabelled", init="ma", rescale=True, unlabelled=48, refine=False),
    Method("ma_mr_cal48", "MA + MR (flat), calibrated, 48 unlabelled clips/label", "unlabelled", init="ma",
           rescale=True, with_mr=True, unlabelled=48, refine=False),
    Method("ma_mr_ref48", "MA + MR (flat), refined + calibrated, 48 unlabelled clips/label", "unlabelled",
           init="ma", rescale=True, with_mr=True, unlabelled=48),
    Method("ma_hier_ref48", "MA (hierarchical), refined, 48 unlabelled clips/label", "unlabelled",
           mode="hierarchical", init="ma", unlabelled=48),
    Method("shot_ma_cal48", "one-shot, MA init, unlabelled negatives + calibrated, 48 clips/label", "unlabelled",
           init="ma", shots="one", unlabelled=48, refine=False),
)
BY_KEY = {m.key: m for m in METHODS}
EDITS = tuple(m for m in METHODS if m.key != "full_model")  # what run_table runs


def spec_of(world: World, target: str) -> SplitSpec:
    """Split the target into its fine labels; modifiers are derived by the compiler (no overrides)."""
    return parse_spec({"split": target, "into": [{"label": y} for y in world.fine(target)]}, f"split of {target}")


def one_shot(world: World, target: str, seed: int) -> np.ndarray:
    """Indices into the target's low-shot pool: one clip per subcategory, a deterministic draw per seed."""
    pool = world.pool[target]
    key = hashlib.sha256(f"{seed}\x1f{target}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(key[:8], "little"))
    picks = []
    for label in world.fine(target):
        idx = [i for i, r in enumerate(pool) if r.label == label]
        picks.append(idx[int(rng.integers(len(idx)))])
    return np.array(picks)


def shots_of(world: World, target: str, seed: int, which: str) -> tuple[np.ndarray, np.ndarray]:
    """(features [n, D] with each clip's views averaged, as compile_split's shot_features does; subcategory
    index [n])."""
    pool = world.pool[target]
    idx = one_shot(world, target, seed) if which == "one" else np.arange(len(pool))
    fine = world.fine(target)
    return world.pool_feats[target][idx].mean(axis=1), np.array([fine.index(pool[i].label) for i in idx])


def ridge_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Ridge map x -> y with intercept; the penalty from RIDGE_GRID by leave-one-out error on the rows
    themselves (closed form, dual), so it is chosen from the head alone, never from the val clips.
    Returns (A [d + 1, D] with the intercept last, the penalty)."""
    xm, ym = x.mean(0), y.mean(0)
    xc, yc = x - xm, y - ym
    gram = xc @ xc.T
    best = None
    for lam in RIDGE_GRID:
        hat = gram @ np.linalg.inv(gram + lam * np.eye(len(x)))
        loo = (yc - hat @ yc) / (1.0 - np.diag(hat))[:, None]
        err = float((loo ** 2).sum())
        if best is None or err < best[0]:
            best = (err, lam)
    lam = best[1]
    a = xc.T @ np.linalg.solve(gram + lam * np.eye(len(x)), yc)
    return np.vstack([a, (ym - xm @ a)[None]]), lam


def text_only_rows(world: World, spec: SplitSpec, encoder, c: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows from a ridge regression fitted on the head (L2-normalised label text embedding -> W[y]),
    with no modifier structure; biases b[c] like every other zero-shot method."""
    def unit(x):
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    a, _ = ridge_fit(unit(encoder.encode(world.bundle.labels).astype(np.float64)), world.w.astype(np.float64))
    rows = unit(encoder.encode(spec.labels).astype(np.float64)) @ a[:-1] + a[-1]
    return rows.astype(np.float32), np.full(len(spec.labels), world.b[c], np.float32)


class Rows:
    """New rows per (method, target, seed), with the zero-shot rows computed once and shared.

    MR/MA rows come from `edit_rows` (flat, no shots, no offset) once per (init, encoder, target, seed)
    and serve every method built on them: the hierarchical edit (edit_rows's zero-shot rows do not
    depend on the mode), one-shot MA init and the unlabelled pool (`fine_tune_rows`, `adapt_rows` and
    `finish_rows` on those rows: the calls edit_rows makes).
    The pool's labels are never read: only its features go in. tests/test_edit_quality.py checks
    that this gives exactly what one edit_rows call with those settings gives. Coarse/random starts are
    cheap and go through edit_rows whole.
    """

    def __init__(self, world: World, encoders: dict, align: AlignConfig = AlignConfig(),
                 groups: dict[str, list[str]] | None = None):
        self.world, self.encoders, self.align = world, encoders, align
        self.groups = groups if groups is not None else resolve_groups(world.bundle)  # default: the bundle's
        self._zero_shot: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._pools: dict[int, Pool] = {}

    def pool(self, per_label: int) -> Pool:
        """The deploy pool of `per_label` clips per label, with the head's logits on it (made once)."""
        if per_label not in self._pools:
            self._pools[per_label] = Pool.of(self.world.head, self.world.unlabelled(per_label))
        return self._pools[per_label]

    def _edit_rows(self, spec: SplitSpec, c: int, method: Method, seed: int, shots: Shots | None = None,
                   **kw) -> tuple[np.ndarray, np.ndarray]:
        w = self.world
        options = SplitOptions(method="mr" if method.init == "mr" else "ma", init=method.init, seed=seed,
                               text_encoder=self.encoders.get(method.encoder, method.encoder),
                               align=dataclasses.replace(self.align, ensemble=method.ensemble,
                                                         rescale=method.rescale, with_mr=method.with_mr),
                               **kw)  # a coarse/random start never loads the encoder: its name will do
        rows = edit_rows(EditTarget(w.bundle, spec, w.head, w.w, w.b, c, self.groups), options, shots)
        return rows.w, rows.b

    def __call__(self, method: Method, target: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """The method's new rows (weights [k, D], biases [k]) for splitting `target`."""
        world = self.world
        spec = spec_of(world, target)
        c = world.bundle.labels.index(target)
        if method.init is None:
            return text_only_rows(world, spec, self.encoders[method.encoder], c)
        shots = Shots(*shots_of(world, target, seed, method.shots)) if method.shots else None
        if method.init not in ("ma", "mr"):
            return self._edit_rows(spec, c, method, seed, mode=method.mode, shots=shots,
                                   bias_offset=method.bias_offset, temperature=method.temperature)
        key = (method.init, method.encoder, method.ensemble, method.rescale, method.with_mr, target, seed)
        if key not in self._zero_shot:
            self._zero_shot[key] = self._edit_rows(spec, c, method, seed)
        # the rest of edit_rows after the zero-shot rows: fine-tuning, the unlabelled pool, finish_rows
        options = SplitOptions(method=method.init, mode=method.mode, init=method.init, seed=seed,
                               bias_offset=method.bias_offset, temperature=method.temperature,
                               unlabelled=UnlabelledConfig(refine=method.refine))
        edit = EditTarget(world.bundle, spec, world.head, world.w, world.b, c, self.groups)
        pool = self.pool(method.unlabelled) if method.unlabelled else None
        rows = NewRows(*self._zero_shot[key], ())
        if shots is not None:
            rows = fine_tune_rows(edit, rows, options, shots, pool)
        if pool is not None:
            rows = adapt_rows(edit, rows, options, pool)
        rows = finish_rows(rows, options)
        return rows.w, rows.b
