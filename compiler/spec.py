"""SPLIT.json: which coarse label to split and into what.

    {"split": "<coarse label>", "into": [{"label": "<new label>", "modifier": "<optional>"}, ...]}

Parsing checks the file on its own; `check_against` checks it against a bundle's labels. Unknown keys
are refused so a typo ("modifer") is not silently ignored.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from catsplit.compiler.errors import CompileError


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


def _text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() == value and bool(value)


def parse_spec(doc: Any, source: str = "SPLIT.json") -> SplitSpec:
    """Validate a decoded SPLIT.json document."""
    def bad(problem: str) -> CompileError:
        return CompileError(f"{source}: {problem}")

    if not isinstance(doc, dict) or not doc:
        raise bad('must be a JSON object {"split": ..., "into": [...]}')
    extra = set(doc) - {"split", "into"}
    if extra:
        raise bad(f"unknown key(s) {sorted(extra)}; expected 'split' and 'into'")
    if not _text(doc.get("split")):
        raise bad("'split' must be the coarse label's text (a non-empty string without outer spaces)")
    into = doc.get("into")
    if not isinstance(into, list):
        raise bad("'into' must be a list of {\"label\": ..., \"modifier\": ...} objects")
    subs = []
    for i, item in enumerate(into):
        if not isinstance(item, dict) or set(item) - {"label", "modifier"} or not _text(item.get("label")):
            raise bad(f"into[{i}] must be an object with a non-empty 'label' and an optional 'modifier'")
        modifier = item.get("modifier")
        if modifier is not None and not _text(modifier):
            raise bad(f"into[{i}]: 'modifier' must be a non-empty string")
        subs.append(Sub(item["label"], modifier))
    if len(subs) < 2:
        raise bad(f"needs at least 2 subcategories in 'into', got {len(subs)}")
    seen: set[str] = set()
    for s in subs:
        if s.label in seen:
            raise bad(f"subcategory {s.label!r} repeats")
        seen.add(s.label)
    return SplitSpec(doc["split"], tuple(subs), source)


def load_spec(path: str | Path) -> SplitSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CompileError(f"{path}: cannot read ({e.__class__.__name__})") from None
    if not text.strip():
        raise CompileError(f"{path}: is empty")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise CompileError(f"{path}: not valid JSON ({e})") from None
    return parse_spec(doc, str(path))


def check_against(spec: SplitSpec, labels: Sequence[str], bundle: str) -> int:
    """The coarse label's index; refuses a coarse label that is missing or a new label that exists."""
    if spec.split not in labels:
        raise CompileError(f"{spec.source}: coarse label {spec.split!r} is not a label of {bundle}")
    existing = set(labels)
    for s in spec.into:
        if s.label in existing:
            raise CompileError(f"{spec.source}: subcategory {s.label!r} already is a label of {bundle}")
    return list(labels).index(spec.split)
