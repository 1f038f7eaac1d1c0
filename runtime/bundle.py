"""The bundle: bundle.json + backbone.onnx + head.onnx, the one artifact everything passes around.

bundle.json is the single source of truth for labels, preprocessing, the group scheme and the edit
history. Every file the bundle lists is checked against its sha256 on load, so a bundle that was
tampered with or half-copied is refused before a session is built from it.

This module must stay importable with the runtime's dependencies only (numpy, onnxruntime, av, click).
"""
from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import shutil
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from catsplit.runtime.errors import CatsplitError, first_line, printable, unsafe_char
from catsplit.runtime.output import Kind, Staging, staged_output
from catsplit.runtime.paths import PathProblem, os_problem, regular_file

SCHEMA = "catsplit.bundle"
SCHEMA_VERSION = 1
BUNDLE_JSON = "bundle.json"
BACKBONE = "backbone.onnx"
HEAD = "head.onnx"
LAYOUTS = ("NCTHW", "NTCHW")
SAMPLINGS = ("uniform", "stride")
# Far above any video model's input, low enough that a tampered bundle.json cannot ask for absurd arrays.
MAX_FRAMES, MAX_SIDE = 1024, 4096
MAX_TEXT = 256  # characters in a label, group name or modifier text (the longest of the 174 SSv2 labels has 98)


class BundleError(CatsplitError):
    """A bundle that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Preprocess:
    """How a video becomes the backbone's input tensor.

    sampling: "uniform" = one frame from the centre of each of `num_frames` equal segments (TSN test
    protocol); "stride" = `num_frames` consecutive frames `stride` apart. Frames are RGB, scaled to
    [0, 1], resized so the short side is `resize`, centre-cropped to `crop` x `crop`, then normalised
    with mean/std and laid out as `layout` (batch first).
    """

    num_frames: int
    crop: int
    resize: int
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    layout: str = "NCTHW"
    sampling: str = "uniform"
    stride: int = 1

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {self.sampling!r}")
        sizes = (self.num_frames, self.crop, self.resize, self.stride)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in sizes):
            raise ValueError(f"num_frames, crop, resize and stride must be integers: {self}")
        if not (1 <= self.num_frames <= MAX_FRAMES and 1 <= self.crop <= self.resize <= MAX_SIDE
                and 1 <= self.stride <= MAX_FRAMES):
            raise ValueError(f"inconsistent preprocessing sizes: {self}")
        if (len(self.mean) != 3 or len(self.std) != 3 or not all(map(math.isfinite, self.mean + self.std))
                or min(self.std) <= 0):
            raise ValueError("mean and std need three finite channels and a positive std")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Preprocess":
        d = dict(d)
        for key in ("mean", "std"):
            if key in d:
                d[key] = tuple(float(v) for v in d[key])
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    def input_shape(self, batch: int) -> tuple[int, ...]:
        t, s = self.num_frames, self.crop
        return (batch, 3, t, s, s) if self.layout == "NCTHW" else (batch, t, 3, s, s)


@dataclass
class Bundle:
    """A loaded (and verified) bundle. Mutate a copy, then `write_bundle` it somewhere new."""

    path: Path
    labels: list[str]
    feature_dim: int
    preprocess: Preprocess
    files: dict[str, str]  # relative path -> sha256
    groups: dict[str, list[str]] | None = None
    modifiers: dict[str, str] = field(default_factory=dict)  # label -> modifier text override
    edits: list[dict[str, Any]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    def file(self, rel: str) -> Path:
        """The bundle's file `rel`, checked by `bundle_file` (inside the bundle, a regular file)."""
        return bundle_file(self.path, rel)

    @property
    def backbone_path(self) -> Path:
        return self.file(BACKBONE)

    @property
    def head_path(self) -> Path:
        return self.file(HEAD)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "labels": self.labels,
            "feature_dim": self.feature_dim,
            "preprocess": self.preprocess.to_dict(),
            "groups": self.groups,
            "modifiers": self.modifiers,
            "edits": self.edits,
            "provenance": self.provenance,
            "files": self.files,
        }


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _require(cond: bool, path: Path, problem: str) -> None:
    if not cond:
        raise BundleError(f"{path}: {problem}")


def _parse(path: Path, doc: Any) -> Bundle:
    meta = path / BUNDLE_JSON
    _require(isinstance(doc, dict), meta, "is not a JSON object")
    _require(doc.get("schema") == SCHEMA, meta, f"schema is {doc.get('schema')!r}, expected {SCHEMA!r}")
    version = doc.get("schema_version")
    _require(version == SCHEMA_VERSION, meta,
             f"schema_version {version!r} is not supported (this catsplit reads {SCHEMA_VERSION})")
    for key in ("labels", "feature_dim", "preprocess", "files"):
        _require(key in doc, meta, f"missing key {key!r}")
    labels = doc["labels"]
    _require(isinstance(labels, list) and labels and all(isinstance(s, str) and s for s in labels),
             meta, "labels must be a non-empty list of strings")
    _require(len(set(labels)) == len(labels), meta, "labels repeat")
    _require(type(doc["feature_dim"]) is int and doc["feature_dim"] > 0, meta,
             "feature_dim must be a positive integer")
    try:
        pre = Preprocess.from_dict(doc["preprocess"])
    except (TypeError, ValueError) as e:
        raise BundleError(f"{meta}: bad preprocess: {e}") from None
    files = doc["files"]
    _require(isinstance(files, dict) and BACKBONE in files and HEAD in files, meta,
             f"files must list {BACKBONE} and {HEAD} with their sha256")
    for rel in files:  # names only: nothing is opened here
        _inside(path, rel)
    groups = doc.get("groups")
    if groups is not None:
        _require(isinstance(groups, dict) and all(isinstance(v, list) for v in groups.values()), meta,
                 "groups must map a group name to a list of labels")
    _require(isinstance(doc.get("modifiers") or {}, dict), meta, "modifiers must map a label to a modifier text")
    _require(isinstance(doc.get("edits") or [], list), meta, "edits must be a list of edit records")
    return Bundle(path=path, labels=labels, feature_dim=doc["feature_dim"], preprocess=pre,
                  files=dict(files), groups=groups, modifiers=dict(doc.get("modifiers") or {}),
                  edits=list(doc.get("edits") or []), provenance=dict(doc.get("provenance") or {}))


def _inside(root: Path, rel: str) -> Path:
    """`root / rel` for a name that stays inside `root` as written (relative, no `..`)."""
    if not isinstance(rel, str) or not rel or "\0" in rel or os.path.isabs(rel) or ".." in Path(rel).parts:
        raise BundleError(f"{root / BUNDLE_JSON}: file {rel!r} lies outside the bundle")
    return root / rel


def bundle_file(root: str | os.PathLike, rel: str) -> Path:
    """`root / rel`, once it is known to be a regular file inside the bundle at `root`.

    The one containment rule for every file of a bundle (bundle.json included), applied by everything
    that opens one (`load_bundle`, `Bundle.file` and so `Runtime` and `swap_head`, the compiler, the
    quantiser): the name is relative without `..`, and the path with every symlink resolved lies inside
    the bundle directory with every symlink resolved. So a bundle reached through a symlinked
    directory (a deploy's `current` link) works, and a file that is, or passes through, a symlink out
    of the bundle is refused before it is read. A FIFO or device is refused too (hashing one would
    block or never end). The path returned is the unresolved one, so messages name what the user gave.
    """
    root = Path(root)
    path = _inside(root, rel)
    try:
        real = Path(os.path.realpath(path, strict=True))
        base = Path(os.path.realpath(root, strict=True))
    except OSError as e:
        problem = os_problem(e)
        listed = f" (listed in {BUNDLE_JSON})" if rel != BUNDLE_JSON and e.errno == errno.ENOENT else ""
        raise BundleError(f"{path}: {'missing' if e.errno == errno.ENOENT else problem}{listed}") from None
    if not real.is_relative_to(base):
        raise BundleError(f"{path}: lies outside the bundle (resolves to {real})")
    try:
        regular_file(real)
    except PathProblem as e:
        raise BundleError(f"{path}: {e}") from None
    return path


def verify_files(bundle: Bundle, names: Iterable[str]) -> None:
    """Check the bundle files `names` against the sha256 bundle.json lists for them."""
    for rel in names:
        f = bundle_file(bundle.path, rel)
        if sha256_file(f) != bundle.files.get(rel):
            raise BundleError(f"{f}: sha256 does not match {BUNDLE_JSON} (file changed or corrupt)")


def _bundle_dir(root: Path) -> None:
    """Refuse a bundle path that is not a directory, saying why (missing, a loop, a file)."""
    try:
        st = os.stat(root)
    except (OSError, ValueError) as e:
        problem = os_problem(e) if isinstance(e, OSError) else "path contains a NUL byte"
        raise BundleError(f"{root}: not a bundle directory ({problem})") from None
    if not stat.S_ISDIR(st.st_mode):
        raise BundleError(f"{root}: not a bundle directory (a file)")


def load_bundle(path: str | os.PathLike, verify: bool = True) -> Bundle:
    """Read bundle.json and (by default) check every listed file's sha256."""
    root = Path(path)
    _bundle_dir(root)
    meta = bundle_file(root, BUNDLE_JSON)
    try:
        doc = json.loads(meta.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise BundleError(f"{meta}: not valid JSON ({first_line(e)})") from None
    except OSError as e:
        raise BundleError(f"{meta}: cannot read ({os_problem(e)})") from None
    bundle = _parse(root, doc)
    if verify:
        verify_files(bundle, bundle.files)
    return bundle


# -- writing ---------------------------------------------------------------------------------------
def label_problem(text: object) -> str | None:
    """Why `text` cannot be a label, group name or modifier text, else None: it must be a non-empty
    string without surrounding spaces, at most MAX_TEXT characters, with nothing unsafe to print."""
    if not isinstance(text, str) or not text:
        return "must be a non-empty string"
    if text.strip() != text:
        return "has surrounding spaces"
    if len(text) > MAX_TEXT:
        return f"is {len(text)} characters long (at most {MAX_TEXT})"
    ch = unsafe_char(text)
    if ch is not None:
        return f"contains the control character {printable(ch)} (it would rewrite a terminal when printed)"
    return None


def check_labels(labels: Sequence[str], where: str | os.PathLike) -> None:
    """Refuse a label list a bundle cannot have (empty, repeated, or a label `label_problem` refuses)."""
    if not labels:
        raise BundleError(f"{where}: no labels")
    for y in labels:
        problem = label_problem(y)
        if problem is not None:
            raise BundleError(f"{where}: the label {str(y)[:80]!r} {problem}")
    if len(set(labels)) != len(labels):
        raise BundleError(f"{where}: labels repeat")


def _check_texts(bundle: Bundle, out: str | os.PathLike) -> None:
    check_labels(bundle.labels, out)
    texts = [("group", name) for name in bundle.groups or {}]
    texts += [("group member", y) for ys in (bundle.groups or {}).values() for y in ys]
    texts += [("modifier", m) for m in bundle.modifiers.values()]
    texts += [("modifier's label", y) for y in bundle.modifiers]
    for what, text in texts:
        problem = label_problem(text)
        if problem is not None:
            raise BundleError(f"{out}: the {what} {str(text)[:80]!r} {problem}")


def bundle_problem(path: Path) -> str | None:
    """None when folder `path` holds a catsplit bundle and nothing else, else what it is instead:
    the one test for what replacing an output may delete."""
    meta = path / BUNDLE_JSON
    if not meta.is_file() or meta.is_symlink():
        return f"it has no {BUNDLE_JSON}"
    try:
        doc = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return f"its {BUNDLE_JSON} is not readable JSON"
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("files"), dict):
        return f"its {BUNDLE_JSON} is not a catsplit bundle's"
    listed = {BUNDLE_JSON, *doc["files"]}
    folders = {p.as_posix() for rel in listed for p in Path(rel).parents if p != Path(".")}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            rel = (Path(root) / name).relative_to(path).as_posix()
            is_folder = name in dirs and not (Path(root) / name).is_symlink()
            if rel not in (folders if is_folder else listed):
                return f"it also holds {rel!r}, which is not part of the bundle"
    return None


BUNDLE_KIND = Kind("catsplit bundle", True, bundle_problem)


def fill_bundle(bundle: Bundle, stage: Staging, sources: Mapping[str, str | os.PathLike | bytes]) -> Bundle:
    """Assemble `bundle` in a staging folder: each of `sources` (bundle-relative name -> source file,
    hard-linked when possible, else copied, or bytes), then bundle.json with recomputed checksums."""
    _check_texts(bundle, stage.out)
    files = {}
    for rel, src in sources.items():
        dst = _inside(stage.path, rel)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(src, (bytes, bytearray)):
            dst.write_bytes(src)
        else:
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)
        files[rel] = sha256_file(dst)
    written = Bundle(**{**bundle.__dict__, "path": stage.out, "files": files})
    (stage.path / BUNDLE_JSON).write_text(json.dumps(written.to_json(), indent=2) + "\n", encoding="utf-8")
    return written


def write_bundle(bundle: Bundle, out: str | os.PathLike, sources: Mapping[str, str | os.PathLike | bytes],
                 force: bool = False) -> Bundle:
    """Write `bundle` to `out` atomically (runtime/output.py: refused unless `out` is new, or `force`
    and `out` is a bundle; published in one rename). See `fill_bundle` for `sources`."""
    _check_texts(bundle, out)
    with staged_output(out, BUNDLE_KIND, force) as stage:
        return fill_bundle(bundle, stage, sources)
