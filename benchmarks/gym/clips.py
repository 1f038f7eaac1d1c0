"""Clip i of label L in split S under seed s: a pure function of (s, L, S, i), as in the SSv2 world."""
from __future__ import annotations

import numpy as np

from benchmarks.gym.motion import choreograph
from benchmarks.gym.parse import parse
from benchmarks.gym.render import FRAMES, render
from benchmarks.world.clips import SPLITS, clip_seed


def render_clip(label: str, seed: int = 0, split: str = "train", index: int = 0) -> np.ndarray:
    """uint8 RGB frames [FRAMES, SIZE, SIZE, 3] of one clip of `label` (any FineGym label that parses)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    element = parse(label)
    rng = np.random.default_rng(clip_seed(seed, label, split, index))
    choreo = choreograph(element, rng)
    start, end = rng.uniform(0.0, 0.04), rng.uniform(0.96, 1.0)   # the clip's cut around the element
    return render(choreo, rng, np.linspace(start, end, FRAMES))
