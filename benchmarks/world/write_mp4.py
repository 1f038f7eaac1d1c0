"""Rendered clips as real H.264 mp4 files (PyAV), with a CSV index of their fine labels.

    python -m benchmarks.world.write_mp4 --split val --out out/world/val_mp4 [--seed 0] [--n 16] [--labels ...]
    python -m benchmarks.world.write_mp4 --split deploy --n 4 --out out/world/deploy_mp4   # an unlabelled pool
    python -m benchmarks.world.write_mp4 --samples --out models/bundles/samples   # the shipped sample clips
    python -m benchmarks.world.write_mp4 --world gym --samples --per-target 1 --out models/bundles/finegym_samples

Writes <out>/<label slug>/<split>_<index>.mp4 and <out>/clips.csv (path, label, split, index, seed),
paths relative to <out>.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import av
import click
import numpy as np
from tqdm import tqdm

from benchmarks.world.contact_sheet import slug
from benchmarks.world.domain import WORLDS, get
from benchmarks.world.splits import ClipRef, WorldSplits

FPS = 12
CSV_FIELDS = ("path", "label", "split", "index", "seed")


def write_mp4(frames: np.ndarray, path: str | os.PathLike, fps: int = FPS, crf: int = 18) -> None:
    """Encode uint8 RGB frames [T, H, W, 3] (even H, W) as H.264 yuv420p; every frame is kept."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium", "tune": "zerolatency"}
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")))
        container.mux(stream.encode(None))
    os.replace(tmp, path)


def write_clips(splits: WorldSplits, refs: list[ClipRef], out: Path, progress: bool = False) -> Path:
    """Render and encode refs under out; returns the CSV index path."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for ref in tqdm(refs, desc="mp4", disable=not progress):
        rel = Path(slug(ref.label)) / f"{ref.split}_{ref.index:03d}.mp4"
        write_mp4(splits.render(ref), out / rel)
        rows.append({"path": rel.as_posix(), "label": ref.label, "split": ref.split, "index": ref.index,
                     "seed": splits.seed})
    index = out / "clips.csv"
    with open(index, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        w.writerows(rows)
    return index


def sample_refs(splits: WorldSplits, per_target: int = 2) -> list[ClipRef]:
    """The shipped sample clips: for each of model A's split targets, val clip 0 of `per_target` of its
    fine labels, spread over the group."""
    refs = []
    for group in splits.world.groups_a:
        fine = splits.world.rendered_groups()[group]
        picks = sorted({round(k * (len(fine) - 1) / max(per_target - 1, 1)) for k in range(per_target)})
        refs += [ClipRef(fine[k], "val", 0) for k in picks]
    return refs


def read_index(path: str | os.PathLike) -> list[dict]:
    """Rows of a clips.csv, with `path` resolved against the CSV's directory."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["path"] = str(path.parent / r["path"])
        r["index"], r["seed"] = int(r["index"]), int(r["seed"])
    return rows


@click.command()
@click.option("--world", "world_name", type=click.Choice(list(WORLDS)), default="ssv2", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--split", type=click.Choice(["train", "val", "deploy"]), default="val", show_default=True,
              help="deploy: fresh clips that neither training nor val uses (an unlabelled pool).")
@click.option("--seed", default=0, show_default=True)
@click.option("--n", "n", default=16, show_default=True, help="Clips per label.")
@click.option("--labels", "only", multiple=True, help="Labels to write (default: every rendered label).")
@click.option("--samples", is_flag=True,
              help="Write the shipped sample set instead (val clip 0 of --per-target labels of each A target).")
@click.option("--per-target", default=2, show_default=True, help="Sample clips per split target of model A.")
def main(world_name: str, out: Path, split: str, seed: int, n: int, only: tuple[str, ...], samples: bool,
         per_target: int) -> None:
    """Write the split's clips as H.264 mp4 files plus clips.csv."""
    world = get(world_name)
    if samples:
        splits = WorldSplits(seed=seed, world=world)
        click.echo(str(write_clips(splits, sample_refs(splits, per_target), out, progress=True)))
        return
    labels = list(only) or world.fine_labels()
    bad = [lab for lab in labels if lab not in world.fine_labels()]
    if bad:
        raise click.ClickException(f"not a rendered label: {bad[0]!r}")
    splits = WorldSplits(seed=seed, n_train=n, n_val=n, world=world)
    index = write_clips(splits, splits.clips(split, labels, n), out, progress=True)
    click.echo(str(index))


if __name__ == "__main__":
    main()
