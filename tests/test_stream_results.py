"""Smoothing over windows and label-change events (results.py), on made-up probabilities."""
from __future__ import annotations

import numpy as np

from catsplit.runtime.stream.results import EventRule, StreamOutput

LABELS = ["walk", "run", "jump"]


def _feed(out: StreamOutput, probs: list[list[float]], labels=LABELS, stride: float = 0.5) -> list[dict]:
    docs = []
    for k, p in enumerate(probs):
        docs += out.window({"type": "window", "start": k * stride, "end": k * stride + 1.0}, labels, np.array(p))
    return docs


def test_smoothing_is_the_moving_average_and_restarts_with_new_labels():
    out = StreamOutput("s", k=3, smooth=2)
    docs = _feed(out, [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.0, 0.1, 0.9]])
    assert docs[1]["top_k"][0] == {"label": "run", "prob": 0.7}  # the window alone
    assert docs[1]["smoothed"][0] == {"label": "walk", "prob": 0.5}  # mean of the last two
    assert [t["label"] for t in docs[2]["smoothed"]] == ["jump", "run", "walk"]
    np.testing.assert_allclose([t["prob"] for t in docs[2]["smoothed"]], [0.5, 0.4, 0.1])
    swapped = _feed(out, [[0.3, 0.7]], labels=["sit", "wave"])  # a head with other labels: history restarts
    assert swapped[0]["smoothed"] == [{"label": "wave", "prob": 0.7}, {"label": "sit", "prob": 0.3}]


def test_a_label_must_hold_for_min_duration_above_threshold():
    out = StreamOutput("s", k=1, rule=EventRule(threshold=0.6, min_duration=1.0))
    walk, run, unsure = [0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.4, 0.35, 0.25]
    docs = _feed(out, [walk, walk, walk, run, walk, run, run, run, unsure, unsure, unsure])
    events = [(d["label"], d["previous"], d["since"], d["at"]) for d in docs if d["type"] == "label"]
    # walk from the first window's end (1.0), held until 2.0; a single "run" at 2.5 is a blip; run from
    # 3.5 holds at 4.5; below the threshold from 5.0 ("no label") holds at 6.0.
    assert events == [("walk", None, 1.0, 2.0), ("run", "walk", 3.5, 4.5), (None, "run", 5.0, 6.0)]


def test_min_duration_zero_reports_at_once():
    out = StreamOutput("s", k=1, rule=EventRule(threshold=0.5, min_duration=0))
    docs = _feed(out, [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]])
    assert [d["label"] for d in docs if d["type"] == "label"] == ["walk", "run"]
