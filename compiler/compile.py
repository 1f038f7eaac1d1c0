"""compile_split: the library call behind `catsplit-compile`, one split edit of one bundle, as a pipeline.

    check_split   every input (options, output path, spec, bundle, history, head, shots, group scheme)
                  is checked before anything heavy runs                              -> Checked
    edit_rows     the k new rows: MR or MA, or coarse/random starts, optionally
                  fine-tuned on a few clips (the in-memory core benchmarks call)     -> NewRows
    adapt_rows    with unlabelled clips: refine the rows on the clips the original model
                  calls c, then calibrate their biases on the whole pool              -> NewRows
    assemble      the edited head, labels, groups, modifiers and edit record, in memory -> Edit
    verify_edit   the spliced head against the input head (splice.verify_splice)
    write_edit    the new bundle, sharing the backbone file, published atomically (edits.py)

Each stage is a function of the frozen results of the ones before it. The input bundle is never modified.
"""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from catsplit.compiler.dictionary import Dictionary, build_dictionary
from catsplit.compiler.edits import read_history, write_edit
from catsplit.compiler.errors import CompileError
from catsplit.compiler.groups import check_scheme, modifiers, resolve_groups
from catsplit.compiler.head import load_head, read_rows
from catsplit.compiler.calibrate import calibrate
from catsplit.compiler.lowshot import (baseline_rows, head_logits, read_shots, shot_features, train_rows,
                                      zero_shot_start)
from catsplit.compiler.ma import modifier_alignment
from catsplit.compiler.mr import modifier_retrieval
from catsplit.compiler.options import SplitOptions
from catsplit.compiler.record import (Alignment, EditRecord, EncoderRef, LowShot, Previous, Source, Unlabelled,
                                     history_file)
from catsplit.compiler.refine import refine_rows
from catsplit.compiler.spec import SplitSpec, check_against, load_spec, parse_spec
from catsplit.compiler.splice import splice, spliced_labels, verify_splice
from catsplit.compiler.text_encoder import TextEncoder, load_text_encoder
from catsplit.compiler.unlabelled import read_unlabelled
from catsplit.models.onnx_io import onnx_bytes
from catsplit.runtime.bundle import BUNDLE_JSON, BUNDLE_KIND, HEAD, Bundle, load_bundle
from catsplit.runtime.output import check_output


@dataclass(frozen=True)
class EditTarget:
    """A checked bundle and split: its head, the head's rows W [C, D], b [C] and the coarse row c.

    `groups` is the scheme MR and MA learn from (None when the rows start from the coarse row or at
    random). Benchmarks build one from what they hold in memory.
    """

    bundle: Bundle
    spec: SplitSpec
    head: onnx.ModelProto
    w: np.ndarray
    b: np.ndarray
    c: int
    groups: dict[str, list[str]] | None

    @property
    def overrides(self) -> dict[str, str]:
        """Modifier overrides after the edit: the bundle's, then the spec's."""
        return {**self.bundle.modifiers, **{s.label: s.modifier for s in self.spec.into if s.modifier}}

    def new_modifiers(self) -> list[str]:
        """The subcategories' modifier texts, decided by groups.modifiers over their group after the split
        (named like c, the subcategories its labels), so `groups show` on the result shows these."""
        table = modifiers({self.spec.split: self.spec.labels}, self.spec.labels, self.overrides)
        return [table[y] for y in self.spec.labels]


@dataclass(frozen=True)
class Shots:
    """Labelled clips for low-shot fine-tuning: features [N, D] (views averaged), subcategory index [N];
    optionally features [M, D] of clips that are not of c (negatives, docs/method.md §4)."""

    features: np.ndarray
    targets: np.ndarray
    views: tuple[int, int] = (1, 1)
    negatives: np.ndarray | None = None


@dataclass(frozen=True)
class Pool:
    """Unlabelled clips: their backbone features [N, D] (views averaged) and the current head's logits on
    them [N, C], the only reference the unlabelled steps use. No label."""

    features: np.ndarray
    logits: np.ndarray

    @classmethod
    def of(cls, head: onnx.ModelProto, features: np.ndarray) -> Pool:
        return cls(features, head_logits(head, features))

    def called(self, c: int) -> np.ndarray:
        """Which clips the current head gives to label c."""
        return self.logits.argmax(axis=1) == c


@dataclass(frozen=True)
class Checked:
    """The checked inputs: the edit target, the options, the shot clips (still to be decoded) and the
    unlabelled clips' path (still to be read)."""

    target: EditTarget
    options: SplitOptions
    shots: list[tuple[Path, str]] | None
    unlabelled: Path | None = None


@dataclass(frozen=True)
class NewRows:
    """The k new rows (weights [k, D], biases [k]) and how they were made."""

    w: np.ndarray
    b: np.ndarray
    sources: tuple[Source, ...]
    text_encoder: EncoderRef | None = None
    alignment: Alignment | None = None
    lowshot: LowShot | None = None
    unlabelled: Unlabelled | None = None


@dataclass(frozen=True)
class Edit:
    """The edited bundle's new parts, in memory: head.onnx's bytes, labels, groups, modifiers, record."""

    head: bytes
    labels: list[str]
    groups: dict[str, list[str]] | None
    modifiers: dict[str, str]
    record: EditRecord


@dataclass(frozen=True)
class EditReport:
    """What one compile did: the output bundle and the edit record written into it."""

    bundle: Path
    record: EditRecord
    labels: list[str]

    def to_json(self) -> dict[str, Any]:
        rec = self.record.shown_json()
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


# -- 1. check ------------------------------------------------------------------------------------
def check_split(bundle_path: str | os.PathLike, spec: str | os.PathLike | SplitSpec | dict,
                out: str | os.PathLike, options: SplitOptions, shots: str | os.PathLike | None = None,
                groups_file: str | os.PathLike | None = None, force: bool = False,
                unlabelled: str | os.PathLike | None = None) -> Checked:
    """Every input of a split, checked; nothing heavy (no text encoder, no training) has run yet."""
    if options.init is not None and shots is None:
        raise CompileError("`init` applies only with `shots`", params=("init", "shots"))
    if unlabelled is not None and options.bias_offset:
        raise CompileError("`bias_offset` and `unlabelled` exclude each other: calibration on the unlabelled "
                           "clips chooses the offset", params=("bias_offset", "unlabelled"))
    if unlabelled is not None and not os.path.exists(unlabelled):
        raise CompileError(f"{unlabelled}: no such file or folder", params=("unlabelled",))
    check_output(out, BUNDLE_KIND, force)
    spec = _spec(spec)
    bundle = load_bundle(bundle_path)
    read_history(bundle)  # a compile appends to the history: it must be sound
    c = check_against(spec, bundle.labels, str(bundle.path))
    head = load_head(bundle.head_path)
    w, b = read_rows(head, str(bundle.head_path))
    if w.shape != (bundle.num_classes, bundle.feature_dim):
        raise CompileError(f"{bundle.head_path}: head rows are {w.shape}, {BUNDLE_JSON} says "
                           f"{bundle.num_classes} labels x {bundle.feature_dim} features")
    shot_list = read_shots(shots, spec.labels) if shots is not None else None
    if bundle.groups is not None:  # stored as the edit's `previous.groups`: undo must be able to read it
        check_scheme(bundle.groups, str(bundle.path / BUNDLE_JSON))
    groups = bundle.groups
    if options.zero_shot or groups_file is not None:
        groups = resolve_groups(bundle, groups_file)
    target = EditTarget(bundle, spec, head, w, b, c, groups)
    if options.zero_shot:
        _dictionary(target, options)  # cheap, and it can refuse the split
    return Checked(target, options, shot_list, Path(unlabelled) if unlabelled is not None else None)


def read_shot_data(checked: Checked) -> Shots | None:
    """The shot clips' features through the bundle's own backbone (None without shots)."""
    if checked.shots is None:
        return None
    labels = checked.target.spec.labels
    views = checked.options.views
    return Shots(shot_features(checked.target.bundle, checked.shots, views),
                 np.array([labels.index(y) for _, y in checked.shots]), views)


def read_pool(checked: Checked, progress: bool = False) -> Pool | None:
    """The unlabelled clips' features through the bundle's own backbone (None without them)."""
    if checked.unlabelled is None:
        return None
    features = read_unlabelled(checked.target.bundle, checked.unlabelled, checked.options.views, progress)
    return Pool.of(checked.target.head, features)


# -- 2. rows -------------------------------------------------------------------------------------
def _encoder(text_encoder: str | os.PathLike | TextEncoder) -> TextEncoder:
    return load_text_encoder(text_encoder) if isinstance(text_encoder, (str, os.PathLike)) else text_encoder


def _dictionary(target: EditTarget, options: SplitOptions) -> Dictionary:
    """The head's modifier dictionary (docs/method.md §1), refused when the method cannot use it."""
    spec, meta = target.spec, str(target.bundle.path / BUNDLE_JSON)
    if target.groups is None:
        raise CompileError(f"{meta}: {options.zero_shot} needs a group scheme")
    dictionary = build_dictionary(target.bundle.labels, target.w, target.groups, target.bundle.modifiers, meta)
    if options.zero_shot == "mr" and len(spec.into) > len(dictionary.entries):
        raise CompileError(f"{spec.source}: MR gives each subcategory its own dictionary modifier, but the group "
                           f"scheme yields {len(dictionary.entries)} for {len(spec.into)} subcategories; split "
                           "into fewer or choose `method` ma", params=("method",))
    return dictionary


def _zero_shot_rows(target: EditTarget, options: SplitOptions, clock: _Clock) -> NewRows:
    """MR or MA rows, or their mean (`AlignConfig.with_mr`) (docs/method.md §2-3), before any offset or
    fine-tuning."""
    spec = target.spec
    dictionary = _dictionary(target, options)
    clock.lap("dictionary")
    encoder = _encoder(options.text_encoder)
    ref = EncoderRef(encoder.name, encoder.sha256)
    clock.lap("text_encoder")
    w_c, mods = target.w[target.c], target.new_modifiers()
    ma, alignment = options.zero_shot == "ma", None
    if ma:
        rows, fit = modifier_alignment(encoder, w_c, mods, dictionary, target.bundle.labels, target.w,
                                       options.seed, options.align)
        alignment = Alignment(fit.num_pairs, fit.epochs, fit.best_epoch, round(fit.best_cosine_ema, 6),
                              options.align.max_epochs, options.align.ensemble, options.align.rescale,
                              options.align.with_mr)
        if options.align.rescale:
            rows = zero_shot_start(rows, w_c, 1.0)
    if ma and not options.align.with_mr:
        sources = tuple(Source(s, "W[c] + g(phi(modifier))", m) for s, m in zip(spec.labels, mods))
    else:
        mr_rows, found = modifier_retrieval(encoder, w_c, spec.labels, mods, dictionary)
        origin = "(W[c] + v[{}] + W[c] + g(phi(modifier))) / 2" if ma else "W[c] + v[{}]"
        sources = tuple(Source(r.target, origin.format(r.entry), m, r.entry, r.group, round(r.score, 6),
                               round(r.modifier_score, 6), round(r.label_score, 6)) for r, m in zip(found, mods))
        rows = (rows + mr_rows) / 2 if ma else mr_rows
    clock.lap(options.zero_shot)
    b_new = np.full(len(spec.into), target.b[target.c], np.float32)  # b_new[s_i] = b[c]
    return NewRows(rows.astype(np.float32), b_new, sources, ref, alignment)


def edit_rows(target: EditTarget, options: SplitOptions = SplitOptions(), shots: Shots | None = None,
              clock: _Clock | None = None, pool: Pool | None = None) -> NewRows:
    """The k new rows of a split, in memory: the core of `compile_split`, which checks the inputs first;
    the benchmarks call it directly.

    The rows start from `options.start` ("ma"/"mr": the zero-shot rows; "coarse"/"random": the
    baselines) and, given `shots`, are fine-tuned on those clips (docs/method.md §4); given an
    unlabelled `pool`, they are then refined and calibrated on it (docs/method.md §8, `adapt_rows`);
    `finish_rows` comes last (the bias offset, or the hierarchical temperature).
    """
    clock = clock or _Clock()
    c = target.c
    if options.zero_shot:
        rows = _zero_shot_rows(target, options, clock)
    else:
        w0, b0 = baseline_rows(options.start, target.w[c], float(target.b[c]), len(target.spec.into), options.seed)
        rows = NewRows(w0, b0, tuple(Source(s, f"{options.start} init") for s in target.spec.labels))
    if shots is not None:
        rows = fine_tune_rows(target, rows, options, shots, pool)
        clock.lap("lowshot")
    if pool is not None:
        rows = adapt_rows(target, rows, options, pool)
        clock.lap("unlabelled")
    return finish_rows(rows, options)


def finish_rows(rows: NewRows, options: SplitOptions) -> NewRows:
    """The last step of every edit: the bias offset (flat mode), or the rows divided by the temperature at
    which they share c's probability (hierarchical mode; docs/method.md §5)."""
    t = options.sharing_temperature
    if t is None:
        return dataclasses.replace(rows, b=(rows.b + np.float32(options.bias_offset)).astype(np.float32))
    return dataclasses.replace(rows, w=(rows.w / np.float32(t)).astype(np.float32),
                               b=(rows.b / np.float32(t)).astype(np.float32))


def fine_tune_rows(target: EditTarget, rows: NewRows, options: SplitOptions, shots: Shots,
                   pool: Pool | None = None) -> NewRows:
    """Low-shot training of the rows on the shot clips (docs/method.md §4). Negatives: the shots' own, else
    the unlabelled pool's clips that the current head gives to labels other than c (labels never read)."""
    c, cfg, neg = target.c, options.shot_config, shots.negatives
    neg_logits = None if neg is None else head_logits(target.head, neg)
    if neg is None and pool is not None:
        other = ~pool.called(c)
        neg, neg_logits = pool.features[other], pool.logits[other]
    w0 = zero_shot_start(rows.w, target.w[c], cfg.init_weight) if options.zero_shot else rows.w
    fit = train_rows(shots.features, shots.targets, head_logits(target.head, shots.features), c, options.mode,
                     w0, rows.b, options.seed, cfg, neg, neg_logits, coarse_row=(target.w[c], float(target.b[c])))
    lowshot = LowShot(options.start, len(shots.targets), fit.epochs, fit.steps, fit.best_epoch,
                      round(fit.best_loss_ema, 6), fit.stop, cfg.keep_coarse, cfg.max_epochs, cfg.min_steps,
                      cfg.penalty, cfg.cap, cfg.init_weight if options.zero_shot else None,
                      0 if neg is None else len(neg), shots.views)
    sources = tuple(dataclasses.replace(s, then=f"fine-tuned on {int((shots.targets == i).sum())} clip(s)")
                    for i, s in enumerate(rows.sources))
    return dataclasses.replace(rows, w=fit.w, b=fit.b, sources=sources, lowshot=lowshot)


def adapt_rows(target: EditTarget, rows: NewRows, options: SplitOptions, pool: Pool) -> NewRows:
    """Refine the rows on the pool clips the current head calls c, then (flat mode) shift their biases
    by calibration's shared offset (docs/method.md §8). The current head's own predictions are the only
    reference: no label is read."""
    config = options.unlabelled
    called = pool.called(target.c)
    w, b, moved = rows.w, rows.b, 0.0
    if config.refine:
        fit = refine_rows(pool.features[called], w, b, config.refine_config)
        w, b, moved = fit.w, fit.b, fit.moved
    offset, locality, capture = 0.0, None, None
    if options.mode == "flat":
        cal = calibrate(pool.logits, pool.features, target.c, w, b, config.locality_target)
        offset, locality, capture = cal.offset, round(cal.locality, 6), cal.capture
        b = (b + np.float32(offset)).astype(np.float32)
    record = Unlabelled(len(pool.features), int(called.sum()), config.refine, round(moved, 6),
                        config.locality_target, round(offset, 6), locality,
                        None if capture is None else round(capture, 6))
    return dataclasses.replace(rows, w=w.astype(np.float32), b=b, unlabelled=record)


# -- 3. assemble and verify ----------------------------------------------------------------------
def assemble(target: EditTarget, rows: NewRows, options: SplitOptions) -> Edit:
    """The edited head (spliced, as bytes), labels, groups, modifier overrides and record."""
    bundle, spec = target.bundle, target.spec
    n = len(bundle.edits) + 1
    head = onnx_bytes(splice(target.head, target.c, rows.w, rows.b, options.mode, tag=f"edit{n}"), bundle.head_path)
    previous = Previous(history_file(n), bundle.files[HEAD], tuple(bundle.labels), bundle.groups, bundle.modifiers)
    record = EditRecord(n=n, spec=spec, method=options.zero_shot, mode=options.mode, seed=options.seed,
                        text_encoder=rows.text_encoder, sources=rows.sources, bias_offset=options.bias_offset,
                        temperature=options.sharing_temperature, previous=previous, alignment=rows.alignment,
                        lowshot=rows.lowshot, unlabelled=rows.unlabelled)
    groups = _regroup(target.groups, spec) if target.groups is not None else None
    return Edit(head, spliced_labels(bundle.labels, target.c, spec.labels), groups, target.overrides, record)


def verify_edit(target: EditTarget, edit: Edit) -> None:
    """Refuse the edit unless its head is valid, runs, and leaves every untouched logit bit-identical."""
    verify_splice(str(target.bundle.head_path), edit.head, target.c, len(target.spec.into),
                  target.bundle.feature_dim, len(edit.labels), name=f"the head spliced from {target.bundle.head_path}",
                  seed=edit.record.seed)


# -- the pipeline --------------------------------------------------------------------------------
def compile_split(bundle_path: str | os.PathLike, spec: str | os.PathLike | SplitSpec | dict,
                  out: str | os.PathLike, options: SplitOptions = SplitOptions(),
                  shots: str | os.PathLike | None = None, groups_file: str | os.PathLike | None = None,
                  force: bool = False, unlabelled: str | os.PathLike | None = None,
                  progress: bool = False) -> EditReport:
    """Split `spec.split` of the bundle into `spec.into` and write the edited bundle to `out`.

    shots: SHOTS.csv for low-shot isolated fine-tuning of the new rows (`options.init` picks their
      start). groups_file: a group scheme JSON that replaces the bundle's; the output bundle stores the
      scheme used, with c's group set to the new subcategories so that later edits can learn from them.
    force: replace `out` if it is a bundle (runtime/output.py's rule; never anything else).
    unlabelled: a folder or CSV of videos, or a feature file (.npz), of clips without labels: the new
      rows are refined and calibrated on them (docs/method.md §8). progress: bars on stderr.
    """
    clock = _Clock()
    checked = check_split(bundle_path, spec, out, options, shots, groups_file, force, unlabelled)
    clock.lap("check")
    shot_data = read_shot_data(checked)
    if shot_data is not None:
        clock.lap("shot_features")
    pool = read_pool(checked, progress)
    if pool is not None:
        clock.lap("unlabelled_features")
    rows = edit_rows(checked.target, options, shot_data, clock, pool)
    edit = assemble(checked.target, rows, options)
    verify_edit(checked.target, edit)
    clock.lap("splice_verify")
    record = dataclasses.replace(edit.record, created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                 timings={**clock.times, "total": round(sum(clock.times.values()), 4)})
    written = write_edit(checked.target.bundle, dataclasses.replace(edit, record=record), out, force=force)
    return EditReport(written.path, record, edit.labels)
