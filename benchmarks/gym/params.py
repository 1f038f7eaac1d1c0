"""Does every parameter of a label change what is seen? Two checks, per parameter.

1. Motion: for each pair of rendered labels whose parameters differ in exactly that one field, the
   elements are choreographed with every nuisance draw at a fixed value (`Neutral`), projected by one
   fixed side-on camera into the 56 px frame, and compared: the mean distance between corresponding
   joints in the frame where the two differ most, in pixels. A parameter the renderer ignored gives 0.
2. Learned: on a trained model's val clips, how often a clip of one label of such a pair is predicted
   as the other (both labels must be classes of the model, i.e. fine in its label space).

    python -m benchmarks.gym.params                                # motion table
    python -m benchmarks.gym.params --run out/gym/A --run out/gym/B   # plus the models' confusions
"""
from __future__ import annotations

from dataclasses import fields
from itertools import combinations
from pathlib import Path

import click
import numpy as np

from benchmarks.gym.labels import WORLD
from benchmarks.gym.motion import choreograph
from benchmarks.gym.parse import Element, parse
from benchmarks.gym.render import FRAMES, SIZE, Camera, look_at

PARAMETERS = tuple(f.name for f in fields(Element))


class Neutral:
    """Stands in for the clip's generator: every draw at its middle (or first) value."""

    def uniform(self, a: float = 0.0, b: float = 1.0, size=None):
        return (a + b) / 2 if size is None else np.full(size, (a + b) / 2)

    def random(self) -> float:
        return 0.75      # above every "with probability p" threshold: the default branch

    def integers(self, lo: int, hi: int | None = None) -> int:
        return 0 if hi is None else lo


def single_parameter_pairs(labels: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Parameter -> label pairs whose parsed parameters differ in that field only."""
    params = {y: parse(y).params() for y in labels}
    out: dict[str, list[tuple[str, str]]] = {p: [] for p in PARAMETERS}
    for a, b in combinations(labels, 2):
        diff = [k for k in PARAMETERS if params[a][k] != params[b][k]]
        if len(diff) == 1:
            out[diff[0]].append((a, b))
    return out


def trajectory(label: str) -> np.ndarray:
    """Image positions [FRAMES, J, 2] of the label's joints, nuisance-free, from one fixed side camera."""
    choreo = choreograph(parse(label), Neutral())
    pts = choreo.solve(np.linspace(0.0, 1.0, FRAMES))
    target = np.array([0.0, 1.5, 0.0])
    pos = np.broadcast_to(target + np.array([0.0, 0.3, 16.0]), (FRAMES, 3)).copy()
    cam = Camera(pos, look_at(pos, np.broadcast_to(target, (FRAMES, 3)).copy()), SIZE * 16.0 / 5.0)
    return np.stack([cam.project(pts[i], i)[0] for i in range(FRAMES)])


def motion_effects(labels: list[str]) -> dict[str, list[tuple[str, str, float]]]:
    """Parameter -> (label a, label b, difference in pixels) for every single-parameter pair: the mean
    distance between corresponding joints in the frame where they differ most."""
    cache: dict[str, np.ndarray] = {}

    def traj(y):
        if y not in cache:
            cache[y] = trajectory(y)
        return cache[y]

    return {p: [(a, b, float(np.linalg.norm(traj(a) - traj(b), axis=-1).mean(axis=1).max())) for a, b in pairs]
            for p, pairs in single_parameter_pairs(labels).items()}


def confusions(run: Path) -> dict[str, tuple[int, float]]:
    """Parameter -> (pairs both fine in the model, mean rate at which a val clip of one label of a pair
    is predicted as the other) for a trained run directory (benchmarks.world.train)."""
    from benchmarks.world.splits import WorldSplits, frame_arrays
    from benchmarks.world.train import load_trained, predict

    net, metrics = load_trained(run)
    classes = metrics["classes"]
    splits = WorldSplits(metrics["seed"], metrics["n_train"], metrics["n_val"], WORLD)
    refs = splits.clips("val")
    pred = predict(net, frame_arrays(splits, refs, Path("out/cache")), WORLD.preprocess).argmax(1)
    by_label: dict[str, np.ndarray] = {}
    for r, p in zip(refs, pred):
        by_label.setdefault(r.label, []).append(classes[p])
    out = {}
    for param, pairs in single_parameter_pairs(WORLD.fine_labels()).items():
        rates = [np.mean([q == b for q in by_label[a]] + [q == a for q in by_label[b]])
                 for a, b in pairs if a in classes and b in classes]
        out[param] = (len(rates), float(np.mean(rates)) if rates else float("nan"))
    return out


def table(labels: list[str], runs: tuple[Path, ...] = ()) -> str:
    """Markdown: per parameter, its pairs, the smallest / median motion difference, the models' confusion."""
    effects = motion_effects(labels)
    conf = [confusions(r) for r in runs]
    head = "| parameter | label pairs differing only in it | largest per-frame joint difference, px: min / median | " + \
        "".join(f"model {r.name}: pairs, confusion | " for r in runs)
    lines = [head, "|" + "---|" * (3 + len(runs))]
    for p in PARAMETERS:
        es = effects[p]
        if not es:
            continue
        d = [e for _, _, e in es]
        cells = [f"{n}, {100 * c:.1f}%" if n else "0, -" for n, c in (cf[p] for cf in conf)]
        lines.append(f"| {p} | {len(es)} | {min(d):.1f} / {np.median(d):.1f} | " + " | ".join(cells) +
                     (" |" if cells else ""))
    return "\n".join(lines)


@click.command()
@click.option("--run", "runs", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A trained run directory (model.pt, metrics.json); adds its confusion per parameter.")
@click.option("--pairs", is_flag=True, help="Also list every pair with its motion difference.")
def main(runs: tuple[Path, ...], pairs: bool) -> None:
    """Print the per-parameter checks of the rendered gym world as markdown."""
    labels = WORLD.fine_labels()
    click.echo(table(labels, runs))
    if pairs:
        for p, es in motion_effects(labels).items():
            for a, b, e in sorted(es, key=lambda x: x[2]):
                click.echo(f"{p}\t{e:.2f}\t{a}\t{b}")


if __name__ == "__main__":
    main()
