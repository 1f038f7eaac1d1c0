"""`StreamRunner`: live sources in, one JSON-able document per window (and per event) out.

Threads: one reader per source (decode, preprocess, cut windows; `reader.py`), an optional bundle
watcher (`watch.py`), and the caller's thread, which runs inference: it takes every window that is
waiting, across all streams (up to `batch_size`), reads the head once, and runs the backbone and
the head on them as one batch. Windows that fall due together while the backbone is busy therefore
share the next backbone run: that is what lets one process serve many cameras. Each batch is
classified by the one head read for it, so a head swap never splits a window, and no window is lost
to a swap (the readers do not stop).

Output documents (`type`):
- `window`: stream, index, start/end (stream time, s), wall_start/wall_end (time.time() of its first
  and last frame's arrival), frames, top_k [{label, prob}], smoothed (with smooth > 1), edit_id,
  latency_ms (last frame received -> result), dropped (the stream's stale windows dropped so far);
- `label`: the stream's active label changed (results.py);
- `source`: opened, retry, failed, reconnecting, reconnected, lost, ended, corrupt, discontinuity, error;
- `head`: a new head classifies from the next window on: edit_id, previous, labels_changed, added,
  removed;
- `reload`: the watcher swapped in a newly published head (edit_id, bundle);
- `error`: a published head was refused (the old one keeps running);
- `summary` (last): per-stream counts and where the time went.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterator, Sequence

import numpy as np

from catsplit.runtime.session import Head, Runtime, softmax
from catsplit.runtime.stream.hub import Hub
from catsplit.runtime.stream.reader import Reader, Retry
from catsplit.runtime.stream.results import EventRule, StreamOutput
from catsplit.runtime.stream.sources import Source, SourceError, check_unique
from catsplit.runtime.stream.watch import BundleWatcher
from catsplit.runtime.stream.windows import WindowCutter, default_window


@dataclass(frozen=True)
class StreamOptions:
    window: float | None = None   # seconds; None: windows.default_window from the stream's frame rate
    stride: float | None = None   # seconds between window starts; None: half a window
    top_k: int = 5
    smooth: int = 1
    events: EventRule | None = None
    max_pending: int = 2          # windows per stream waiting for the backbone
    batch_size: int = 8
    retry: Retry = field(default_factory=Retry)
    watch: str | os.PathLike | None = None  # the bundle path to take new heads from
    poll: float = 1.0             # seconds between looks at `watch`; 0: only on SIGHUP / reload()


@dataclass
class _Timing:
    backbone_s: float = 0.0
    head_s: float = 0.0
    batches: int = 0
    windows: int = 0
    swaps: int = 0


class StreamRunner:
    def __init__(self, runtime: Runtime, sources: Sequence[Source], options: StreamOptions = StreamOptions()):
        if not sources:
            raise ValueError("no sources")
        check_unique(list(sources))
        self.rt, self.sources, self.options = runtime, list(sources), options
        self.hub = Hub([s.id for s in self.sources], options.max_pending)
        self.readers = [Reader(s, self._cutter_for(s.id), self.hub, options.retry, self._event_for(s.id))
                        for s in self.sources]
        self.outputs = {s.id: StreamOutput(s.id, options.top_k, options.smooth, options.events)
                        for s in self.sources}
        self.watcher = (BundleWatcher(runtime, options.watch, options.poll, self.hub.put_event)
                        if options.watch is not None else None)
        self.timing = _Timing()
        self.head: Head | None = None
        self.started = False

    def _cutter_for(self, stream: str):
        pre, opts = self.rt.bundle.preprocess, self.options

        def make(rate: Fraction | None) -> WindowCutter:
            window = Fraction(str(opts.window)) if opts.window else default_window(pre, rate)
            stride = Fraction(str(opts.stride)) if opts.stride else window / 2
            return WindowCutter(stream, pre, window, stride)
        return make

    def _event_for(self, stream: str):
        def event(kind: str, **fields: Any) -> None:
            self.hub.put_event({"type": "source", "stream": stream, "event": kind, "wall": time.time(), **fields})
        return event

    # -- control ------------------------------------------------------------------------------
    def start(self) -> None:
        if self.started:
            return
        self.started = True
        for r in self.readers:
            r.start()
        if self.watcher is not None:
            self.watcher.start()

    def stop(self) -> None:
        """Stop reading; the windows already cut are still classified, then iteration ends.
        Safe to call from a signal handler."""
        self.hub.stop()
        if self.watcher is not None:
            self.watcher.stop()

    def reload(self) -> Head | None:
        """Look at the watched bundle path now and swap in its head (what SIGHUP does, synchronously)."""
        if self.watcher is None:
            raise ValueError("reload needs StreamOptions.watch")
        return self.watcher.check(force=True)

    # -- inference ----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.start()
        try:
            while True:
                work = self.hub.take(self.options.batch_size)
                failed = [r.failure for r in self.readers if r.failure]
                if failed:
                    for event in work.events:
                        yield event.doc
                    raise SourceError(failed[0])
                if work.finished:
                    break
                items = [(e.seq, [e.doc]) for e in work.events]
                if work.windows:
                    items += self._classify(work.windows)
                for _, docs in sorted(items, key=lambda item: item[0]):
                    yield from docs
        finally:
            self.stop()
        yield self.summary()

    def _classify(self, windows: list) -> list[tuple[float, list[dict[str, Any]]]]:
        head = self.rt.head
        items: list[tuple[float, list[dict[str, Any]]]] = []
        if head is not self.head:
            if self.head is not None:
                items.append((windows[0].seq - 0.5, [self._head_event(self.head, head)]))
            self.head = head
        x = np.stack([w.x for w in windows])
        t0 = time.perf_counter()
        feats = self.rt.features(x)
        t1 = time.perf_counter()
        probs = softmax(head.logits(feats))
        t2 = time.perf_counter()
        self.timing.backbone_s += t1 - t0
        self.timing.head_s += t2 - t1
        self.timing.batches += 1
        self.timing.windows += len(windows)
        done = time.monotonic()
        for w, p in zip(windows, probs):
            doc = {"type": "window", "stream": w.stream, "index": w.index, "start": float(w.start),
                   "end": float(w.end), "wall_start": w.wall_start, "wall_end": w.wall_end, "frames": w.frames,
                   "edit_id": head.edit_id, "latency_ms": round((done - w.received) * 1e3, 3),
                   "dropped": self.hub.dropped[w.stream], "batch": len(windows)}
            items.append((w.seq, self.outputs[w.stream].window(doc, head.labels, p)))
        return items

    def _head_event(self, old: Head, new: Head) -> dict[str, Any]:
        self.timing.swaps += 1
        before, after = set(old.labels), set(new.labels)
        return {"type": "head", "edit_id": new.edit_id, "previous": old.edit_id, "bundle": str(new.bundle.path),
                "labels_changed": old.labels != new.labels,
                "added": [lab for lab in new.labels if lab not in before],
                "removed": [lab for lab in old.labels if lab not in after], "wall": time.time()}

    def summary(self) -> dict[str, Any]:
        t = self.timing
        streams = {}
        for r in self.readers:
            s = r.stats
            streams[r.source.id] = {
                "frames": s.frames, "dropped": self.hub.dropped[r.source.id], "short": self.hub.short[r.source.id],
                "corrupt": s.corrupt, "reconnects": s.reconnects, "max_ring_frames": s.max_ring,
                "decode_cpu_s": round(s.decode_s, 4), "preprocess_cpu_s": round(s.preprocess_s, 4)}
        return {"type": "summary", "windows": t.windows, "batches": t.batches,
                "mean_batch": round(t.windows / t.batches, 3) if t.batches else 0.0,
                "backbone_s": round(t.backbone_s, 4), "head_s": round(t.head_s, 4), "swaps": t.swaps,
                "streams": streams}


def stream(runtime: Runtime, sources: Sequence[Source | str], **options: Any) -> Iterator[dict[str, Any]]:
    """Classify live sources with `runtime`: the documents of `StreamRunner` (see the module doc)."""
    parsed = [s if isinstance(s, Source) else Source(f"s{i}", s) for i, s in enumerate(sources)]
    return iter(StreamRunner(runtime, parsed, StreamOptions(**options)))
