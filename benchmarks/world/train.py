"""Train base model A or B of a rendered world (SSv2-Split-Synth, or FineGym-Split-Synth with --world gym) on CPU.

    python -m benchmarks.world.train --model A --out out/world/A [--bundle models/bundles/ssv2_split_A_synth]
    python -m benchmarks.world.train --world gym --model A --out out/gym/A [--bundle ...]

Model A's classes: the rendered subset-A groups collapsed to their group names, every subset-B label
and singleton fine (B: the mirror). Training clips are the runtime's own sampled frames of the
rendered clips (`splits.frame_arrays`) and go through the runtime's preprocessing (float, /255, crop,
normalise; the resize is the identity at the rendered size), with a random crop offset as the only
augmentation beyond the renderer's own nuisance factors. Val accuracy is measured on the centre
crop, the runtime's single view. Seeded; with the same seed, torch build and thread count the run
is repeatable.
"""
from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import click
import numpy as np
import torch
from torch import nn

from benchmarks.world.domain import WORLDS, Domain, get
from benchmarks.world.labels import WORLD as SSV2
from benchmarks.world.splits import PREPROCESS, WorldSplits, frame_arrays
from catsplit.models.catnet import Backbone, CatNet, catnet_s
from catsplit.runtime.bundle import Preprocess


def to_input(frames: torch.Tensor, pre: Preprocess, top: int, left: int) -> torch.Tensor:
    """uint8 [B, T, H, W, 3] (H, W = pre.resize) -> float [B, 3, T, crop, crop], as the runtime does."""
    c = pre.crop
    x = frames[:, :, top:top + c, left:left + c].float() / 255.0
    mean = torch.tensor(pre.mean, dtype=torch.float32)
    std = torch.tensor(pre.std, dtype=torch.float32)
    return ((x - mean) / std).permute(0, 4, 1, 2, 3).contiguous(memory_format=torch.channels_last_3d)


def centre(pre: Preprocess) -> int:
    return int(round((pre.resize - pre.crop) / 2.0))


def save_checkpoint(net: CatNet, classes: list[str], metrics: dict, path: Path) -> None:
    """Plain tensors, strings and numbers only, so `torch.load(weights_only=True)` (catsplit export) reads it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": net.state_dict(), "classes": classes, "metrics": metrics}, path)


def predict(net: CatNet, frames: np.ndarray, pre: Preprocess = PREPROCESS, batch: int = 128) -> np.ndarray:
    """Logits [N, C] of uint8 frames [N, T, H, W, 3] on the centre crop."""
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(frames), batch):
            x = to_input(torch.from_numpy(frames[i:i + batch]), pre, centre(pre), centre(pre))
            out.append(net(x).numpy())
    return np.concatenate(out)


def per_class(pred: np.ndarray, y: np.ndarray, classes: list[str]) -> dict[str, float]:
    return {c: float((pred[y == k] == k).mean()) for k, c in enumerate(classes) if (y == k).any()}


def train(model: str, out: Path, seed: int = 0, epochs: int = 12, batch: int = 48, lr: float = 1.5e-3,
          n_train: int = 48, n_val: int = 16, threads: int = 2, cache: Path | None = Path("out/cache"),
          log=print, world: Domain = SSV2) -> dict:
    """Train, evaluate and save `out/model.pt` and `out/metrics.json`; returns the metrics."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    splits = WorldSplits(seed=seed, n_train=n_train, n_val=n_val, world=world)
    classes = world.label_space(model)
    index = {c: k for k, c in enumerate(classes)}
    cls = world.class_of(model)
    refs_tr, refs_va = splits.clips("train"), splits.clips("val")
    t0 = time.time()
    x_tr = frame_arrays(splits, refs_tr, cache, progress=True)
    x_va = frame_arrays(splits, refs_va, cache, progress=True)
    y_tr = np.array([index[cls[r.label]] for r in refs_tr])
    y_va = np.array([index[cls[r.label]] for r in refs_va])
    log(f"data: {len(refs_tr)} train / {len(refs_va)} val clips, {len(classes)} classes, "
        f"{time.time() - t0:.0f}s to render or load")

    # classes that collapse several fine labels have more clips: weight the loss by inverse frequency
    counts = np.bincount(y_tr, minlength=len(classes)).astype(np.float64)
    weight = torch.tensor((counts.mean() / counts) ** 0.5, dtype=torch.float32)
    net = catnet_s(len(classes)).to(memory_format=torch.channels_last_3d)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.05)
    steps = epochs * (len(x_tr) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=0.1)
    pre = world.preprocess
    slack = pre.resize - pre.crop
    history = []
    t_train = time.time()
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(len(x_tr))
        tot, correct, seen = 0.0, 0, 0
        t_ep = time.time()
        for i in range(0, len(order) - batch + 1, batch):
            idx = np.sort(order[i:i + batch])
            top, left = (int(v) for v in rng.integers(0, slack + 1, 2))
            x = to_input(torch.from_numpy(x_tr[idx]), pre, top, left)
            y = torch.from_numpy(y_tr[idx])
            logits = net(x)
            loss = loss_fn(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
        val_acc = float((predict(net, x_va, pre).argmax(1) == y_va).mean())
        history.append({"epoch": epoch + 1, "loss": tot / seen, "train_acc": correct / seen, "val_acc": val_acc,
                        "seconds": time.time() - t_ep, "load1": os.getloadavg()[0]})
        log(f"epoch {epoch + 1}/{epochs}: loss {tot / seen:.3f} train {correct / seen:.3f} val {val_acc:.3f} "
            f"({time.time() - t_ep:.0f}s)")
    train_s = time.time() - t_train
    pred = predict(net, x_va, pre).argmax(1)
    metrics = {
        "world": world.name, "model": model, "seed": seed, "epochs": epochs, "batch": batch, "lr": lr, "n_train": n_train,
        "n_val": n_val, "threads": threads, "classes": classes, "val_top1": float((pred == y_va).mean()),
        "per_class": per_class(pred, y_va, classes), "train_seconds": train_s, "history": history,
        "command": "python -m benchmarks.world.train " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "machine": f"{platform.machine()} {platform.processor() or ''} {platform.node()}".strip(),
        "torch": str(torch.__version__), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    save_checkpoint(net, classes, metrics, out / "model.pt")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    log(f"val top-1 {metrics['val_top1']:.3f} after {train_s:.0f}s of training")
    return metrics


def load_trained(path: Path) -> tuple[CatNet, dict]:
    """The trained CatNet of run directory `path` (eval mode) and its metrics."""
    ckpt = torch.load(Path(path) / "model.pt", map_location="cpu", weights_only=True)  # save_checkpoint's plain data
    net = catnet_s(len(ckpt["classes"]))
    net.load_state_dict(ckpt["state_dict"])
    return net.eval(), ckpt["metrics"]


def export(run: Path, bundle: Path, force: bool = False):
    """Export a trained run as a bundle with the rendered group scheme and the run's provenance."""
    from catsplit.models.export import export_bundle

    net, metrics = load_trained(run)
    world = get(metrics.get("world", "ssv2"))
    head, net.head = net.head, nn.Identity()
    provenance = {
        "source": f"catsplit {world.clips.rsplit('.', 1)[0]} ({world.title}: rendered clips, not "
                  f"{world.title.split('-')[0]} footage)",
        "world": world.name,
        "model": metrics["model"], "training_command": metrics["command"], "seed": metrics["seed"],
        "val_top1": metrics["val_top1"], "date": metrics["date"], "torch": metrics["torch"],
        "splits": {"seed": metrics["seed"], "n_train": metrics["n_train"], "n_val": metrics["n_val"]},
    }
    return export_bundle(Backbone(net).eval(), head, metrics["classes"], world.preprocess, bundle,
                         groups=world.rendered_groups(), provenance=provenance, force=force)


@click.command()
@click.option("--world", "world_name", type=click.Choice(list(WORLDS)), default="ssv2", show_default=True,
              help="Which rendered world: SSv2-Split-Synth or FineGym-Split-Synth.")
@click.option("--model", type=click.Choice(["A", "B"]), required=True, help="Which subset is collapsed.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Run directory.")
@click.option("--seed", default=0, show_default=True)
@click.option("--epochs", default=12, show_default=True)
@click.option("--lr", default=1.5e-3, show_default=True)
@click.option("--n-train", default=48, show_default=True, help="Train clips per fine label.")
@click.option("--n-val", default=16, show_default=True, help="Val clips per fine label.")
@click.option("--threads", default=2, show_default=True)
@click.option("--bundle", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also export the trained model as a bundle here.")
@click.option("--force", is_flag=True, help="Replace an existing bundle.")
def main(world_name, model, out, seed, epochs, lr, n_train, n_val, threads, bundle, force) -> None:
    """Train base model A or B on rendered clips and report val accuracy."""
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    train(model, out, seed=seed, epochs=epochs, lr=lr, n_train=n_train, n_val=n_val, threads=threads, log=log,
          world=get(world_name))
    if bundle is not None:
        export(out, bundle, force=force)
        log(f"bundle written to {bundle}")


if __name__ == "__main__":
    main()
