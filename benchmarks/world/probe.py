"""Does the method's premise hold in the rendered world? Cosines between head modifier vectors.

    python -m benchmarks.world.probe [--a models/bundles/ssv2_split_A_synth] [--b models/bundles/ssv2_split_B_synth]

For every group with >= 2 fine rows in a head, v_y = W[y] - mean of the group's rows (docs/method.md §1).
Modifier texts come from the compiler's derivation (e.g. "from left to right", "behind something").
Printed, no threshold (a diagnostic):

1. within each model: mean cosine of modifier vectors of *different* groups sharing a modifier text
   (Putting/Holding/Spilling "behind something" in A's dictionary) vs pairs whose texts differ;
2. across models, as an edit of model A would use them: model B's fine vectors of A's split targets
   (v_B("Pushing something from left to right")) against model A's dictionary vectors with the same
   modifier (v_A("Pulling something from left to right")). The two backbones were trained apart, so
   their feature spaces are first aligned by least squares on features of the same val clips
   (f_B ~ f_A P, so a B row w maps to P w in A's space); unaligned cosines are printed too.
"""
from __future__ import annotations

from itertools import combinations
from pathlib import Path

import click
import numpy as np

from benchmarks.world.labels import rendered_groups
from benchmarks.world.splits import PREPROCESS, WorldSplits, frame_arrays
from catsplit.compiler.groups import modifiers
from catsplit.compiler.head import load_head, read_rows
from catsplit.runtime import Runtime
from catsplit.runtime.video import preprocess_clip

BUNDLES = Path(__file__).resolve().parents[2] / "models" / "bundles"


def modifier_vectors(labels: list[str], w: np.ndarray) -> dict[str, tuple[str, np.ndarray]]:
    """label -> (group, v_y) for every label whose group has >= 2 rows in this head."""
    index = {y: i for i, y in enumerate(labels)}
    out = {}
    for group, members in rendered_groups().items():
        rows = [y for y in members if y in index]
        if len(rows) < 2:
            continue
        proto = w[[index[y] for y in rows]].mean(axis=0)
        for y in rows:
            out[y] = (group, w[index[y]] - proto)
    return out


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def within(vecs: dict[str, tuple[str, np.ndarray]], mods: dict[str, str]) -> tuple[list, float]:
    """Cross-group pairs with the same modifier text, and the mean cosine of cross-group pairs whose texts differ."""
    same, other = [], []
    for (y1, (g1, v1)), (y2, (g2, v2)) in combinations(vecs.items(), 2):
        if g1 == g2:
            continue
        (same if mods[y1] == mods[y2] else other).append((y1, y2, cos(v1, v2)))
    return same, float(np.mean([c for *_, c in other])) if other else float("nan")


def alignment(rt_a: Runtime, rt_b: Runtime, n_clips: int = 6, seed: int = 0) -> np.ndarray:
    """P [D_A, D_B] with f_B ~ f_A P, fit on the val clips of every rendered label."""
    splits = WorldSplits(seed=seed, n_val=n_clips)
    frames = frame_arrays(splits, splits.clips("val"))
    x = np.concatenate([preprocess_clip(f, PREPROCESS) for f in frames])
    fa, fb = rt_a.features(x), rt_b.features(x)
    fa1 = np.concatenate([fa, np.ones((len(fa), 1), np.float32)], axis=1)
    p, *_ = np.linalg.lstsq(fa1, fb, rcond=None)
    return p[:-1]


def probe(bundle_a: Path, bundle_b: Path, log=print) -> dict:
    rt_a, rt_b = Runtime(bundle_a, provider="cpu"), Runtime(bundle_b, provider="cpu")
    mods = modifiers(rendered_groups())
    va, vb = (modifier_vectors(rt.labels, read_rows(load_head(rt.bundle.head_path))[0]) for rt in (rt_a, rt_b))
    result = {}
    for name, vecs in (("A", va), ("B", vb)):
        same, base = within(vecs, mods)
        result[f"within_{name}"] = {"same_modifier": same, "different_modifier_mean": base}
        log(f"\n== model {name}: cross-group pairs sharing a modifier ({len(same)}), cosine of v_y ==")
        for y1, y2, c in sorted(same, key=lambda s: -s[2]):
            log(f"  {c:+.3f}  [{mods[y1]}]  {y1}  <->  {y2}")
        if same:
            log(f"  mean same-modifier {np.mean([c for *_, c in same]):+.3f} vs different-modifier {base:+.3f}")
    p = alignment(rt_a, rt_b)
    pairs = []
    for yb, (gb, v_b) in vb.items():
        for ya, (ga, v_a) in va.items():
            if mods[yb] == mods[ya]:
                pairs.append((yb, ya, cos(p @ v_b, v_a), cos(v_b, v_a) if len(v_b) == len(v_a) else float("nan")))
    others = [cos(p @ v_b, v_a) for yb, (_, v_b) in vb.items() for ya, (_, v_a) in va.items() if mods[yb] != mods[ya]]
    result["across"] = {"pairs": pairs, "different_modifier_mean": float(np.mean(others))}
    log(f"\n== v_B (target's fine label, model B, aligned to A) vs v_A (A's dictionary), same modifier ({len(pairs)}) ==")
    log("  aligned  raw     modifier / B label <-> A label")
    for yb, ya, c, raw in sorted(pairs, key=lambda s: -s[2]):
        log(f"  {c:+.3f}  {raw:+.3f}  [{mods[yb]}]  {yb}  <->  {ya}")
    if pairs:
        log(f"  mean aligned same-modifier {np.mean([c for _, _, c, _ in pairs]):+.3f} vs "
            f"different-modifier {np.mean(others):+.3f}")
    return result


@click.command()
@click.option("--a", "bundle_a", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=BUNDLES / "ssv2_split_A_synth", show_default=True)
@click.option("--b", "bundle_b", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=BUNDLES / "ssv2_split_B_synth", show_default=True)
def main(bundle_a: Path, bundle_b: Path) -> None:
    """Print modifier-vector cosines within and across the two base models."""
    probe(bundle_a, bundle_b, log=click.echo)


if __name__ == "__main__":
    main()
