"""What one model's table needs, computed once: the world's clips, their backbone features, the head.

The world (SSv2-Split-Synth or FineGym-Split-Synth, `benchmarks.world.domain`) is the one the bundle
was trained on (its provenance says), unless given.

Backbone features of every val clip and of the split targets' low-shot pools are computed through the
bundle's own backbone (catsplit Runtime.features, onnxruntime) from the runtime's own views of the
rendered frames (runtime.video.sample_indices + preprocess_clip: the mp4 decode is the only step left
out), and cached on disk keyed by the backbone's sha256, the world seed, the split, the clip list, the
views and the renderer's source digest. Features are kept per view [N, V, D]: docs/method.md §6 averages
probabilities over views, not features.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
import onnxruntime as ort

from benchmarks.world.domain import Domain, get
from benchmarks.world.splits import ClipRef, WorldSplits
from catsplit.compiler.head import load_head, read_rows
from catsplit.compiler.text_encoder import cache_root
from catsplit.runtime import Runtime
from catsplit.runtime.bundle import Bundle, load_bundle
from catsplit.runtime.video import preprocess_clip, sample_indices


def clip_views(frames: np.ndarray, bundle: Bundle, views: tuple[int, int]) -> np.ndarray:
    """Rendered frames [F, H, W, 3] -> the runtime's views [clips * crops, *input shape]."""
    clips, crops = views
    idx = sample_indices(len(frames), bundle.preprocess, clips)
    return np.concatenate([preprocess_clip(frames[i], bundle.preprocess, crops) for i in idx])


def features(rt: Runtime, splits: WorldSplits, refs: Sequence[ClipRef], views: tuple[int, int],
             cache: Path | None, batch: int = 32, progress: bool = False) -> np.ndarray:
    """float32 [N, clips * crops, D]: backbone features of every view of every clip (cached)."""
    path = None
    if cache is not None:
        sha = rt.bundle.files.get("backbone.onnx") or "unknown"
        split = "-".join(sorted({r.split for r in refs}))
        digest = hashlib.sha256(repr((list(refs), views, splits.world.version())).encode()).hexdigest()[:16]
        path = Path(cache) / f"feat_{sha[:16]}_world{splits.seed}_{split}_{len(refs)}_{digest}.npy"
        if path.is_file():
            return np.load(path)
    v = views[0] * views[1]
    out = np.empty((len(refs), v, rt.feature_dim), np.float32)
    starts = range(0, len(refs), batch)
    if progress:
        from tqdm import tqdm
        starts = tqdm(starts, desc=f"features ({refs[0].split})", leave=False)
    for s in starts:
        chunk = refs[s:s + batch]
        x = np.concatenate([clip_views(splits.render(r), rt.bundle, views) for r in chunk])
        out[s:s + len(chunk)] = rt.features(x).reshape(len(chunk), v, -1)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, out)
        tmp.replace(path)
    return out


def head_session(model: onnx.ModelProto) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def run_head(session: ort.InferenceSession, feats: np.ndarray) -> np.ndarray:
    """Logits [N, V, C] of per-view features [N, V, D]."""
    n, v, d = feats.shape
    out = session.run(None, {session.get_inputs()[0].name: feats.reshape(n * v, d)})[0]
    return out.reshape(n, v, -1)


@dataclass
class World:
    """One bundle (model A or B) on the rendered world, with everything cached that edits do not change."""

    model: str
    bundle: Bundle
    splits: WorldSplits
    targets: list[str]
    head: onnx.ModelProto
    w: np.ndarray
    b: np.ndarray
    val: list[ClipRef]
    val_feats: np.ndarray       # [N, V, D]
    original: np.ndarray        # the original head's logits [N, V, C]
    pool: dict[str, list[ClipRef]]
    pool_feats: dict[str, np.ndarray]  # target -> [n, V, D]
    views: tuple[int, int]
    deploy: list[ClipRef] = field(default_factory=list)   # unlabelled pool: fresh clips of every label
    deploy_feats: np.ndarray | None = None                # [N, D] (one centre view each, as a compile reads)

    def unlabelled(self, per_label: int) -> np.ndarray:
        """Features [N, D] of the first `per_label` deploy clips of every label (their labels stay unread)."""
        if per_label > max((r.index + 1 for r in self.deploy), default=0):
            raise ValueError(f"the deploy pool has fewer than {per_label} clips per label")
        return self.deploy_feats[np.array([r.index < per_label for r in self.deploy])]

    def fine(self, target: str) -> list[str]:
        return self.splits.world.rendered_groups()[target]

    def truth(self, target: str) -> tuple[list[str], np.ndarray]:
        """Each val clip's expected label for an edit of `target`, and which clips are the target's."""
        inside_labels = set(self.fine(target))
        cls = self.splits.world.class_of(self.model)
        inside = np.array([r.label in inside_labels for r in self.val])
        return [r.label if r.label in inside_labels else cls[r.label] for r in self.val], inside


def splits_of(bundle: Bundle, n_train: int | None = None, n_val: int | None = None,
              world: Domain | None = None) -> WorldSplits:
    """The world splits the bundle was trained on (its provenance), optionally with fewer clips."""
    s = bundle.provenance.get("splits", {})
    world = world or get(bundle.provenance.get("world", "ssv2"))
    base = WorldSplits(seed=int(s.get("seed", 0)), n_train=int(s.get("n_train", 48)), n_val=int(s.get("n_val", 16)))
    return WorldSplits(base.seed, min(n_train or base.n_train, base.n_train), min(n_val or base.n_val, base.n_val),
                       world)


def load_world(bundle_path: str | Path, model: str, views: tuple[int, int] = (2, 3),
               targets: Sequence[str] | None = None, n_train: int | None = None, n_val: int | None = None,
               cache: Path | None = None, progress: bool = False, world: Domain | None = None,
               n_deploy: int = 0) -> World:
    """Load a bundle and compute (or load cached) features of the val clips, the targets' pools and,
    with `n_deploy`, an unlabelled pool of that many fresh clips per fine label (one view each)."""
    bundle = load_bundle(bundle_path)
    splits = splits_of(bundle, n_train, n_val, world)
    targets = [t for t in splits.world.subset_groups(model) if targets is None or t in targets]
    cache = cache if cache is not None else cache_root() / "edit_quality"
    rt = Runtime(bundle, provider="cpu", threads=2, views=views)
    val = splits.clips("val")
    val_feats = features(rt, splits, val, views, cache, progress=progress)
    pool = {t: splits.lowshot_pool(t) for t in targets}
    all_pool = [r for t in targets for r in pool[t]]
    pf = features(rt, splits, all_pool, views, cache, progress=progress)
    pool_feats, start = {}, 0
    for t in targets:
        pool_feats[t] = pf[start:start + len(pool[t])]
        start += len(pool[t])
    head = load_head(bundle.head_path)
    w, b = read_rows(head, str(bundle.head_path))
    original = run_head(head_session(head), val_feats)
    deploy = splits.clips("deploy", n=n_deploy) if n_deploy else []
    deploy_feats = features(rt, splits, deploy, (1, 1), cache, progress=progress)[:, 0] if deploy else None
    return World(model, bundle, splits, targets, head, w, b, val, val_feats, original, pool, pool_feats,
                 views, deploy, deploy_feats)
