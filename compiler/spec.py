"""SPLIT.json: which coarse label to split and into what.

    {"split": "<coarse label>", "into": [{"label": "<new label>", "modifier": "<optional>"}, ...]}

Parsing checks the file on its own; `check_against` checks it against a bundle's labels. Unknown keys
are refused so a typo ("modifer") is not silently ignored. Every text obeys the bundle's label rule
(runtime/bundle.py `label_problem`: no control characters, at most 256 characters); a split has at
most MAX_SUBCATEGORIES subcategories and the file at most MAX_SPEC_BYTES.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from catsplit.compiler.errors import CompileError
from catsplit.runtime.bundle import label_problem
from catsplit.runtime.inputs import MIB, read_json

MAX_SUBCATEGORIES = 1000  # a split into more is not a split of one label (and MA's cost grows with it)
MAX_SPEC_BYTES = MIB  # 1000 subcategories of 256-character labels and modifiers fit with room to spare


@dataclass(frozen=True)
class Sub:
    label: str
    modifier: str | None = None


@dataclass(frozen=True)
class SplitSpec:
    split: str
    into: tuple[Sub, ...]
    source: str = "SPLIT.json"

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.into]

    def to_json(self) -> dict[str, Any]:
        into = [{"label": s.label, **({"modifier": s.modifier} if s.modifier else {})} for s in self.into]
        return {"split": self.split, "into": into}


def parse_spec(doc: Any, source: str = "SPLIT.json") -> SplitSpec:
    """Validate a decoded SPLIT.json document."""
    def bad(problem: str) -> CompileError:
        return CompileError(f"{source}: {problem}")

    def text(value: Any, where: str) -> str:
        problem = label_problem(value)
        if problem is None:
            return value
        shown = f" {value[:80]!r}" if isinstance(value, str) else ""
        raise bad(f"{where}{shown} {problem}")

    if not isinstance(doc, dict) or not doc:
        raise bad('must be a JSON object {"split": ..., "into": [...]}')
    extra = set(doc) - {"split", "into"}
    if extra:
        raise bad(f"unknown key(s) {sorted(extra)}; expected 'split' and 'into'")
    split = text(doc.get("split"), "'split' (the coarse label's text)")
    into = doc.get("into")
    if not isinstance(into, list):
        raise bad("'into' must be a list of {\"label\": ..., \"modifier\": ...} objects")
    if not 2 <= len(into) <= MAX_SUBCATEGORIES:
        raise bad(f"needs at least 2 and at most {MAX_SUBCATEGORIES} subcategories in 'into', got {len(into)}")
    subs = []
    for i, item in enumerate(into):
        if not isinstance(item, dict) or "label" not in item or set(item) - {"label", "modifier"}:
            raise bad(f"into[{i}] must be an object with a 'label' and an optional 'modifier'")
        label = text(item["label"], f"into[{i}]: the label")
        modifier = item.get("modifier")
        subs.append(Sub(label, None if modifier is None else text(modifier, f"into[{i}]: the modifier")))
    seen: set[str] = set()
    for s in subs:
        if s.label in seen:
            raise bad(f"subcategory {s.label!r} repeats")
        seen.add(s.label)
    return SplitSpec(split, tuple(subs), source)


def load_spec(path: str | Path) -> SplitSpec:
    return parse_spec(read_json(path, "spec", MAX_SPEC_BYTES), str(path))


def check_against(spec: SplitSpec, labels: Sequence[str], bundle: str) -> int:
    """The coarse label's index; refuses a coarse label that is missing or a new label that exists."""
    if spec.split not in labels:
        raise CompileError(f"{spec.source}: coarse label {spec.split!r} is not a label of {bundle}")
    existing = set(labels)
    for s in spec.into:
        if s.label in existing:
            raise CompileError(f"{spec.source}: subcategory {s.label!r} already is a label of {bundle}")
    return list(labels).index(spec.split)
