"""Refinement on unlabelled clips (docs/method.md §8): move the k new rows to where the clips the
original model calls c actually are, with no label read.

An EM over those clips, started from the zero-shot (or fine-tuned) rows:
- E: each clip's soft assignment to the k subcategories is the softmax of the rows' logits, made
  balanced (every subcategory gets 1/k of the clips' mass) by Sinkhorn-Knopp iterations: the prior that
  keeps one row from taking every clip while the others starve;
- M: a few steps of AdamW on the cross-entropy of the rows' softmax against those assignments, with an
  L2 pull towards the starting rows, so the text-given identity of each row (which cluster is which
  subcategory) survives while the clips decide where the clusters are.
The rows' absolute level against the old labels is left to calibration (calibrate.py), which runs next.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from catsplit.compiler.ma import single_thread
from catsplit.compiler.options import RefineConfig


@dataclass(frozen=True)
class Refinement:
    w: np.ndarray
    b: np.ndarray
    clips: int                 # clips the rows were refined on
    rounds: int
    moved: float               # fraction of those clips whose best new row changed


def balanced_assignment(logits: torch.Tensor, temperature: float, iters: int) -> torch.Tensor:
    """[n, k] soft assignments: rows sum to 1, columns to n / k (Sinkhorn-Knopp on softmax(logits / T))."""
    n, k = logits.shape
    q = torch.softmax(logits / temperature, dim=1)
    for _ in range(iters):
        q = q / q.sum(dim=0, keepdim=True) * (n / k)
        q = q / q.sum(dim=1, keepdim=True)
    return q


def refine_rows(feats: np.ndarray, w0: np.ndarray, b0: np.ndarray, config: RefineConfig = RefineConfig(),
                seed: int = 0) -> Refinement:
    """Refine rows [k, D], [k] on the features [n, D] of clips the original model calls c."""
    x = torch.from_numpy(np.asarray(feats, np.float32))
    start_w, start_b = torch.from_numpy(np.array(w0, np.float32)), torch.from_numpy(np.array(b0, np.float32))
    if len(x) < config.min_clips * len(start_b):
        return Refinement(np.array(w0, np.float32), np.array(b0, np.float32), len(x), 0, 0.0)
    torch.manual_seed(seed)
    w, b = torch.nn.Parameter(start_w.clone()), torch.nn.Parameter(start_b.clone())
    opt = torch.optim.AdamW([w, b], lr=config.lr, weight_decay=0.0)
    with single_thread():
        before = (x @ start_w.T + start_b).argmax(dim=1)
        for _ in range(config.rounds):
            with torch.no_grad():
                q = balanced_assignment(x @ w.T + b, config.temperature, config.sinkhorn_iters)
            for _ in range(config.steps):
                logp = torch.log_softmax(x @ w.T + b, dim=1)
                pull = ((w - start_w) ** 2).sum() + ((b - start_b) ** 2).sum()
                loss = -(q * logp).sum(dim=1).mean() + config.pull * pull
                opt.zero_grad()
                loss.backward()
                opt.step()
        after = (x @ w.T + b).argmax(dim=1)
    return Refinement(w.detach().numpy().copy(), b.detach().numpy().copy(), len(x), config.rounds,
                      float((after != before).float().mean()))
