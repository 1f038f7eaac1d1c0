"""Low-shot isolated fine-tuning (docs/method.md §4): train only the k new rows on a few labelled clips.

SHOTS.csv lists `video path, subcategory label` per line (compiler/clip_csv.py reads it; any bad row
refuses the file). Each clip's backbone features come from the bundle's own backbone through
the runtime, once; a clip's views (clips x crops) are averaged at feature level into one sample.

Training (as the paper): AdamW lr 1e-3, weight decay 1e-3, batch 16 shuffled, dropout 0.25, cross-entropy,
early stopping on an EMA (0.95) of the epoch's mean training loss (patience 5, min delta 1e-3), best state
restored. The logits are the ones the spliced head will compute: the old rows without c, then the new
rows (flat) or z[c] + log_softmax(new rows) (hierarchical). Our choices, where the paper leaves them open:
- c is left out of the flat logits by default (the deployed flat model has no c, and scoring masks it);
  `keep_coarse=True` keeps it as a competitor.
- Old rows are frozen, so their logits are computed once by the current head itself (onnxruntime, the
  graph that will run, which also makes already-edited heads work) on the clean features; dropout
  applies to the trained rows' input.
- `max_epochs=300`; random init is timm's: weights truncated normal (std 0.02), biases zero.
- Stopping that means something for a handful of clips (one step per epoch): the loss EMA is
  bias-corrected and training never stops before `min_steps` optimiser steps.
- Locality: features are non-negative, so a row that cross-entropy raises on its shot rises on every
  clip. An L2 pull towards the starting rows (`penalty`, per mean squared feature norm) and a cap on
  each row's norm and bias at the coarse row's (`cap`) bound it; clips known not to be of c
  (`negatives`) teach the rows to leave them. Measured in docs/method.md §4.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
import torch
from torch import nn

from catsplit.compiler.clip_csv import read_clip_csv
from catsplit.compiler.early_stop import EMAStopper
from catsplit.compiler.errors import CompileError
from catsplit.compiler.ma import single_thread
from catsplit.compiler.options import STOPS, ShotConfig
from catsplit.models.onnx_io import cpu_session
from catsplit.runtime.bundle import Bundle


@dataclass(frozen=True)
class ShotResult:
    w: np.ndarray
    b: np.ndarray
    epochs: int
    steps: int         # optimiser steps taken
    best_epoch: int    # the epoch whose rows were kept
    best_loss_ema: float
    stop: str          # "patience" (the loss EMA stalled after min_steps) or "max_epochs"


def read_shots(path: str | Path, new_labels: Sequence[str]) -> list[tuple[Path, str]]:
    """(video, subcategory) pairs; refuses unknown labels, missing files and subcategories without a clip."""
    rows, problems = read_clip_csv(path, new_labels, "shots CSV", "a subcategory of the spec")
    if problems:
        raise CompileError(f"{path}: {problems[0].problem}")
    shots = [(r.file, r.label) for r in rows]
    missing = [y for y in new_labels if y not in {s[1] for s in shots}]
    if missing:
        raise CompileError(f"{path}: no clip for subcategory {missing[0]!r}")
    return shots


def shot_features(bundle: Bundle | str | Path, shots: Sequence[tuple[Path, str]], views: tuple[int, int] = (1, 1),
                  progress: bool = False) -> np.ndarray:
    """[N, D] backbone features, each clip's views averaged; a progress bar on stderr if asked."""
    from catsplit.runtime import Runtime
    from catsplit.runtime.video import VideoError, load_views

    rt = Runtime(bundle, views=views)
    files = [file for file, _ in shots]
    if progress:
        from tqdm import tqdm
        files = tqdm(files, desc="clip features", unit="clip")
    feats = []
    for file in files:
        try:
            x = load_views(file, rt.bundle.preprocess, clips=views[0], crops=views[1])
        except VideoError as e:
            raise CompileError(str(e)) from None
        feats.append(rt.features(x).mean(axis=0))
    return np.stack(feats).astype(np.float32)


def head_logits(head: onnx.ModelProto, feats: np.ndarray) -> np.ndarray:
    """The current head's logits on `feats`, computed by onnxruntime on CPU."""
    sess = cpu_session(head.SerializeToString())
    return sess.run(None, {sess.get_inputs()[0].name: feats.astype(np.float32)})[0]


def baseline_rows(init: str, w_coarse: np.ndarray, b_coarse: float, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Starting rows that need no text: k copies of the coarse row, or random (timm's init)."""
    if init == "coarse":
        return np.tile(w_coarse, (k, 1)).astype(np.float32), np.full(k, b_coarse, np.float32)
    if init == "random":
        gen = torch.Generator().manual_seed(seed)
        w = torch.empty(k, w_coarse.shape[0])
        nn.init.trunc_normal_(w, std=0.02, generator=gen)
        return w.numpy(), np.zeros(k, np.float32)
    raise ValueError(f"init must be 'coarse' or 'random', got {init!r}")


def zero_shot_start(w: np.ndarray, w_coarse: np.ndarray, weight: float) -> np.ndarray:
    """Where low-shot training starts from zero-shot (MA/MR) rows: each row rescaled to W[c]'s norm, then
    `weight` of the way from W[c] towards it. MA's rows are 1.4-1.5x as long as W[c], and trained from
    wholesale they stay where they are wrong; a quarter of the way keeps their ranking of the
    subcategories while the rows still compete with each other (docs/method.md §4)."""
    unit = w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)
    return ((1 - weight) * w_coarse[None] + weight * np.linalg.norm(w_coarse) * unit).astype(np.float32)


def train_rows(feats: np.ndarray, targets: np.ndarray, old_logits: np.ndarray, coarse: int, mode: str,
               w0: np.ndarray, b0: np.ndarray, seed: int = 0, config: ShotConfig = ShotConfig(),
               negatives: np.ndarray | None = None, negative_logits: np.ndarray | None = None,
               coarse_row: tuple[np.ndarray, float] | None = None) -> ShotResult:
    """Fit the new rows; targets index the new rows (0..k-1); old_logits are the current head's [N, C].

    coarse_row: (W[c], b[c]), the bound `config.cap` keeps every new row's norm and bias under.

    negatives: features [M, D] of clips that are not of c, with the current head's logits on them
    (`negative_logits` [M, C]); each adds its cross-entropy towards its own current prediction (c left
    out in flat mode), weighted by `config.negative_weight`, so the new rows learn not to take them.
    """
    if (negatives is None) != (negative_logits is None):
        raise ValueError("negatives and negative_logits go together")
    if config.cap and coarse_row is None:
        raise ValueError("config.cap needs coarse_row")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(np.asarray(feats, np.float32))
    keep_c = config.keep_coarse and mode == "flat"
    keep = [i for i in range(old_logits.shape[1]) if keep_c or i != coarse]
    old = torch.from_numpy(np.asarray(old_logits, np.float32))
    z_c, old = old[:, coarse:coarse + 1], old[:, keep]
    y = torch.from_numpy(np.asarray(targets, np.int64)) + old.shape[1]
    neg = None if negatives is None else _negatives(negatives, negative_logits, keep, coarse)
    w_start, b_start = torch.from_numpy(np.array(w0, np.float32)), torch.from_numpy(np.array(b0, np.float32))
    cap = None
    if config.cap:
        cap = float(np.linalg.norm(coarse_row[0])), float(coarse_row[1])
        _project(w_start, b_start, *cap)  # the start too: MA's rows are often longer than W[c]
    w, b = nn.Parameter(w_start.clone()), nn.Parameter(b_start.clone())
    # per the clips' mean ||x||^2 (any backbone) and per clip a subcategory (the evidence grows, the pull fades)
    lam = config.penalty * float(x.square().sum(dim=1).mean()) * len(w_start) / len(x)
    opt = torch.optim.AdamW([w, b], lr=config.lr, weight_decay=config.weight_decay)
    stop = EMAStopper(config.ema, config.patience, config.min_delta, mode="min", bias_correct=True)
    epoch, steps, reason = 0, 0, STOPS[1]

    def logits(xb, old_b, z_b):
        new = nn.functional.linear(nn.functional.dropout(xb, config.dropout, training=True), w, b)
        if mode == "hierarchical":
            new = z_b + torch.log_softmax(new, dim=1)
        return torch.cat([old_b, new], dim=1)

    def snapshot():
        return w.detach().clone(), b.detach().clone()

    with single_thread():
        for epoch in range(1, config.max_epochs + 1):
            losses = []
            for idx in torch.randperm(len(x), generator=gen).split(config.batch_size):
                loss = nn.functional.cross_entropy(logits(x[idx], old[idx], z_c[idx]), y[idx])
                if neg is not None:
                    nx, nold, nz, ny = neg
                    loss = loss + config.negative_weight * nn.functional.cross_entropy(logits(nx, nold, nz), ny)
                if lam:
                    loss = loss + lam * ((w - w_start).square().sum() + (b - b_start).square().sum())
                opt.zero_grad()
                loss.backward()
                opt.step()
                if cap is not None:
                    _project(w, b, *cap)
                steps += 1
                losses.append(loss.item())
            if stop.step(epoch, float(np.mean(losses)), snapshot) and steps >= config.min_steps:
                reason = STOPS[0]
                break
    bw, bb = stop.best_state
    return ShotResult(bw.numpy().copy(), bb.numpy().copy(), epoch, steps, stop.best_epoch, stop.best_value, reason)


def _negatives(feats: np.ndarray, logits: np.ndarray, keep: list[int], coarse: int) -> tuple[torch.Tensor, ...]:
    """(features, kept old logits, z_c, target = the current prediction among the kept columns)."""
    z = torch.from_numpy(np.asarray(logits, np.float32))
    old = z[:, keep]
    return torch.from_numpy(np.asarray(feats, np.float32)), old, z[:, coarse:coarse + 1], old.argmax(dim=1)


@torch.no_grad()
def _project(w: torch.Tensor, b: torch.Tensor, norm: float, bias: float) -> None:
    """Scale every row whose norm exceeds `norm` down to it; clip biases at `bias`."""
    w.mul_(torch.clamp(norm / w.norm(dim=1).clamp_min(1e-12), max=1.0)[:, None])
    b.clamp_(max=bias)
