"""`catsplit eval`: measure an edit on a user's own labelled clips, scored as the benchmark scores it.

ORIGINAL must be the bundle EDITED's last edit was made from (its head.onnx sha256 is the edit
record's `previous` head); c and the subcategories come from that record's spec. Each clip's views go
through the backbone once when both bundles share it (same sha256; else once per bundle), then
through both heads; the logits are scored by compiler/metrics.py, the benchmark's own code
(docs/method.md §6): generality on the clips labelled with a subcategory, locality = acc(edited) /
acc(original) on every other clip, c masked for both.

CLIPS.csv rows are `video path,label` with labels in EDITED's label space (compiler/clip_csv.py). A
row that cannot be used (a missing file, an unknown label, a video that does not decode) is skipped and
reported; the rest is evaluated. No usable row is an error.
"""
from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from catsplit.compiler.clip_csv import ClipRow, RowProblem, read_clip_csv
from catsplit.compiler.edits import read_history
from catsplit.compiler.errors import CompileError
from catsplit.compiler.metrics import TargetScore, label_predictions, predictions, score_predictions
from catsplit.compiler.record import EditRecord
from catsplit.runtime.bundle import BACKBONE, BUNDLE_JSON, HEAD, Bundle, load_bundle

NEIGHBOURS = 5  # c's nearest neighbours shown beside the subcategories
OTHER = "(other)"  # the confusion matrix's column for every other label


@dataclass(frozen=True)
class ClipResult:
    """One evaluated clip: its truth and each model's prediction (c masked, views averaged)."""

    row: int
    path: str
    truth: str
    original: str
    edited: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Confusion:
    """Counts of the edited model's predictions: rows = true labels, columns = predicted labels."""

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]

    def to_json(self) -> dict[str, Any]:
        return {"rows": list(self.rows), "columns": list(self.columns), "counts": [list(r) for r in self.counts]}


@dataclass(frozen=True)
class EvalReport:
    original: str
    edited: str
    clips_csv: str
    record: EditRecord
    views: tuple[int, int]
    clips: tuple[ClipResult, ...]
    skipped: tuple[RowProblem, ...]
    score: TargetScore                     # pooled over the subcategories
    per_subcategory: tuple[TargetScore, ...]
    coarse_hits: int                       # subcategory clips the original model, c unmasked, gives c
    neighbours: tuple[tuple[str, int], ...]  # labels the original model (c masked) gives c's clips, counts
    confusion: Confusion

    @property
    def coarse(self) -> str:
        return self.record.spec.split

    @property
    def subcategories(self) -> tuple[str, ...]:
        return tuple(self.record.spec.labels)

    @property
    def other_clips(self) -> int:
        return len(self.clips) - self.score.clips

    @property
    def generality(self) -> float | None:
        return self.score.generality if self.score.clips else None

    @property
    def locality(self) -> float | None:
        """None without other clips, or when the original model gets none of them right."""
        return self.score.locality if self.other_clips and self.score.original_acc > 0 else None

    @property
    def changed(self) -> tuple[ClipResult, ...]:
        return tuple(c for c in self.clips if c.original != c.edited)

    def to_json(self) -> dict[str, Any]:
        s = self.score
        return {
            "original": self.original, "edited": self.edited, "clips_csv": self.clips_csv,
            "edit": self.record.shown_json(), "views": list(self.views),
            "coarse": self.coarse, "subcategories": list(self.subcategories),
            "generality": self.generality,
            "generality_per_subcategory": {t.target: {"correct": t.correct, "clips": t.clips,
                                                      "generality": t.generality if t.clips else None}
                                           for t in self.per_subcategory},
            "locality": self.locality,
            "locality_clips": self.other_clips,
            "edited_accuracy": None if not self.other_clips else s.edited_acc,
            "original_accuracy": None if not self.other_clips else s.original_acc,
            "coarse_hits": self.coarse_hits,
            "neighbours": [{"label": y, "clips": n} for y, n in self.neighbours],
            "confusion": self.confusion.to_json(),
            "changed": [c.to_json() for c in self.changed],
            "clips": [c.to_json() for c in self.clips],
            "skipped": [p.to_json() for p in self.skipped],
        }


def edit_of(original: Bundle, edited: Bundle) -> EditRecord:
    """EDITED's last edit, refused unless ORIGINAL is the bundle it was made from."""
    history = read_history(edited)
    if not history:
        raise CompileError(f"{edited.path / BUNDLE_JSON}: has no edits to evaluate")
    last = history[-1]
    sha = original.files.get(HEAD, "")
    if sha != last.previous.sha256 or list(original.labels) != list(last.previous.labels):
        raise CompileError(f"{original.path}: is not the bundle {edited.path}'s last edit (edit {last.n}) was made "
                           f"from: its head.onnx sha256 is {sha[:12]}, the edit's previous head "
                           f"{last.previous.sha256[:12]}")
    return last


def confusion(pe: np.ndarray, truth: np.ndarray, subcategories: Sequence[str],
              neighbours: Sequence[str]) -> Confusion:
    """The edited model's confusion among the subcategories and c's neighbours: a row per subcategory and
    per neighbour with clips, a column per subcategory and neighbour, plus OTHER for any other label."""
    named = list(subcategories) + [y for y in neighbours if y not in subcategories]
    rows = [y for y in named if y in subcategories or (truth == y).any()]
    counts = []
    for y in rows:
        got = Counter(p if p in named else OTHER for p in pe[truth == y])
        counts.append(tuple(got.get(c, 0) for c in named + [OTHER]))
    return Confusion(tuple(rows), tuple(named + [OTHER]), tuple(counts))


def _logits(rows: Sequence[ClipRow], original: Bundle, edited: Bundle, views: tuple[int, int], provider: str,
            progress: bool) -> tuple[list[ClipRow], list[RowProblem], np.ndarray, np.ndarray]:
    """Both models' logits [N, V, C] of every clip that decodes; the rows that did not, as problems."""
    from catsplit.runtime.session import Runtime
    from catsplit.runtime.video import VideoError, load_views

    rt = Runtime(original, provider=provider, views=views)
    head_o = rt.head
    shared = original.files[BACKBONE] == edited.files[BACKBONE]
    rt_e = rt if shared else Runtime(edited, provider=provider, views=views)
    head_e = rt.swap_head(edited) if shared else rt_e.head

    it: Any = rows
    if progress:
        from tqdm import tqdm
        it = tqdm(rows, desc="eval", unit="clip", file=sys.stderr, leave=False)
    used, problems, lo, le = [], [], [], []
    for r in it:
        try:
            x = load_views(r.file, rt.preprocess, *views)
            feats = feats_e = rt.features(x)
            if not shared:  # the video is decoded again only if the edited bundle preprocesses differently
                x_e = x if rt_e.preprocess == rt.preprocess else load_views(r.file, rt_e.preprocess, *views)
                feats_e = rt_e.features(x_e)
        except VideoError as e:
            problems.append(RowProblem(r.row, str(r.file), f"row {r.row}: {e}"))
            continue
        used.append(r)
        lo.append(head_o.logits(feats))
        le.append(head_e.logits(feats_e))
    if not used:
        return used, problems, np.empty((0,)), np.empty((0,))
    return used, problems, np.stack(lo), np.stack(le)


def evaluate_edit(original: str | os.PathLike, edited: str | os.PathLike, clips: str | os.PathLike,
                  views: tuple[int, int] = (1, 1), provider: str = "auto", progress: bool = False,
                  on_skip: Callable[[RowProblem], None] | None = None) -> EvalReport:
    """Score EDITED's last edit against ORIGINAL on the clips of CLIPS.csv (see the module doc).

    `on_skip(problem)` is called for each skipped row: the CSV's bad rows before any video is decoded,
    the videos that did not decode after the last one was.
    Raises CompileError when no row is usable.
    """
    ob, eb = load_bundle(original), load_bundle(edited)
    record = edit_of(ob, eb)
    c, new = record.spec.split, list(record.spec.labels)
    rows, skipped = read_clip_csv(clips, eb.labels, "clips CSV", f"a label of {eb.path}")
    report = on_skip or (lambda p: None)
    for p in skipped:
        report(p)
    used, failed, lo, le = _logits(rows, ob, eb, views, provider, progress)
    for p in failed:
        report(p)
    skipped = sorted(skipped + failed, key=lambda p: p.row)
    if not used:
        raise CompileError(f"{clips}: no usable clip ({len(skipped)} row(s) skipped)")

    truth = np.array([r.label for r in used], dtype=object)
    inside = np.isin(truth, new)
    coarse = ob.labels.index(c)
    pe, po = label_predictions(le, eb.labels, lo, ob.labels, coarse)
    score = score_predictions(c, new, pe, po, truth, inside)
    per_sub = tuple(score_predictions(y, [y], pe, po, truth, truth == y) for y in new)
    unmasked = np.asarray(ob.labels, dtype=object)[predictions(lo)]
    near = tuple(Counter(po[inside]).most_common(NEIGHBOURS))
    results = tuple(ClipResult(r.row, str(r.file), r.label, o, e) for r, o, e in zip(used, po, pe))
    return EvalReport(str(original), str(edited), str(clips), record, views, results, tuple(skipped), score,
                      per_sub, int((unmasked[inside] == c).sum()), near,
                      confusion(pe, truth, new, [y for y, _ in near]))
