"""Per-stream output: a window's result line, smoothing over windows, and label-change events.

Smoothing (`smooth` = N > 1) is the moving average of the last N windows' probabilities, as
MMAction2's webcam demo averages the scores of its recent clips; it restarts when the head's label
list changes. Label events follow the smoothed top-1 label: a label becomes active when it is the
top-1 at probability >= `threshold` in every window ending over `min_duration` seconds of stream
time (0: at once), and "no label" (null) becomes active the same way when nothing reaches the
threshold.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from catsplit.runtime.session import top_k, top_k_json


@dataclass(frozen=True)
class EventRule:
    threshold: float = 0.5
    min_duration: float = 1.0


_UNSET = object()  # no candidate (None is a candidate: "no label")


class LabelTracker:
    """The debounced active label of one stream."""

    def __init__(self, rule: EventRule):
        self.rule = rule
        self.active: str | None = None
        self.candidate: object = _UNSET
        self.since = 0.0

    def update(self, label: str, prob: float, end: float) -> dict[str, Any] | None:
        """The window ending at `end` had smoothed top-1 `label` at `prob`; an event when the active label
        changes. `since` is the end of the first window that saw the new state."""
        seen = label if prob >= self.rule.threshold else None
        if seen == self.active:
            self.candidate = _UNSET
            return None
        if seen != self.candidate:
            self.candidate, self.since = seen, end
        if end - self.since < self.rule.min_duration:
            return None
        event = {"label": seen, "previous": self.active, "prob": prob, "since": self.since, "at": end}
        self.active, self.candidate = seen, _UNSET
        return event


class StreamOutput:
    """Turns one stream's classified windows into output documents."""

    def __init__(self, stream: str, k: int, smooth: int = 1, rule: EventRule | None = None):
        if smooth < 1 or k < 1:
            raise ValueError(f"smooth and top_k must be >= 1, got {smooth} and {k}")
        self.stream, self.k, self.smooth = stream, k, smooth
        self.history: deque[np.ndarray] = deque(maxlen=smooth)
        self.labels: list[str] | None = None
        self.tracker = LabelTracker(rule) if rule is not None else None

    def window(self, doc: dict[str, Any], labels: list[str], probs: np.ndarray) -> list[dict[str, Any]]:
        """`doc` (the window's own fields) completed with its labels; then a label event, if any."""
        if labels != self.labels:
            self.history.clear()
            self.labels = labels
        self.history.append(probs)
        doc["top_k"] = top_k_json(top_k(probs, labels, self.k))
        mean = np.mean(self.history, axis=0) if self.smooth > 1 else probs
        if self.smooth > 1:
            doc["smoothed"] = top_k_json(top_k(mean, labels, self.k))
        out = [doc]
        if self.tracker is not None:
            best = int(np.argmax(mean))
            event = self.tracker.update(labels[best], float(mean[best]), doc["end"])
            if event is not None:
                out.append({"type": "label", "stream": self.stream, **event})
        return out
