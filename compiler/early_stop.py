"""Early stopping on an exponential moving average of a per-epoch score, as docs/method.md §3 and §4 use it."""
from __future__ import annotations

from typing import Any, Callable


class EMAStopper:
    """Tracks EMA(beta) of a per-epoch value; stops after `patience` epochs without a `min_delta` gain.

    `mode="max"` for a similarity (MA's mean cosine), `"min"` for a loss (low-shot). `step` returns True
    when training should stop; the snapshot of the best epoch (taken by `snapshot()` when the EMA
    improves) is in `best_state`, so the caller can restore it.
    """

    def __init__(self, beta: float, patience: int, min_delta: float, mode: str = "max"):
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.beta, self.patience, self.min_delta = beta, patience, min_delta
        self.sign = 1.0 if mode == "max" else -1.0
        self.ema: float | None = None
        self.best = -float("inf")  # in signed units: larger is better
        self.best_epoch, self.best_state, self.stale = 0, None, 0

    @property
    def best_value(self) -> float:
        return self.sign * self.best

    def step(self, epoch: int, value: float, snapshot: Callable[[], Any]) -> bool:
        self.ema = value if self.ema is None else self.beta * self.ema + (1 - self.beta) * value
        if self.sign * self.ema > self.best + self.min_delta:
            self.best, self.best_epoch, self.best_state, self.stale = self.sign * self.ema, epoch, snapshot(), 0
            return False
        self.stale += 1
        return self.stale >= self.patience
