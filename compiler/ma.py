"""Modifier Alignment (docs/method.md §3): learn text -> weight space from the head, then map the new modifiers.

g is an MLP (d_text -> 384 -> GELU -> D) trained fresh for every edit with MSE on pairs built from the
head: (group name -> p_g), (fine label -> W[y]), (modifier -> v_y) for each dictionary group, and
(group name -> W[y]) for each one-row group. Inputs are the text encoder's unnormalised embeddings.
AdamW lr 1e-3, cosine annealing over `max_epochs`, batches of 10 shuffled by a seeded generator; after
every epoch the mean cosine between g's predictions and the targets over the epoch's batches feeds an
EMA (beta 0.95); training stops when the EMA has not improved by `min_delta` for `patience` epochs,
and the state with the best EMA is restored.

Our choices (the paper leaves them open): `max_epochs=200` (a 174-class head converges well before),
the EMA starts at the first epoch's value, and training runs on one torch thread so that a seed gives
the same rows on every run of the same machine. The pairs depend on the head and the group scheme,
not on the split, so every split of one head trains the same g; `train_alignment` remembers its last
few fits by their exact inputs and returns the one it would train again (the edit-quality benchmark
splits every target of a head, three seeds each).
"""
from __future__ import annotations

import dataclasses

import copy
import hashlib
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from catsplit.compiler.dictionary import Dictionary
from catsplit.compiler.early_stop import EMAStopper
from catsplit.compiler.options import AlignConfig
from catsplit.compiler.text_encoder import TextEncoder

REMEMBERED = 8   # fits kept (one g: about 1 MB for a 256-dim head)


@dataclass(frozen=True)
class AlignResult:
    mlp: nn.Module
    epochs: int
    best_epoch: int
    best_cosine_ema: float
    num_pairs: int


class AlignmentMLP(nn.Sequential):
    def __init__(self, d_text: int, d_out: int, hidden: int = AlignConfig.hidden):
        super().__init__(nn.Linear(d_text, hidden), nn.GELU(), nn.Linear(hidden, d_out))


@contextmanager
def single_thread() -> Iterator[None]:
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def alignment_pairs(dictionary: Dictionary, labels: Sequence[str],
                    w: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The training texts and their weight-space targets [N, D], in a fixed order."""
    index = {y: i for i, y in enumerate(labels)}
    texts: list[str] = []
    targets: list[np.ndarray] = []
    for name, p in dictionary.prototypes.items():
        texts.append(name)
        targets.append(p)
    for e in dictionary.entries:
        texts += [e.label, e.modifier]
        targets += [w[index[e.label]], e.vector]
    for name, y in dictionary.singletons.items():
        texts.append(name)
        targets.append(w[index[y]])
    return texts, np.stack(targets).astype(np.float32)


_FITS: OrderedDict[str, AlignResult] = OrderedDict()


def train_alignment(x: np.ndarray, y: np.ndarray, seed: int = 0,
                    config: AlignConfig = AlignConfig()) -> AlignResult:
    """Fit g on embeddings x [N, d_text] -> targets y [N, D] (a fit of the same inputs is remembered:
    training is deterministic, so it would come out the same)."""
    x, y = np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y, np.float32)
    key = hashlib.sha256(x.tobytes() + y.tobytes() + repr((x.shape, y.shape, seed, config)).encode()).hexdigest()
    if key not in _FITS:
        _FITS[key] = _fit(x, y, seed, config)
        while len(_FITS) > REMEMBERED:
            _FITS.popitem(last=False)
    _FITS.move_to_end(key)
    return _FITS[key]


def _fit(x: np.ndarray, y: np.ndarray, seed: int, config: AlignConfig) -> AlignResult:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(np.asarray(x, np.float32)), torch.from_numpy(np.asarray(y, np.float32))
    mlp = AlignmentMLP(xt.shape[1], yt.shape[1], config.hidden)
    opt = torch.optim.AdamW(mlp.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.max_epochs)
    stop, epoch = EMAStopper(config.ema, config.patience, config.min_delta, mode="max"), 0
    with single_thread():
        for epoch in range(1, config.max_epochs + 1):
            mlp.train()
            cosines = []
            for idx in torch.randperm(len(xt), generator=gen).split(config.batch_size):
                pred = mlp(xt[idx])
                loss = nn.functional.mse_loss(pred, yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                cosines.append(nn.functional.cosine_similarity(pred.detach(), yt[idx], dim=1).mean().item())
            sched.step()
            if stop.step(epoch, float(np.mean(cosines)), lambda: copy.deepcopy(mlp.state_dict())):
                break
    mlp.load_state_dict(stop.best_state)
    mlp.eval()
    return AlignResult(mlp, epoch, stop.best_epoch, stop.best_value, len(xt))


def predict(mlp: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return mlp(torch.from_numpy(np.asarray(x, np.float32))).numpy()


def modifier_alignment(encoder: TextEncoder, w_coarse: np.ndarray, target_modifiers: Sequence[str], dictionary: Dictionary,
                       labels: Sequence[str], w: np.ndarray, seed: int = 0,
                       config: AlignConfig = AlignConfig()) -> tuple[np.ndarray, AlignResult]:
    """New rows [k, D] = W[c] + g(phi(m(s_i))), and the trained g with its training record. With
    `config.ensemble` = n, g(...) is the mean of n maps trained with seeds seed..seed+n-1 (the record is
    the first's)."""
    texts, targets = alignment_pairs(dictionary, labels, w)
    emb = np.asarray(encoder.encode(texts + list(target_modifiers)), np.float32)
    single = dataclasses.replace(config, ensemble=1)   # one map's training; the memo key of each member
    fits = [train_alignment(emb[:len(texts)], targets, seed + i, single) for i in range(config.ensemble)]
    delta = np.mean([predict(f.mlp, emb[len(texts):]) for f in fits], axis=0)
    return (w_coarse[None, :] + delta).astype(np.float32), fits[0]

