"""CLIPS.csv: `video path,label` per line (further columns ignored, so the world's clips.csv files read
as they are), the one reader for low-shot shots, `catsplit eval` and unlabelled clips.

An optional header `video,label` or `path,label`; blank lines are ignored; a relative path is relative
to the csv's folder. The file as a whole must be a readable CSV (else CompileError); each row is then
checked on its own and a bad one (wrong number of fields, a label not in `labels`, a missing video)
becomes a `RowProblem`, so a caller can refuse the file at the first one (low-shot) or skip the row and
go on (eval).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from catsplit.compiler.errors import CompileError
from catsplit.runtime.inputs import MIB, read_text

MAX_CSV_BYTES = 16 * MIB
HEADERS = (["video", "label"], ["path", "label"])


@dataclass(frozen=True)
class ClipRow:
    row: int      # 1-based, counting data rows (the header and blank lines not counted)
    file: Path
    label: str


@dataclass(frozen=True)
class RowProblem:
    row: int
    video: str    # as written in the csv ("" when the row has no fields to read it from)
    problem: str  # "row 3: video clips/a.mp4 does not exist"

    def to_json(self) -> dict[str, object]:
        return {"row": self.row, "video": self.video, "problem": self.problem}


def read_clip_csv(path: str | Path, labels: Sequence[str] | None, what: str = "clips CSV",
                  label_kind: str = "a known label") -> tuple[list[ClipRow], list[RowProblem]]:
    """The usable rows and the problems of the others, in file order. `label_kind` ends the unknown-label
    problem: `row 2 names 'x', which is not <label_kind>`. With `labels=None` no label is read: a row's
    first column is the video path, any other columns are ignored (unlabelled clips), and its label is ""."""
    path = Path(path)
    text = read_text(path, what, MAX_CSV_BYTES)
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline="")) if any(x.strip() for x in r)]
    except csv.Error as e:
        raise CompileError(f"{path}: not a valid CSV ({e})") from None
    if rows and [x.strip().lower() for x in rows[0]][:2 if labels is not None else 1] in (
            HEADERS if labels is not None else [h[:1] for h in HEADERS]):
        rows = rows[1:]
    known = set(labels or ())
    good, bad = [], []
    for n, row in enumerate(rows, 1):
        video = row[0].strip() if row else ""
        if labels is not None and len(row) < 2:
            bad.append(RowProblem(n, video, f"row {n} must be 'video path,label'"))
            continue
        label = row[1].strip() if labels is not None else ""
        if labels is not None and label not in known:
            bad.append(RowProblem(n, video, f"row {n} names {label!r}, which is not {label_kind}"))
            continue
        file = Path(video) if Path(video).is_absolute() else path.parent / video
        if not file.is_file():
            bad.append(RowProblem(n, video, f"row {n}: video {file} does not exist"))
            continue
        good.append(ClipRow(n, file, label))
    return good, bad
