"""python -m benchmarks.edit_quality: regenerate benchmarks/results/edit_quality.{md,json,png}.

    python -m benchmarks.edit_quality                                   # SSv2-Split-Synth, the authors' groups
    python -m benchmarks.edit_quality --world gym --views 1x3 --n-val 6 --n-train 8 --methods ...  (gym_models.md)
    python -m benchmarks.edit_quality --groups proposed --methods mr,ma,ma_hier,shot_ma   # the proposer's groups
"""
from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import click

from benchmarks.edit_quality.bench import run_benchmark, write_results
from benchmarks.edit_quality.methods import BY_KEY
from benchmarks.world.domain import WORLDS, get


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _views(ctx, param, value: str) -> tuple[int, int]:
    """CLIPSxCROPS -> (clips, crops); a bad value gets click's one-line usage error, not a traceback."""
    try:
        clips, crops = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not CLIPSxCROPS, e.g. 2x3") from None
    return clips, crops


@click.command()
@click.option("--world", "world_name", type=click.Choice(list(WORLDS)), default="ssv2", show_default=True,
              help="SSv2-Split-Synth or FineGym-Split-Synth.")
@click.option("--groups", "scheme", type=click.Choice(["authors", "proposed"]), default="authors", show_default=True,
              help="Learn from the authors' group scheme (the bundle's) or from `catsplit groups propose`'s.")
@click.option("--models", default="A,B", show_default=True, help="Which models (comma separated).")
@click.option("--bundle-a", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Model A's bundle (default: the world's shipped model A).")
@click.option("--bundle-b", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Model B's bundle (default: the world's shipped model B).")
@click.option("--seeds", default="0,1,2", show_default=True)
@click.option("--methods", default=",".join(BY_KEY), show_default=True, help="Method keys (comma separated).")
@click.option("--views", default="2x3", show_default=True, callback=_views,
              help="Temporal clips x spatial crops per video.")
@click.option("--n-val", type=int, default=None, help="Val clips per fine label (default: all of the split).")
@click.option("--n-train", type=int, default=None, help="Low-shot pool clips per subcategory (default: all).")
@click.option("--targets", default=None, help="Only these split targets (';' separated).")
@click.option("--full-n-val", default=4, show_default=True,
              help="Val clips per label scored by the whole-model fine-tuning row (it recomputes features).")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Feature cache (default $CATSPLIT_CACHE/edit_quality).")
@click.option("--jobs", default=2, show_default=True, help="Models scored in parallel processes.")
@click.option("--from-json", "from_json", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Only re-render the .md and .png from a results .json written earlier.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("benchmarks/results/edit_quality.md"), show_default=True)
def main(world_name, scheme, models, bundle_a, bundle_b, seeds, methods, views, n_val, n_train, targets, full_n_val,
         cache, jobs, from_json, out):
    """Score every method of docs/method.md §6 on models A and B of a rendered world (SSv2-Split-Synth by default)."""
    if from_json is not None:
        doc = json.loads(from_json.read_text())
        for path in write_results(doc, out):
            click.echo(path)
        return
    world = get(world_name)
    shipped = {m: Path(os.path.relpath(world.bundle(m))) for m in "AB"}   # as the results file shows it
    paths = {"A": bundle_a or shipped["A"], "B": bundle_b or shipped["B"]}
    if any(m not in paths for m in _csv(models)):
        raise click.BadParameter(f"{models!r}: models are A and/or B", param_hint="--models")
    bundles = {m: paths[m] for m in _csv(models)}
    unknown = [k for k in _csv(methods) if k not in BY_KEY]
    if unknown:
        raise click.BadParameter(f"unknown method(s) {unknown}; known: {', '.join(BY_KEY)}")
    command = "python -m benchmarks.edit_quality " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    doc = run_benchmark(bundles, [int(s) for s in _csv(seeds)], _csv(methods), views, n_val, n_train,
                        targets.split(";") if targets else None, full_n_val, cache, progress=True,
                        command=command.strip(), jobs=jobs, world=world_name, scheme=scheme)
    for path in write_results(doc, out):
        click.echo(path)


if __name__ == "__main__":
    main()
