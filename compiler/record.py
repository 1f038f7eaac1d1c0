"""EditRecord: one entry of bundle.json's `edits`, typed, and read back only through validation.

A compile builds an EditRecord and writes `to_json()`; `edits list` and `edits undo` read each entry
with `from_json`, which checks every field the way bundle.json itself is checked (types, ranges, label
texts) and refuses unknown keys, so a tampered or hand-edited history is a one-line error naming the
entry, never a KeyError later. The format is in docs/bundle.md.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping

from catsplit.compiler.errors import CompileError
from catsplit.compiler.groups import check_scheme
from catsplit.compiler.options import INITS, METHODS, STOPS
from catsplit.compiler.spec import SplitSpec, parse_spec
from catsplit.compiler.splice import MODES
from catsplit.runtime.bundle import label_problem

_SHA256 = re.compile(r"[0-9a-f]{64}")


def history_file(n: int) -> str:
    """Where edit n keeps the head it replaced, inside the bundle."""
    return f"history/head.{n}.onnx"


class _Fields:
    """Typed reads of one JSON object; every failure names the object (`where`) and the key."""

    def __init__(self, doc: Any, where: str, keys: tuple[str, ...], required: tuple[str, ...] = ()):
        if not isinstance(doc, dict):
            raise CompileError(f"{where}: must be a JSON object")
        unknown = sorted(set(doc) - set(keys))
        if unknown:
            raise CompileError(f"{where}: unknown key {str(unknown[0])!r}")
        missing = [k for k in required if k not in doc]
        if missing:
            raise CompileError(f"{where}: missing key {missing[0]!r}")
        self.doc, self.where = doc, where

    def fail(self, key: str, problem: str) -> CompileError:
        return CompileError(f"{self.where}.{key}: {problem}")

    def get(self, key: str, check: Callable[[Any], bool], kind: str, optional: bool = False) -> Any:
        value = self.doc.get(key)
        if value is None and optional:
            return None
        if not check(value):
            raise self.fail(key, f"must be {kind}")
        return value

    def int(self, key: str, minimum: int = 0) -> int:
        return self.get(key, lambda v: type(v) is int and v >= minimum, f"an integer >= {minimum}")

    def number(self, key: str) -> float:
        return float(self.get(key, lambda v: type(v) in (int, float) and abs(v) < float("inf"), "a finite number"))

    def text(self, key: str, optional: bool = False) -> str | None:
        value = self.doc.get(key)
        if value is None and optional:
            return None
        problem = label_problem(value)
        if problem is not None:
            raise self.fail(key, problem)
        return value

    def choice(self, key: str, choices: tuple, optional: bool = False) -> Any:
        return self.get(key, lambda v: v in choices, f"one of {choices}", optional)


def _labels(f: _Fields, key: str) -> tuple[str, ...]:
    labels = f.get(key, lambda v: isinstance(v, list) and len(v) > 0, "a non-empty list of labels")
    for y in labels:
        problem = label_problem(y)
        if problem is not None:
            raise f.fail(key, f"a label {problem}")
    if len(set(labels)) != len(labels):
        raise f.fail(key, "labels repeat")
    return tuple(labels)


def _modifiers(f: _Fields, key: str) -> dict[str, str]:
    mods = f.get(key, lambda v: isinstance(v, dict), "an object of label -> modifier text")
    for y, m in mods.items():
        if label_problem(y) is not None or label_problem(m) is not None:
            raise f.fail(key, f"the entry for {str(y)[:80]!r} is not a label and its modifier text")
    return dict(mods)


@dataclass(frozen=True)
class Previous:
    """What an edit replaced: undo puts it back."""

    head: str
    sha256: str
    labels: tuple[str, ...]
    groups: dict[str, list[str]] | None
    modifiers: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"head": self.head, "sha256": self.sha256, "labels": list(self.labels), "groups": self.groups,
                "modifiers": self.modifiers}

    @classmethod
    def from_json(cls, doc: Any, where: str, n: int) -> Previous:
        f = _Fields(doc, where, ("head", "sha256", "labels", "groups", "modifiers"),
                    ("head", "sha256", "labels", "modifiers"))
        f.get("head", lambda v: v == history_file(n), f"{history_file(n)!r} (where edit {n} keeps its old head)")
        sha = f.get("sha256", lambda v: isinstance(v, str) and _SHA256.fullmatch(v) is not None,
                    "a sha256 (64 lower-case hex digits)")
        groups = doc.get("groups")
        if groups is not None:
            groups = check_scheme(groups, f"{where}.groups")
        return cls(history_file(n), sha, _labels(f, "labels"), groups, _modifiers(f, "modifiers"))


@dataclass(frozen=True)
class Source:
    """Where one new row came from (informational; `edits list --json` and compile --json show it)."""

    label: str
    origin: str  # "W[c] + v[<entry>]", "W[c] + g(phi(modifier))", "<init> init"
    modifier: str | None = None
    entry: str | None = None  # MR: the dictionary label whose modifier vector was borrowed
    group: str | None = None
    score: float | None = None
    modifier_score: float | None = None
    label_score: float | None = None
    then: str | None = None  # low-shot: "fine-tuned on <n> clip(s)"

    def to_json(self) -> dict[str, Any]:
        doc = {"label": self.label, "modifier": self.modifier, "from": self.origin, "entry": self.entry,
               "group": self.group, "score": self.score, "modifier_score": self.modifier_score,
               "label_score": self.label_score, "then": self.then}
        return {k: v for k, v in doc.items() if v is not None}

    @classmethod
    def from_json(cls, doc: Any, where: str) -> Source:
        f = _Fields(doc, where, ("label", "modifier", "from", "entry", "group", "score", "modifier_score",
                                 "label_score", "then"), ("label", "from"))
        scores = {k: None if doc.get(k) is None else f.number(k) for k in ("score", "modifier_score", "label_score")}
        return cls(f.text("label"), f.get("from", lambda v: isinstance(v, str), "a string"),
                   f.text("modifier", optional=True), f.text("entry", optional=True), f.text("group", optional=True),
                   then=f.get("then", lambda v: isinstance(v, str), "a string", optional=True), **scores)


@dataclass(frozen=True)
class EncoderRef:
    name: str
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256}

    @classmethod
    def from_json(cls, doc: Any, where: str) -> EncoderRef:
        f = _Fields(doc, where, ("name", "sha256"), ("name", "sha256"))
        return cls(f.get("name", lambda v: isinstance(v, str) and label_problem(v) is None, "a name"),
                   f.get("sha256", lambda v: isinstance(v, str) and _SHA256.fullmatch(v) is not None, "a sha256"))


@dataclass(frozen=True)
class Alignment:
    """How MA's map g trained (docs/method.md §3)."""

    pairs: int
    epochs: int
    best_epoch: int
    best_cosine_ema: float
    max_epochs: int
    ensemble: int = 1   # maps averaged; the other fields are the first map's
    rescale: bool = False  # rows rescaled to W[c]'s norm
    with_mr: bool = False  # rows averaged with MR's

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, doc: Any, where: str) -> Alignment:
        keys = ("pairs", "epochs", "best_epoch", "best_cosine_ema", "max_epochs")
        f = _Fields(doc, where, (*keys, "ensemble", "rescale", "with_mr"), keys)

        def flag(key: str) -> bool:
            return f.get(key, lambda v: isinstance(v, bool), "true or false", optional=True) or False

        return cls(f.int("pairs", 1), f.int("epochs", 1), f.int("best_epoch"), f.number("best_cosine_ema"),
                   f.int("max_epochs", 1), f.int("ensemble", 1) if "ensemble" in doc else 1, flag("rescale"),
                   flag("with_mr"))


@dataclass(frozen=True)
class LowShot:
    """How the new rows were fine-tuned on clips (docs/method.md §4): how far training went (steps,
    epochs, the epoch kept, why it stopped) and the settings that shaped it."""

    init: str
    clips: int
    epochs: int
    steps: int
    best_epoch: int
    best_loss_ema: float
    stop: str  # "patience" or "max_epochs"
    keep_coarse: bool
    max_epochs: int
    min_steps: int
    penalty: float
    cap: bool
    init_weight: float | None  # MA/MR starts: how far from W[c] towards the zero-shot rows (None otherwise)
    negatives: int  # clips not of c trained towards their own prediction
    views: tuple[int, int]

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "views": list(self.views)}

    @classmethod
    def from_json(cls, doc: Any, where: str) -> LowShot:
        keys = tuple(x.name for x in fields(cls))
        f = _Fields(doc, where, keys, keys)
        views = f.get("views", lambda v: isinstance(v, list) and len(v) == 2 and all(type(x) is int and x > 0
                                                                                      for x in v), "[clips, crops]")
        flag = (lambda key: f.get(key, lambda v: isinstance(v, bool), "true or false"))
        return cls(f.choice("init", INITS), f.int("clips", 1), f.int("epochs", 1), f.int("steps", 1),
                   f.int("best_epoch"), f.number("best_loss_ema"), f.choice("stop", STOPS), flag("keep_coarse"),
                   f.int("max_epochs", 1), f.int("min_steps"), f.number("penalty"), flag("cap"),
                   None if doc.get("init_weight") is None else f.number("init_weight"), f.int("negatives"),
                   tuple(views))


@dataclass(frozen=True)
class Unlabelled:
    """How unlabelled clips refined and calibrated the new rows (docs/method.md §8); fractions in [0, 1]."""

    clips: int
    called_coarse: int        # clips the original model gave to the split label
    refined: bool
    moved: float              # of those, the fraction whose best new row changed in refinement
    locality_target: float
    offset: float             # shared bias offset from calibration (0 in hierarchical mode)
    pool_locality: float | None
    capture: float | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, doc: Any, where: str) -> Unlabelled:
        keys = tuple(cls.__dataclass_fields__)
        f = _Fields(doc, where, keys, keys)

        def fraction(key: str, optional: bool = False) -> float | None:
            return f.get(key, lambda v: type(v) in (int, float) and 0 <= v <= 1, "a number in [0, 1]", optional)

        return cls(f.int("clips", 1), f.int("called_coarse"), f.get("refined", lambda v: isinstance(v, bool),
                   "true or false"), fraction("moved"), fraction("locality_target"), f.number("offset"),
                   fraction("pool_locality", True), fraction("capture", True))


@dataclass(frozen=True)
class EditRecord:
    """One split edit as bundle.json's `edits` keeps it."""

    n: int
    spec: SplitSpec
    method: str | None  # the zero-shot method, None for a coarse/random start
    mode: str
    seed: int
    text_encoder: EncoderRef | None
    sources: tuple[Source, ...]
    bias_offset: float
    previous: Previous
    temperature: float | None = None  # hierarchical mode: the rows share c's probability at this temperature
    created: str = ""
    timings: Mapping[str, float] = field(default_factory=dict)
    alignment: Alignment | None = None
    lowshot: LowShot | None = None
    unlabelled: Unlabelled | None = None
    op: str = "split"

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "n": self.n, "op": self.op, "spec": self.spec.to_json(), "method": self.method, "mode": self.mode,
            "seed": self.seed, "text_encoder": self.text_encoder.to_json() if self.text_encoder else None}
        if self.alignment is not None:
            doc["alignment"] = self.alignment.to_json()
        if self.lowshot is not None:
            doc["lowshot"] = self.lowshot.to_json()
        if self.unlabelled is not None:
            doc["unlabelled"] = self.unlabelled.to_json()
        doc.update(sources=[s.to_json() for s in self.sources], bias_offset=self.bias_offset)
        if self.temperature is not None:
            doc["temperature"] = self.temperature
        doc.update(created=self.created, timings=dict(self.timings), previous=self.previous.to_json())
        return doc

    def shown_json(self) -> dict[str, Any]:
        """The record as commands show it: without `previous` (the replaced head's bookkeeping)."""
        return {k: v for k, v in self.to_json().items() if k != "previous"}

    @classmethod
    def from_json(cls, doc: Any, where: str) -> EditRecord:
        """Validate one `edits` entry; `where` names it in errors (`<bundle.json>: edits[2]`)."""
        f = _Fields(doc, where, ("n", "op", "spec", "method", "mode", "seed", "text_encoder", "alignment",
                                 "lowshot", "unlabelled", "sources", "bias_offset", "temperature", "created", "timings",
                                 "previous"),
                    ("n", "op", "spec", "method", "mode", "seed", "sources", "bias_offset", "previous"))
        n = f.int("n", 1)
        f.choice("op", ("split",))
        spec = parse_spec(doc["spec"], f"{where}.spec")
        sources = f.get("sources", lambda v: isinstance(v, list), "a list")
        timings = f.get("timings", lambda v: isinstance(v, dict) and all(
            isinstance(k, str) and type(x) in (int, float) for k, x in v.items()), "an object of step -> seconds",
            optional=True)
        return cls(
            n=n, spec=spec, method=f.choice("method", METHODS, optional=True), mode=f.choice("mode", MODES),
            seed=f.get("seed", lambda v: type(v) is int, "an integer"),
            text_encoder=None if doc.get("text_encoder") is None
            else EncoderRef.from_json(doc["text_encoder"], f"{where}.text_encoder"),
            sources=tuple(Source.from_json(s, f"{where}.sources[{i}]") for i, s in enumerate(sources)),
            bias_offset=f.number("bias_offset"),
            temperature=f.get("temperature", lambda v: type(v) in (int, float) and 0 < v < float("inf"),
                              "a positive number", optional=True),
            previous=Previous.from_json(doc["previous"], f"{where}.previous", n),
            created=f.get("created", lambda v: isinstance(v, str), "a string", optional=True) or "",
            timings=timings or {},
            alignment=None if doc.get("alignment") is None
            else Alignment.from_json(doc["alignment"], f"{where}.alignment"),
            lowshot=None if doc.get("lowshot") is None else LowShot.from_json(doc["lowshot"], f"{where}.lowshot"),
            unlabelled=None if doc.get("unlabelled") is None
            else Unlabelled.from_json(doc["unlabelled"], f"{where}.unlabelled"))

    def summary(self) -> dict[str, Any]:
        """The edit as `catsplit edits` lists it."""
        return {"n": self.n, "split": self.spec.split, "into": self.spec.labels, "method": self.method,
                "mode": self.mode, "seed": self.seed, "shots": self.lowshot is not None,
                "unlabelled": self.unlabelled.clips if self.unlabelled else 0,
                "text_encoder": self.text_encoder.name if self.text_encoder else None, "created": self.created}
