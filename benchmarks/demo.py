"""The main job end to end on the shipped default (`make demo`).

Splits a coarse category of the shipped model A zero-shot (modifier alignment, flat and hierarchical),
then classifies shipped clips of that category with the original and the edited bundles side by side.
Everything goes through the same library calls as `catsplit-compile` and `catsplit-run`.

    python -m benchmarks.demo [--out out/demo] [--seed 0]
    python -m benchmarks.demo --split "Pushing something" --clips models/bundles/samples   # any A target

The default clips (models/bundles/demo_clips: val clips 0-3 of each subcategory of the default split)
were written by `python -m benchmarks.world.write_mp4 --split val --n 4 --out models/bundles/demo_clips
--labels "Showing something behind something" --labels "Showing something next to something" --labels
"Showing something on top of something"` (byte-identical when rerun).
"""
from __future__ import annotations

import csv
import shlex
from pathlib import Path

import click

from catsplit.compiler.compile import compile_split
from catsplit.compiler.options import SplitOptions
from catsplit.runtime import BundleError, Runtime, load_bundle

BUNDLES = Path(__file__).resolve().parents[1] / "models" / "bundles"
DEFAULT_BUNDLE = BUNDLES / "ssv2_split_A_synth"
DEMO_CLIPS = BUNDLES / "demo_clips"


def sample_clips(samples: Path, labels: list[str]) -> list[tuple[Path, str]]:
    """(mp4 path, fine label) of the shipped clips whose label is one of `labels`."""
    with open(samples / "clips.csv", newline="") as f:
        return [(samples / row["path"], row["label"]) for row in csv.DictReader(f) if row["label"] in labels]


def _top1(pred) -> str:
    label, prob = pred.top_k[0]
    return f"{label} ({prob:.2f})"


@click.command()
@click.option("--bundle", "bundle_path", type=click.Path(path_type=Path), default=DEFAULT_BUNDLE,
              show_default=True, help="Bundle to edit.")
@click.option("--split", "coarse", default="Showing something with spatial relation", show_default=True,
              help="Coarse label to split into its group's fine labels (bundle.json `groups`).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("out/demo"), show_default=True,
              help="Where the edited bundles are written (replaced on every run).")
@click.option("--clips", "clips_dir", type=click.Path(file_okay=False, path_type=Path), default=DEMO_CLIPS,
              show_default=True, help="Folder of mp4 clips with a clips.csv (path,label,...) index.")
@click.option("--seed", default=0, show_default=True, help="Seed of modifier alignment.")
def main(bundle_path: Path, coarse: str, out: Path, clips_dir: Path, seed: int) -> None:
    """Split COARSE zero-shot and compare original vs edited predictions on the shipped clips."""
    try:
        bundle = load_bundle(bundle_path)
    except BundleError as e:
        raise click.ClickException(str(e)) from None
    if not (clips_dir / "clips.csv").is_file():
        raise click.ClickException(f"{clips_dir / 'clips.csv'}: no such clip index")
    if not bundle.groups or coarse not in bundle.groups:
        raise click.ClickException(f"{bundle_path}: no group {coarse!r} in bundle.json to split into")
    fine = bundle.groups[coarse]
    clips = sample_clips(clips_dir, fine)
    if not clips:
        raise click.ClickException(f"{clips_dir / 'clips.csv'}: no clips of {coarse!r}'s subcategories")
    spec = {"split": coarse, "into": [{"label": s} for s in fine]}
    click.echo(f"Bundle {bundle_path} ({bundle.num_classes} labels). Splitting {coarse!r} into:")
    for s in fine:
        click.echo(f"  - {s}")

    edited = {}
    for mode in ("flat", "hierarchical"):
        dst = out / mode
        click.echo(f"\n$ catsplit-compile {shlex.quote(str(bundle_path))} --spec SPLIT.json -o {dst} "
                   f"--method ma --mode {mode} --seed {seed}")
        report = compile_split(bundle_path, spec, dst, SplitOptions(method="ma", mode=mode, seed=seed), force=True)
        t = report.record.timings
        click.echo(f"  wrote {dst}: {len(report.labels)} labels, MA in {t.get('ma', 0):.1f} s, "
                   f"total {t['total']:.1f} s; backbone shared (same sha256)")
        edited[mode] = dst

    paths = [str(p) for p, _ in clips]
    runtime = Runtime(bundle_path, provider="auto")
    before = runtime.classify(paths, top_k=1)
    after = {}
    for mode, dst in edited.items():
        runtime.swap_head(dst)  # the backbone session stays loaded
        after[mode] = runtime.classify(paths, top_k=1)

    click.echo(f"\n$ catsplit-run BUNDLE {clips_dir.name}/*.mp4 --top-k 1   (provider: {runtime.provider})\n")
    rows = [("true label [clip]", "original", "edited: MA flat", "edited: MA hierarchical")]
    correct = {mode: 0 for mode in edited}
    for i, (path, label) in enumerate(clips):
        cells = [f"{label} [{path.stem}]", _top1(before[i])]
        for mode in edited:
            pred = after[mode][i]
            ok = pred.top_k[0][0] == label
            correct[mode] += ok
            cells.append(("ok  " if ok else "--  ") + _top1(pred))
        rows.append(tuple(cells))
    widths = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
    for r in rows:
        click.echo(" | ".join(c.ljust(w) for c, w in zip(r, widths)))
    n = len(clips)
    click.echo("\nSubcategory accuracy on these clips: " +
               ", ".join(f"MA {mode} {correct[mode]}/{n}" for mode in edited) +
               f" (chance 1/{len(fine)}). The original model can only say {coarse!r}.")


if __name__ == "__main__":
    main()
