"""Contact sheets: one PNG per label, rows = clips, columns = frames, to check labels by eye.

    python -m benchmarks.world.contact_sheet --out out/sheets [--labels "Pushing something from left to right" ...]
    python -m benchmarks.world.contact_sheet --world gym --out out/gym_sheets [--labels ...]
    python -m benchmarks.world.contact_sheet --world gym --rows 1 --labels ... --labels ... --one sheet.png
"""
from __future__ import annotations

import re
from pathlib import Path

import click
import numpy as np
from PIL import Image
from tqdm import tqdm

from benchmarks.world.domain import WORLDS, Domain, get
from benchmarks.world.labels import WORLD as SSV2


def sheet(label: str, seed: int = 0, split: str = "val", rows: int = 4, every: int = 2, zoom: int = 2,
          world: Domain = SSV2) -> Image.Image:
    """A grid image: `rows` clips of `label`, every `every`-th frame, magnified `zoom` times."""
    strips = []
    for i in range(rows):
        frames = world.render(label, seed, split, i)[::every]
        pad = np.full((frames.shape[1], 2, 3), 255, np.uint8)
        strips.append(np.concatenate([np.concatenate([f, pad], axis=1) for f in frames], axis=1))
        strips.append(np.full((2, strips[-1].shape[1], 3), 255, np.uint8))
    grid = np.concatenate(strips)
    return Image.fromarray(grid).resize((grid.shape[1] * zoom, grid.shape[0] * zoom), Image.NEAREST)


def slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:90]


@click.command()
@click.option("--world", "world_name", type=click.Choice(list(WORLDS)), default="ssv2", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="One PNG per label here.")
@click.option("--labels", "only", multiple=True, help="Labels to draw (default: every rendered label).")
@click.option("--seed", default=0, show_default=True)
@click.option("--split", type=click.Choice(["train", "val"]), default="val", show_default=True)
@click.option("--rows", default=4, show_default=True, help="Clips per sheet.")
@click.option("--every", default=2, show_default=True, help="Draw every n-th frame.")
@click.option("--zoom", default=2, show_default=True, help="Magnify frames this many times.")
@click.option("--one", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write one PNG here (256-colour palette) with every label's sheet stacked, not one per label.")
def main(world_name: str, out: Path | None, only: tuple[str, ...], seed: int, split: str, rows: int, every: int,
         zoom: int, one: Path | None) -> None:
    """Write <out>/<label slug>.png for each label (or all of them into --one)."""
    world = get(world_name)
    labels = list(only) or world.fine_labels()
    unknown = [lab for lab in labels if lab not in world.fine_labels()]
    if unknown:
        raise click.ClickException(f"not a rendered label: {unknown[0]!r}")
    sheets = (sheet(label, seed, split, rows, every, zoom, world) for label in tqdm(labels, desc="contact sheets"))
    if one is not None:
        grid = np.concatenate([np.asarray(s) for s in sheets])
        one.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).quantize(256).save(one, optimize=True)   # a palette keeps committed sheets small
        return
    if out is None:
        raise click.UsageError("give --out DIR or --one FILE")
    out.mkdir(parents=True, exist_ok=True)
    for label, image in zip(labels, sheets):
        image.save(out / f"{slug(label)}.png")


if __name__ == "__main__":
    main()
