"""Clip i of label L in split S under seed s: a pure function of (s, L, S, i)."""
from __future__ import annotations

import hashlib

import numpy as np

from benchmarks.world.render import FRAMES, SIZE
from benchmarks.world.scene import Scene
from benchmarks.world.scripts import SCRIPTS

SPLITS = ("train", "val", "deploy")  # deploy: fresh clips that neither training nor val uses


def clip_seed(seed: int, label: str, split: str, index: int) -> int:
    """A 64-bit generator seed from the clip's identity (stable across Python runs and machines)."""
    key = f"{seed}\x1f{label}\x1f{split}\x1f{index}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little")


def render_clip(label: str, seed: int = 0, split: str = "train", index: int = 0) -> np.ndarray:
    """uint8 RGB frames [FRAMES, SIZE, SIZE, 3] of one clip of `label`."""
    if label not in SCRIPTS:
        raise KeyError(f"no script renders {label!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    sc = Scene(np.random.default_rng(clip_seed(seed, label, split, index)), FRAMES, SIZE)
    sc.distractors()
    SCRIPTS[label](sc)
    return sc.render()
