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
from catsplit.compiler.options import ShotConfig
from catsplit.models.onnx_io import cpu_session
from catsplit.runtime.bundle import Bundle


@dataclass(frozen=True)
class ShotResult:
    w: np.ndarray
    b: np.ndarray
    epochs: int
    best_epoch: int
    best_loss_ema: float


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


def train_rows(feats: np.ndarray, targets: np.ndarray, old_logits: np.ndarray, coarse: int, mode: str,
               w0: np.ndarray, b0: np.ndarray, seed: int = 0, config: ShotConfig = ShotConfig()) -> ShotResult:
    """Fit the new rows; targets index the new rows (0..k-1); old_logits are the current head's [N, C]."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(np.asarray(feats, np.float32))
    keep_c = config.keep_coarse and mode == "flat"
    keep = [i for i in range(old_logits.shape[1]) if keep_c or i != coarse]
    old = torch.from_numpy(np.asarray(old_logits, np.float32))
    z_c, old = old[:, coarse:coarse + 1], old[:, keep]
    y = torch.from_numpy(np.asarray(targets, np.int64)) + old.shape[1]
    w = nn.Parameter(torch.from_numpy(np.array(w0, np.float32)))
    b = nn.Parameter(torch.from_numpy(np.array(b0, np.float32)))
    opt = torch.optim.AdamW([w, b], lr=config.lr, weight_decay=config.weight_decay)
    stop, epoch = EMAStopper(config.ema, config.patience, config.min_delta, mode="min"), 0
    with single_thread():
        for epoch in range(1, config.max_epochs + 1):
            losses = []
            for idx in torch.randperm(len(x), generator=gen).split(config.batch_size):
                new = nn.functional.linear(nn.functional.dropout(x[idx], config.dropout, training=True), w, b)
                if mode == "hierarchical":
                    new = z_c[idx] + torch.log_softmax(new, dim=1)
                loss = nn.functional.cross_entropy(torch.cat([old[idx], new], dim=1), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
            if stop.step(epoch, float(np.mean(losses)), lambda: (w.detach().clone(), b.detach().clone())):
                break
    bw, bb = stop.best_state
    return ShotResult(bw.numpy().copy(), bb.numpy().copy(), epoch, stop.best_epoch, stop.best_value)

