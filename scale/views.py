"""What every scale-out path does to a video, split where the engines split it: decode on CPU
workers (`decode_bytes`), then backbone + head on a batch of decoded videos (`score`).

Both reuse the runtime's own steps (`load_views`, `Runtime.features`, `video_top_k`), so a video
gets the numbers `catsplit-run` gives it, whichever engine moved it around.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from catsplit.runtime.bundle import Preprocess
from catsplit.runtime.session import Head, Runtime, video_top_k
from catsplit.runtime.video import VideoError, load_views


def decode_bytes(data: bytes, name: str, pre: Preprocess, views: tuple[int, int]) -> np.ndarray:
    """`load_views` on a file's bytes (a Ray Data read, an HTTP upload); an error names `name`.

    PyAV reads the bytes from a private temporary file, so the decoder and its checks (empty,
    truncated, too short) are exactly those `catsplit-run` applies to the file itself.
    """
    with tempfile.TemporaryDirectory(prefix="catsplit-") as tmp:
        path = Path(tmp) / f"video{Path(name).suffix}"
        path.write_bytes(data)
        try:
            return load_views(path, pre, *views)
        except VideoError as e:
            raise VideoError(str(e).replace(str(path), name, 1)) from None


@dataclass
class Scored:
    """One video's top-k and its share (by views) of the backbone and head time of its batch."""

    top_k: list[tuple[str, float]]
    backbone_ms: float
    head_ms: float


def score(rt: Runtime, head: Head, videos: Sequence[np.ndarray], top_k: int, batch_size: int) -> list[Scored]:
    """Top-k (label, probability) of each video's views, all by `head`; the backbone sees at most
    `batch_size` views per run, views of several videos sharing a run."""
    if not videos:
        return []
    x = np.concatenate(videos)
    logits, backbone_ms, head_ms = [], 0.0, 0.0
    for i in range(0, len(x), batch_size):
        t0 = time.perf_counter()
        feats = rt.features(x[i:i + batch_size])
        t1 = time.perf_counter()
        logits.append(head.logits(feats))
        backbone_ms, head_ms = backbone_ms + (t1 - t0) * 1e3, head_ms + (time.perf_counter() - t1) * 1e3
    all_logits = np.concatenate(logits)
    bounds = np.cumsum([0, *(len(v) for v in videos)])
    return [Scored(video_top_k(all_logits[a:b], head.labels, top_k), backbone_ms * (b - a) / len(x),
                   head_ms * (b - a) / len(x)) for a, b in zip(bounds[:-1], bounds[1:])]
