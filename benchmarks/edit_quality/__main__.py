"""python -m benchmarks.edit_quality: regenerate benchmarks/results/edit_quality.{md,json,png}."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from benchmarks.edit_quality.bench import run_benchmark, write_results
from benchmarks.edit_quality.methods import BY_KEY

BUNDLES = Path("models/bundles")


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
@click.option("--models", default="A,B", show_default=True, help="Which models (comma separated).")
@click.option("--bundle-a", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=BUNDLES / "ssv2_split_A_synth", show_default=True)
@click.option("--bundle-b", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=BUNDLES / "ssv2_split_B_synth", show_default=True)
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
def main(models, bundle_a, bundle_b, seeds, methods, views, n_val, n_train, targets, full_n_val, cache, jobs,
         from_json, out):
    """Score every method of docs/method.md §6 on models A and B of the rendered SSv2-Split world."""
    if from_json is not None:
        doc = json.loads(from_json.read_text())
        for path in write_results(doc, out):
            click.echo(path)
        return
    paths = {"A": bundle_a, "B": bundle_b}
    if any(m not in paths for m in _csv(models)):
        raise click.BadParameter(f"{models!r}: models are A and/or B", param_hint="--models")
    bundles = {m: paths[m] for m in _csv(models)}
    unknown = [k for k in _csv(methods) if k not in BY_KEY]
    if unknown:
        raise click.BadParameter(f"unknown method(s) {unknown}; known: {', '.join(BY_KEY)}")
    command = "python -m benchmarks.edit_quality " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    doc = run_benchmark(bundles, [int(s) for s in _csv(seeds)], _csv(methods), views, n_val, n_train,
                        targets.split(";") if targets else None, full_n_val, cache, progress=True,
                        command=command.strip(), jobs=jobs)
    for path in write_results(doc, out):
        click.echo(path)


if __name__ == "__main__":
    main()
