"""The edit history inside a bundle: reading it back soundly, appending an edit, and undo.

Every edit appends one EditRecord to bundle.json's `edits` and keeps the head it replaced as
`history/head.<n>.onnx` (hard-linked, so it costs no space while the old bundle exists) together with
that head's sha256, labels, group scheme and modifier overrides. Undo puts those back: the restored
head.onnx is the very file that was replaced, byte for byte, and it is verified against the current
head (the current one must be it with one label spliced) before anything is written.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catsplit.compiler.errors import CompileError
from catsplit.compiler.record import EditRecord
from catsplit.compiler.splice import spliced_labels, verify_splice
from catsplit.runtime.bundle import BUNDLE_JSON, BUNDLE_KIND, HEAD, Bundle, load_bundle, write_bundle
from catsplit.runtime.output import check_output

if TYPE_CHECKING:
    from catsplit.compiler.compile import Edit


def read_history(bundle: Bundle) -> tuple[EditRecord, ...]:
    """The bundle's edits, each validated (record.py) and checked against the bundle: numbered 1..n,
    each previous head listed with its sha256, and each edit's split of its previous labels giving
    the labels after it (the next edit's previous labels, or the bundle's own for the last)."""
    meta = bundle.path / BUNDLE_JSON
    records = tuple(EditRecord.from_json(doc, f"{meta}: edits[{i}]") for i, doc in enumerate(bundle.edits))
    after = list(bundle.labels)
    for i in reversed(range(len(records))):
        r, where = records[i], f"{meta}: edits[{i}]"
        if r.n != i + 1:
            raise CompileError(f"{where}.n: is {r.n}, expected {i + 1}")
        if bundle.files.get(r.previous.head) != r.previous.sha256:
            raise CompileError(f"{where}.previous: {r.previous.head} is not listed in files with that sha256")
        before = list(r.previous.labels)
        if r.spec.split not in before or spliced_labels(before, before.index(r.spec.split), r.spec.labels) != after:
            raise CompileError(f"{where}: splitting {r.spec.split!r} in previous.labels does not give the labels "
                               "that follow this edit")
        after = before
    return records


def write_edit(bundle: Bundle, edit: Edit, out: str | os.PathLike, force: bool = False) -> Bundle:
    """Write `bundle` with the edit's head, labels, groups and modifiers, and its record appended."""
    previous = edit.record.previous
    sources: dict[str, Any] = {rel: bundle.path / rel for rel in bundle.files if rel != HEAD}
    sources[previous.head] = bundle.head_path
    sources[HEAD] = edit.head
    edited = Bundle(**{**bundle.__dict__, "labels": list(edit.labels), "groups": edit.groups,
                       "modifiers": dict(edit.modifiers), "edits": bundle.edits + [edit.record.to_json()]})
    return write_bundle(edited, out, sources, force=force)


def undo(bundle_path: str | os.PathLike, out: str | os.PathLike, force: bool = False) -> Bundle:
    """A copy of the bundle with its last edit reverted (head, labels, groups, modifiers, history)."""
    check_output(out, BUNDLE_KIND, force)
    bundle = load_bundle(bundle_path)
    history = read_history(bundle)
    if not history:
        raise CompileError(f"{bundle.path / BUNDLE_JSON}: has no edits to undo")
    last = history[-1]
    previous, old_head = last.previous, bundle.path / last.previous.head
    verify_splice(str(old_head), str(bundle.head_path), previous.labels.index(last.spec.split), len(last.spec.into),
                  bundle.feature_dim, bundle.num_classes,
                  name=f"{bundle.head_path} (as edit {last.n} of {old_head}, which undo would restore)")
    sources: dict[str, Any] = {r: bundle.path / r for r in bundle.files if r not in (HEAD, previous.head)}
    sources[HEAD] = old_head
    restored = Bundle(**{**bundle.__dict__, "labels": list(previous.labels), "groups": previous.groups,
                         "modifiers": dict(previous.modifiers), "edits": bundle.edits[:-1]})
    return write_bundle(restored, out, sources, force=force)


def listed(bundle_path: str | os.PathLike) -> list[dict[str, Any]]:
    """`catsplit edits`: each edit's summary, oldest first (bundle.json only: no file is hashed)."""
    return [r.summary() for r in read_history(load_bundle(Path(bundle_path), verify=False))]
