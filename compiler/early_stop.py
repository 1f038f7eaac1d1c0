"""Early stopping on an exponential moving average of a per-epoch score, as docs/method.md §3 and §4 use it."""
from __future__ import annotations

from typing import Any, Callable


class EMAStopper:
    """Tracks EMA(beta) of a per-epoch value; stops after `patience` epochs without a `min_delta` gain.

    `mode="max"` for a similarity (MA's mean cosine), `"min"` for a loss (low-shot). `step` returns True
    when training should stop; the snapshot of the best epoch (taken by `snapshot()` when the EMA
    improves) is in `best_state`, so the caller can restore it.

    `bias_correct=False` (MA, §3) starts the EMA at the first value, so with beta 0.95 it moves 5% a
    step and a falling value needs many steps to gain `min_delta`. `bias_correct=True` (low-shot, §4)
    starts it at 0 and divides by 1 - beta^t (Adam's correction): a weighted mean of every value so far
    that follows the value closely while there are few of them.
    """

    def __init__(self, beta: float, patience: int, min_delta: float, mode: str = "max", bias_correct: bool = False):
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.beta, self.patience, self.min_delta, self.bias_correct = beta, patience, min_delta, bias_correct
        self.sign = 1.0 if mode == "max" else -1.0
        self.ema: float | None = None
        self._raw, self._t = 0.0, 0
        self.best = -float("inf")  # in signed units: larger is better
        self.best_epoch, self.best_state, self.stale = 0, None, 0

    @property
    def best_value(self) -> float:
        return self.sign * self.best

    def step(self, epoch: int, value: float, snapshot: Callable[[], Any]) -> bool:
        self._t += 1
        if self.bias_correct:
            self._raw = self.beta * self._raw + (1 - self.beta) * value
            self.ema = self._raw / (1 - self.beta ** self._t)
        else:
            self.ema = value if self.ema is None else self.beta * self.ema + (1 - self.beta) * value
        if self.sign * self.ema > self.best + self.min_delta:
            self.best, self.best_epoch, self.best_state, self.stale = self.sign * self.ema, epoch, snapshot(), 0
            return False
        self.stale += 1
        return self.stale >= self.patience
