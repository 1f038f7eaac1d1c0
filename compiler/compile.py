"""compile_split: the library call behind `catsplit-compile` (one split edit of one bundle).

Order of work: every input is checked before anything heavy runs (spec, bundle, group scheme, shots,
output path), then the new rows are computed (MR or MA, optionally refined on a few clips), spliced
into the head, verified (splice.verify_splice) and only then written as a new bundle that shares the
backbone file. The input bundle is never modified.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from catsplit.compiler.dictionary import build_dictionary
from catsplit.compiler.edits import write_edit
from catsplit.compiler.errors import CompileError
from catsplit.compiler.groups import derive_modifier, resolve_groups
from catsplit.compiler.head import load_head, read_rows
from catsplit.compiler.lowshot import INITS, ShotConfig, head_logits, init_rows, read_shots, shot_features, train_rows
from catsplit.compiler.ma import AlignConfig, modifier_alignment
from catsplit.compiler.mr import modifier_retrieval
from catsplit.compiler.splice import MODES, splice, spliced_labels, verify_splice
from catsplit.compiler.spec import SplitSpec, check_against, load_spec, parse_spec
from catsplit.compiler.text_encoder import load_text_encoder
from catsplit.models.onnx_io import save_onnx
from catsplit.runtime.bundle import BUNDLE_JSON, Bundle, BundleError, load_bundle

METHODS = ("mr", "ma")


@dataclass
class EditReport:
    """What one compile did: the output bundle and the edit record written into it."""

    bundle: Path
    record: dict[str, Any]
    labels: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        rec = {k: v for k, v in self.record.items() if k != "previous"}
        return {"bundle": str(self.bundle), "num_classes": len(self.labels), **rec}


class _Clock:
    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.times[name] = round(now - self._t, 4)
        self._t = now


def _spec(spec: str | os.PathLike | SplitSpec | dict) -> SplitSpec:
    if isinstance(spec, SplitSpec):
        return spec
    if isinstance(spec, dict):
        return parse_spec(spec)
    return load_spec(spec)


def _regroup(groups: dict[str, list[str]], spec: SplitSpec) -> dict[str, list[str]]:
    """The scheme after the split: c's group is exactly the new subcategories (each label in one group)."""
    new = set(spec.labels)
    out = {name: [y for y in ys if y not in new] for name, ys in groups.items() if name != spec.split}
    return {**{name: ys for name, ys in out.items() if ys}, spec.split: spec.labels}


def edit_rows(bundle: Bundle, spec: SplitSpec, head: onnx.ModelProto, w: np.ndarray, b: np.ndarray, c: int,
              groups: dict[str, list[str]] | None, method: str = "ma", mode: str = "flat", init: str | None = None,
              text_encoder: Any = "minilm", seed: int = 0, bias_offset: float = 0.0,
              align: AlignConfig = AlignConfig(), shot_config: ShotConfig = ShotConfig(),
              shots: tuple[np.ndarray, np.ndarray] | None = None,
              clock: _Clock | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The k new rows (weights [k, D], biases [k]) of a split and the method part of its edit record.

    The in-memory core of `compile_split` (which checks the inputs first); benchmarks call it directly.
    init: "ma"/"mr" = zero-shot rows by that method, "coarse"/"random" = those starting rows (the
      baselines); default `method`. shots: (features [N, D], subcategory index [N]) of labelled clips
      to fine-tune the new rows on (METHOD.md 4), or None for the zero-shot rows as they are.
    """
    clock = clock or _Clock()
    init = init or method
    k, sources = len(spec.into), []
    modifiers = [s.modifier or derive_modifier(s.label, spec.split, spec.labels) for s in spec.into]
    zero_shot = init if init in METHODS else None
    record: dict[str, Any] = {"op": "split", "spec": spec.to_json(), "method": zero_shot, "mode": mode,
                              "seed": seed, "text_encoder": None}
    meta = bundle.path / BUNDLE_JSON
    rows = None
    if zero_shot:
        dictionary = build_dictionary(bundle.labels, w, groups, bundle.modifiers, str(meta))
        clock.lap("dictionary")
        encoder = text_encoder
        if isinstance(text_encoder, (str, os.PathLike)):
            encoder = load_text_encoder(text_encoder)
        record["text_encoder"] = {"name": encoder.name, "sha256": encoder.sha256}
        clock.lap("text_encoder")
        if zero_shot == "mr":
            rows, found = modifier_retrieval(encoder, w[c], spec.labels, modifiers, dictionary)
            sources = [{"label": r.target, "modifier": m, "from": f"W[c] + v[{r.entry}]", "entry": r.entry,
                        "group": r.group, "score": round(r.score, 6), "modifier_score": round(r.modifier_score, 6),
                        "label_score": round(r.label_score, 6)} for r, m in zip(found, modifiers)]
        else:
            rows, fit = modifier_alignment(encoder, w[c], modifiers, dictionary, bundle.labels, w, seed, align)
            sources = [{"label": s, "modifier": m, "from": "W[c] + g(phi(modifier))"}
                       for s, m in zip(spec.labels, modifiers)]
            record["alignment"] = {"pairs": fit.num_pairs, "epochs": fit.epochs, "best_epoch": fit.best_epoch,
                                   "best_cosine_ema": round(fit.best_cosine_ema, 6),
                                   "max_epochs": align.max_epochs}
        clock.lap(zero_shot)
    w_new, b_new = init_rows(init, w[c], float(b[c]), rows, k, seed)
    if shots is not None:
        feats, targets = shots
        fit = train_rows(feats, targets, head_logits(head, feats), c, mode, w_new, b_new, seed, shot_config)
        w_new, b_new = fit.w, fit.b
        record["lowshot"] = {"init": init, "clips": len(targets), "epochs": fit.epochs,
                             "best_epoch": fit.best_epoch, "best_loss_ema": round(fit.best_loss_ema, 6),
                             "keep_coarse": shot_config.keep_coarse, "max_epochs": shot_config.max_epochs}
        sources = [{**(sources[i] if sources else {"label": s, "from": f"{init} init"}),
                    "then": f"fine-tuned on {int((targets == i).sum())} clip(s)"} for i, s in enumerate(spec.labels)]
        clock.lap("lowshot")
    b_new = (b_new + np.float32(bias_offset)).astype(np.float32)
    record.update(sources=sources, bias_offset=bias_offset)
    return w_new, b_new, record


def compile_split(bundle_path: str | os.PathLike, spec: str | os.PathLike | SplitSpec | dict,
                  out: str | os.PathLike, method: str = "ma", mode: str = "flat",
                  shots: str | os.PathLike | None = None, init: str | None = None,
                  text_encoder: Any = "minilm", seed: int = 0, bias_offset: float = 0.0,
                  groups_file: str | os.PathLike | None = None, force: bool = False,
                  align: AlignConfig = AlignConfig(), shot_config: ShotConfig = ShotConfig(),
                  views: tuple[int, int] = (1, 1)) -> EditReport:
    """Split `spec.split` of the bundle into `spec.into` and write the edited bundle to `out`.

    method: zero-shot rows by "mr" (modifier retrieval) or "ma" (modifier alignment, the default).
    mode: "flat" (row c replaced by k rows) or "hierarchical" (subcategories share c's probability).
    shots: SHOTS.csv for low-shot isolated fine-tuning of the new rows; `init` picks their start
      ("ma", "mr", "coarse", "random"; default: `method`). Without shots `init` must be None.
    text_encoder: a name or directory for load_text_encoder, or an encoder object (.name, .sha256, .encode).
    bias_offset: added to every new row's bias (flat mode only; it cancels in hierarchical mode).
    groups_file: a group scheme JSON that replaces the bundle's; the output bundle stores the scheme used,
      with c's group set to the new subcategories so that later edits can learn from them.
    """
    clock = _Clock()
    out = Path(out)
    if method not in METHODS:
        raise CompileError(f"--method must be one of {METHODS}, got {method!r}")
    if mode not in MODES:
        raise CompileError(f"--mode must be one of {MODES}, got {mode!r}")
    if init is not None and shots is None:
        raise CompileError("--init only applies with --shots")
    init = init or method
    if init not in INITS:
        raise CompileError(f"--init must be one of {INITS}, got {init!r}")
    if bias_offset and mode == "hierarchical":
        raise CompileError("--bias-offset has no effect in hierarchical mode (it cancels in the log-softmax)")
    if out.exists() and not force:
        raise CompileError(f"{out}: already exists (use --force to replace it)")
    spec = _spec(spec)
    try:
        bundle = load_bundle(bundle_path)
    except BundleError as e:
        raise CompileError(str(e)) from None
    c = check_against(spec, bundle.labels, str(bundle.path))
    head = load_head(bundle.head_path)
    w, b = read_rows(head, str(bundle.head_path))
    if w.shape != (bundle.num_classes, bundle.feature_dim):
        raise CompileError(f"{bundle.head_path}: head rows are {w.shape}, bundle.json says "
                           f"{bundle.num_classes} labels x {bundle.feature_dim} features")
    shot_list = read_shots(shots, spec.labels) if shots is not None else None
    groups = bundle.groups
    if init in METHODS:
        groups = resolve_groups(bundle, groups_file)
    clock.lap("check")

    shot_data = None
    if shot_list is not None:
        shot_data = (shot_features(bundle, shot_list, views), np.array([spec.labels.index(y) for _, y in shot_list]))
        clock.lap("shot_features")
    w_new, b_new, record = edit_rows(bundle, spec, head, w, b, c, groups, method, mode, init, text_encoder, seed,
                                     bias_offset, align, shot_config, shot_data, clock)
    if "lowshot" in record:
        record["lowshot"]["views"] = list(views)

    n = len(bundle.edits) + 1
    new_head = splice(head, c, w_new, b_new, mode, tag=f"edit{n}")
    labels = spliced_labels(bundle.labels, c, spec.labels)
    new_groups = _regroup(groups, spec) if groups is not None else None
    new_modifiers = {**bundle.modifiers, **{s.label: s.modifier for s in spec.into if s.modifier}}
    with tempfile.TemporaryDirectory(prefix=".catsplit-compile-", dir=out.parent if out.parent.exists() else None) as tmp:
        path = Path(tmp) / "head.onnx"
        save_onnx(new_head, path)
        verify_splice(str(bundle.head_path), str(path), c, len(spec.into), bundle.feature_dim, seed=seed)
        clock.lap("splice_verify")
        record["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        record["timings"] = {**clock.times, "total": round(sum(clock.times.values()), 4)}
        written = write_edit(bundle, path, labels, new_groups, new_modifiers, record, out, force=force)
    return EditReport(written.path, written.edits[-1], labels)
