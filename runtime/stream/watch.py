"""Hot swap: watch the bundle path and swap the head when a new one is published there.

The path is usually a directory symlink (`current`) that `catsplit deploy` switches atomically. The
watcher polls the link's target and the inode, size and mtime of the target's bundle.json and
head.onnx; SIGHUP (`trigger`) makes it look now and reload even when nothing seems changed. The swap
itself is `Runtime.swap_head` on the resolved target: the new head is checked completely before it
replaces the old one, and the backbone is never reloaded. A swapped-in head is reported at once (a
`reload` event: it classifies every batch from now on; the runner's `head` event later marks the
first window it classified). A head that fails the checks becomes one `error` event; the old head
keeps running, and the same published state is not tried again until it changes.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

from catsplit.runtime.bundle import BUNDLE_JSON, HEAD, BundleError
from catsplit.runtime.session import Runtime
from catsplit.runtime.session import Head


def signature(path: str | os.PathLike) -> tuple | None:
    """What identifies the published bundle at `path` now (None while it is missing)."""
    try:
        target = os.path.realpath(path)
        stats = [os.stat(os.path.join(target, name)) for name in (BUNDLE_JSON, HEAD)]
    except OSError:
        return None
    return (target, *((s.st_ino, s.st_size, s.st_mtime_ns) for s in stats))


class BundleWatcher(threading.Thread):
    def __init__(self, runtime: Runtime, path: str | os.PathLike, poll: float,
                 report: Callable[[dict[str, Any]], None]):
        super().__init__(name="catsplit-bundle-watch", daemon=True)
        self.runtime, self.path, self.poll, self.report = runtime, os.fspath(path), poll, report
        self.seen = signature(self.path)
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopped = threading.Event()

    def trigger(self) -> None:
        """Look now and reload (what SIGHUP does); safe to call from a signal handler."""
        self.wake.set()

    def stop(self) -> None:
        self.stopped.set()
        self.wake.set()

    def run(self) -> None:
        while not self.stopped.is_set():
            forced = self.wake.wait(self.poll or None)
            self.wake.clear()
            if not self.stopped.is_set():
                self.check(force=forced)

    def check(self, force: bool = False) -> Head | None:
        """Swap in the published head if it changed (or `force`); the new head, or None."""
        with self.lock:
            now = signature(self.path)
            if now is None or (now == self.seen and not force):
                return None
            self.seen = now
            try:
                head = self.runtime.swap_head(now[0])
            except BundleError as e:
                self.report({"type": "error", "source": "bundle", "error": str(e)})
                return None
            self.report({"type": "reload", "edit_id": head.edit_id, "bundle": now[0], "wall": time.time()})
            return head
