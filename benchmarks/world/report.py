"""Markdown accuracy report of trained world models (from their runs' metrics.json).

    python -m benchmarks.world.report out/world/A out/world/B > tables.md
    python -m benchmarks.world.report --samples models/bundles/samples   # writes samples/expected.json
    python -m benchmarks.world.report --world gym --samples models/bundles/finegym_samples out/gym/A out/gym/B
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from benchmarks.world.domain import WORLDS, Domain, get
from benchmarks.world.labels import WORLD as SSV2
from benchmarks.world.write_mp4 import read_index


def model_section(metrics: dict) -> str:
    m = metrics
    groups = get(m.get("world", "ssv2")).rendered_groups()
    lines = [
        f"### Model {m['model']}: val top-1 {100 * m['val_top1']:.1f}% ({len(m['classes'])} classes)",
        "",
        f"- command: `{m['command']}`",
        f"- seed {m['seed']}, {m['epochs']} epochs, batch {m['batch']}, lr {m['lr']}, "
        f"{m['n_train']} train / {m['n_val']} val clips per fine label, torch {m['torch']}, "
        f"{m['threads']} threads, {m['train_seconds'] / 60:.1f} min of training, {m['date']}",
        "",
        "| epoch | loss | train acc | val acc | seconds |",
        "|---:|---:|---:|---:|---:|",
    ]
    for h in m["history"]:
        lines.append(f"| {h['epoch']} | {h['loss']:.3f} | {100 * h['train_acc']:.1f} | {100 * h['val_acc']:.1f} "
                     f"| {h['seconds']:.0f} |")
    lines += ["", "| class | kind | val acc |", "|---|---|---:|"]
    for c in m["classes"]:
        kind = f"collapsed group ({len(groups[c])} fine)" if c in groups and len(groups[c]) > 1 else "fine"
        lines.append(f"| {c} | {kind} | {100 * m['per_class'][c]:.0f} |")
    return "\n".join(lines) + "\n"


def score_samples(samples: Path, world: Domain = SSV2) -> dict:
    """Model A's top-1 on the shipped sample mp4s, through the runtime (what catsplit-run does)."""
    from catsplit.runtime import Runtime

    bundle = world.bundle("A")
    rows = read_index(samples / "clips.csv")
    rt = Runtime(bundle, provider="cpu")
    preds = rt.classify([r["path"] for r in rows], top_k=1)
    truth = world.class_of("A")
    hits = [p.error is None and p.top_k[0][0] == truth[r["label"]] for p, r in zip(preds, rows)]
    return {"bundle": bundle.name, "backbone_sha256": rt.bundle.files["backbone.onnx"], "clips": len(rows),
            "model_A_correct": int(sum(hits)), "model_A_top1": sum(hits) / len(rows),
            "wrong": [{"clip": Path(r["path"]).relative_to(samples).as_posix(), "truth": truth[r["label"]],
                       "predicted": p.top_k[0][0] if p.top_k else p.error}
                      for p, r, h in zip(preds, rows, hits) if not h]}


@click.command()
@click.argument("runs", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--world", "world_name", type=click.Choice(list(WORLDS)), default="ssv2", show_default=True,
              help="The world whose model A scores --samples.")
@click.option("--samples", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Score model A on this sample set and write its expected.json.")
def main(runs: tuple[Path, ...], world_name: str, samples: Path | None) -> None:
    """Print one markdown section per run directory."""
    if samples is not None:
        result = score_samples(samples, get(world_name))
        (samples / "expected.json").write_text(json.dumps(result, indent=1) + "\n")
        click.echo(json.dumps(result, indent=1))
    for run in runs:
        click.echo(model_section(json.loads((run / "metrics.json").read_text())))


if __name__ == "__main__":
    main()
