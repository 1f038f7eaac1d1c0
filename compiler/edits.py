"""Edit records, the head history inside a bundle, and undo.

Every edit appends one record to bundle.json's `edits` and keeps the head it replaced as
`history/head.<n>.onnx` (hard-linked, so it costs no space while the old bundle exists) together with
that head's sha256, labels, group scheme and modifier overrides. Undo puts those back: the restored
head.onnx is the very file that was replaced, byte for byte.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from catsplit.compiler.errors import CompileError
from catsplit.runtime.bundle import BUNDLE_JSON, HEAD, Bundle, load_bundle, write_bundle


def history_file(n: int) -> str:
    return f"history/head.{n}.onnx"


def write_edit(bundle: Bundle, new_head: str | os.PathLike, labels: list[str],
               groups: Mapping[str, list[str]] | None, modifiers: Mapping[str, str], record: dict[str, Any],
               out: str | os.PathLike, force: bool = False) -> Bundle:
    """Write `bundle` with `new_head` as its head and `record` appended to its edits, atomically."""
    n = len(bundle.edits) + 1
    previous = {"head": history_file(n), "sha256": bundle.files[HEAD], "labels": bundle.labels,
                "groups": bundle.groups, "modifiers": bundle.modifiers}
    sources: dict[str, Any] = {rel: bundle.path / rel for rel in bundle.files if rel != HEAD}
    sources[previous["head"]] = bundle.head_path
    sources[HEAD] = Path(new_head)
    edited = Bundle(**{**bundle.__dict__, "labels": list(labels), "groups": dict(groups) if groups else None,
                       "modifiers": dict(modifiers), "edits": bundle.edits + [{"n": n, **record,
                                                                               "previous": previous}]})
    return write_bundle(edited, out, sources, force=force)


def undo(bundle_path: str | os.PathLike, out: str | os.PathLike, force: bool = False) -> Bundle:
    """A copy of the bundle with its last edit reverted (head, labels, groups, modifiers, history)."""
    out = Path(out)
    if out.exists() and not force:
        raise CompileError(f"{out}: already exists (use --force to replace it)")
    bundle = load_bundle(bundle_path)
    if not bundle.edits:
        raise CompileError(f"{bundle.path / BUNDLE_JSON}: has no edits to undo")
    previous = bundle.edits[-1].get("previous") or {}
    rel = previous.get("head")
    if rel not in bundle.files or bundle.files[rel] != previous.get("sha256"):
        raise CompileError(f"{bundle.path / BUNDLE_JSON}: the last edit's previous head is not in the bundle "
                           "(cannot undo)")
    sources: dict[str, Any] = {r: bundle.path / r for r in bundle.files if r not in (HEAD, rel)}
    sources[HEAD] = bundle.path / rel
    restored = Bundle(**{**bundle.__dict__, "labels": previous["labels"], "groups": previous["groups"],
                         "modifiers": previous["modifiers"], "edits": bundle.edits[:-1]})
    return write_bundle(restored, out, sources, force=force)


def summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """One edit as `catsplit edits` lists it."""
    enc = record.get("text_encoder") or {}
    return {"n": record.get("n"), "split": record.get("spec", {}).get("split"),
            "into": [s["label"] for s in record.get("spec", {}).get("into", [])],
            "method": record.get("method"), "mode": record.get("mode"), "seed": record.get("seed"),
            "shots": bool(record.get("lowshot")), "text_encoder": enc.get("name"),
            "created": record.get("created")}
