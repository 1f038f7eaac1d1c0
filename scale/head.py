"""The running head of a `Runtime`, read once per unit of work (HEAD_CONTRACT.md).

SHIM: the hardening branch gives `Runtime` a `head` property (an immutable `Head`: session, bundle,
edit id) and a thread-safe `swap_head` that returns it. Until that lands, `current_head` builds the
same object from the Runtime's current fields; once `Runtime.head` exists it is used as is, and this
module reduces to `rt.head` (delete `_ShimHead` then).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import onnxruntime as ort

from catsplit.runtime.bundle import HEAD, Bundle
from catsplit.runtime.session import Runtime


class Head(Protocol):
    bundle: Bundle
    edit_id: str

    @property
    def labels(self) -> list[str]: ...

    def logits(self, feats: np.ndarray) -> np.ndarray: ...


def edit_id(bundle: Bundle) -> str:
    """The contract's edit id: number of edits, then the head file's sha256 prefix."""
    return f"{len(bundle.edits)}-{bundle.files[HEAD][:12]}"


@dataclass(frozen=True)
class _ShimHead:  # SHIM: replaced by catsplit.runtime.session.Head
    session: ort.InferenceSession
    bundle: Bundle
    edit_id: str

    @property
    def labels(self) -> list[str]:
        return self.bundle.labels

    def logits(self, feats: np.ndarray) -> np.ndarray:
        name = self.session.get_inputs()[0].name
        return self.session.run(None, {name: np.ascontiguousarray(feats, np.float32)})[0].astype(np.float32)


def current_head(rt: Runtime) -> Head:
    """The head `rt` runs now; take it once per batch so labels and logits come from one head."""
    if isinstance(getattr(type(rt), "head", None), property):
        return rt.head  # type: ignore[attr-defined]
    session, bundle = rt._head, rt.bundle  # SHIM: two reads; swap_head before the contract is not atomic
    return _ShimHead(session, bundle, edit_id(bundle))


def swap_head(rt: Runtime, bundle: str | os.PathLike | Bundle) -> Head:
    """`rt.swap_head` (checks everything, keeps the old head on error), returning the new head."""
    new = rt.swap_head(bundle)
    return new if new is not None else current_head(rt)  # SHIM: today's swap_head returns None
