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
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from catsplit.runtime.errors import CatsplitError, first_line
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


def write_bundle(bundle: Bundle, out: str | os.PathLike, sources: Mapping[str, str | os.PathLike | bytes],
                 force: bool = False) -> Bundle:
    """Write `bundle` to `out` atomically.

    `sources` maps each bundle-relative file name to a source path (hard-linked when possible, else
    copied) or to bytes. The new directory is assembled beside `out` and renamed into place only when
    complete, so a failure never leaves a half-written bundle. The checksums are recomputed here.
    """
    out = Path(out)
    if out.exists() and not force:
        raise BundleError(f"{out}: already exists (use --force to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        files = {}
        for rel, src in sources.items():
            dst = _inside(tmp, rel)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(src, (bytes, bytearray)):
                dst.write_bytes(src)
            else:
                try:
                    os.link(src, dst)
                except OSError:
                    shutil.copyfile(src, dst)
            files[rel] = sha256_file(dst)
        written = Bundle(**{**bundle.__dict__, "path": out, "files": files})
        (tmp / BUNDLE_JSON).write_text(json.dumps(written.to_json(), indent=2) + "\n", encoding="utf-8")
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.rename(out, old)
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written
