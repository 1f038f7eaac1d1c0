"""Deterministic data splits of the rendered world, as in the authors' SSv2-Split benchmark.

Every label has `n_train` train clips and `n_val` val clips; clip i of label L in split S is
`world.render(L, seed, S, i)`, so a split is fully described by (world, seed, n_train, n_val); the world
is the SSv2 one unless given (`benchmarks.world.domain`). For each split
target (a group of the model's subset): the equivalent set = the target's val clips with their fine
labels; the unrelated set = every other val clip; the low-shot pool = the target's train clips with
their fine labels.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.world.domain import Domain
from benchmarks.world.labels import PREPROCESS, WORLD  # PREPROCESS: the SSv2 world's, imported from here
from catsplit.runtime.bundle import Preprocess
from catsplit.runtime.video import sample_indices


@dataclass(frozen=True)
class ClipRef:
    label: str          # fine label
    split: str
    index: int


@dataclass(frozen=True)
class WorldSplits:
    seed: int = 0
    n_train: int = 48
    n_val: int = 16
    world: Domain = WORLD

    def clips(self, split: str, labels: list[str] | None = None, n: int | None = None) -> list[ClipRef]:
        """Clips of `split` ("train", "val", or "deploy": fresh clips, `n` per label, that no model saw)."""
        n = n if n is not None else {"train": self.n_train, "val": self.n_val}[split]
        return [ClipRef(label, split, i) for label in (labels or self.world.fine_labels()) for i in range(n)]

    def targets(self, model: str) -> list[str]:
        """Split targets of model A/B: its collapsed groups."""
        return list(self.world.subset_groups(model))

    def equivalent(self, target: str) -> list[ClipRef]:
        return self.clips("val", self.world.rendered_groups()[target])

    def unrelated(self, target: str) -> list[ClipRef]:
        inside = set(self.world.rendered_groups()[target])
        return [c for c in self.clips("val") if c.label not in inside]

    def lowshot_pool(self, target: str) -> list[ClipRef]:
        return self.clips("train", self.world.rendered_groups()[target])

    def render(self, ref: ClipRef) -> np.ndarray:
        return self.world.render(ref.label, self.seed, ref.split, ref.index)


def renderer_version(world: Domain = WORLD) -> str:
    """Digest of the world's renderer source: a cache of rendered clips is stale once any of it changes."""
    return world.version()


def sampled_frames(frames: np.ndarray, pre: Preprocess = PREPROCESS) -> np.ndarray:
    """The frames [num_frames, H, W, 3] the runtime samples from a video of these frames."""
    return frames[sample_indices(len(frames), pre)[0]]


def frame_arrays(splits: WorldSplits, refs: list[ClipRef], cache: Path | None = None,
                 pre: Preprocess | None = None, progress: bool = False) -> np.ndarray:
    """uint8 [N, num_frames, size, size, 3]: each clip's sampled frames (rendered once, cached); `pre`
    defaults to the world's preprocessing."""
    world = splits.world
    pre = pre or world.preprocess
    if cache is not None:
        split = {r.split for r in refs}
        ident = repr((refs, world.frames, world.size, pre.to_dict(), world.version()))
        digest = hashlib.sha256(ident.encode()).hexdigest()[:12]
        key = f"{world.name}_s{splits.seed}_{'-'.join(sorted(split))}_{len(refs)}_{digest}.npy"
        path = Path(cache) / key
        if path.is_file():
            return np.load(path)
    out = np.empty((len(refs), pre.num_frames, world.size, world.size, 3), np.uint8)
    it = refs
    if progress:
        from tqdm import tqdm
        it = tqdm(refs, desc="rendering", leave=False)
    for k, ref in enumerate(it):
        out[k] = sampled_frames(splits.render(ref), pre)
    if cache is not None:  # written whole then renamed: a concurrent or killed run never reads half a file
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, out)
        tmp.replace(path)
    return out
