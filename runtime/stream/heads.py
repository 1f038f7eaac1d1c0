"""The head a batch of windows is classified with, and swapping it while streams run.

The stream code uses the Runtime head contract (team HEAD_CONTRACT.md): `rt.head` is read once per
batch, `rt.swap_head(path)` checks a new head completely and returns it, or raises BundleError and
keeps the old one. `current_head` and `swap_head` below are the only two places that touch it.

SHIM (delete when the harden-runtime branch, which implements the contract in session.py, is
merged): until `Runtime.head` exists, `_ShimHead` adapts the Runtime of today. A swap is prepared on
a shallow copy of the Runtime (same backbone session), so nothing a running batch reads changes
until the new head is complete; then the (session, bundle) pair is replaced under one lock.
"""
from __future__ import annotations

import copy
import os
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from catsplit.runtime.bundle import HEAD, Bundle
from catsplit.runtime.session import Runtime


class Head(Protocol):
    """What the stream needs of a head (the contract's `Head`)."""

    bundle: Bundle
    edit_id: str

    @property
    def labels(self) -> list[str]: ...

    def logits(self, feats: np.ndarray) -> np.ndarray: ...


def current_head(rt: Runtime) -> Head:
    """The head to classify one batch with; read once per batch."""
    if _CONTRACT:
        return rt.head  # type: ignore[attr-defined]
    return _shim_head(rt)


def swap_head(rt: Runtime, bundle: str | os.PathLike) -> Head:
    """Check and install the head of `bundle`; BundleError (old head kept) when it does not fit."""
    if _CONTRACT:
        return rt.swap_head(bundle)  # type: ignore[return-value]
    return _shim_swap(rt, bundle)


# ---- SHIM: from here to the end of the file goes when Runtime.head exists --------------------------
_CONTRACT = isinstance(getattr(Runtime, "head", None), property)
_LOCK = threading.Lock()


@dataclass(frozen=True)
class _ShimHead:
    session: Any
    bundle: Bundle
    edit_id: str
    runtime: Runtime

    @property
    def labels(self) -> list[str]:
        return self.bundle.labels

    def logits(self, feats: np.ndarray) -> np.ndarray:
        out = self.session.run(None, self.runtime._feed(self.session, feats))[0]
        return out.astype(np.float32, copy=False)


def _shim_head(rt: Runtime) -> _ShimHead:
    with _LOCK:
        session, bundle = rt._head, rt.bundle
        cached = getattr(rt, "_stream_shim_head", None)
        if cached is None or cached.session is not session:
            cached = _ShimHead(session, bundle, f"{len(bundle.edits)}-{bundle.files[HEAD][:12]}", rt)
            rt._stream_shim_head = cached  # type: ignore[attr-defined]
        return cached


def _shim_swap(rt: Runtime, bundle: str | os.PathLike) -> _ShimHead:
    trial = copy.copy(rt)
    trial.swap_head(bundle)  # raises BundleError with `rt` untouched
    with _LOCK:
        rt._head, rt.bundle = trial._head, trial.bundle
    return _shim_head(rt)
