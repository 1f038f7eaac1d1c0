"""The meeting point of the reader threads and the inference loop: pending windows and events.

Each stream has at most `capacity` windows waiting for the backbone. A live source never waits: when
its slot is full the oldest waiting window is dropped (it is stale by then) and counted, so a slow
backbone costs windows, never memory or latency. A source that can wait (a file read as fast as
possible) blocks instead, and loses nothing. Items get a global sequence number when they arrive, so
the loop can report events and results in the order they happened.
"""
from __future__ import annotations

import itertools
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from catsplit.runtime.stream.windows import Window


@dataclass
class Event:
    doc: dict[str, Any]
    seq: int = 0


@dataclass
class Work:
    """What the inference loop takes at once: events to report and windows to classify."""

    events: list[Event] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    finished: bool = False  # every source has ended and nothing is left


class Hub:
    def __init__(self, streams: list[str], capacity: int):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.cond = threading.Condition()
        self.pending: dict[str, deque[Window]] = {s: deque() for s in streams}
        self.events: list[Event] = []
        self.dropped: Counter[str] = Counter()    # stale windows dropped for want of capacity
        self.short: Counter[str] = Counter()      # windows with too few frames to sample
        self.running = set(streams)
        self.stopping = threading.Event()
        self._seq = itertools.count()

    # -- the reader side ----------------------------------------------------------------------
    def put_window(self, window: Window, wait: bool) -> None:
        """Queue a closed window; `wait`: block while the stream's slot is full instead of dropping."""
        with self.cond:
            if window.x is None:
                self.short[window.stream] += 1
                return
            queue = self.pending[window.stream]
            while wait and len(queue) >= self.capacity and not self.stopping.is_set():
                self.cond.wait(0.2)
            if self.stopping.is_set():
                return
            if len(queue) >= self.capacity:
                queue.popleft()
                self.dropped[window.stream] += 1
            window.seq = next(self._seq)
            queue.append(window)
            self.cond.notify_all()

    def put_event(self, doc: dict[str, Any]) -> None:
        with self.cond:
            self.events.append(Event(doc, next(self._seq)))
            self.cond.notify_all()

    def source_done(self, stream: str) -> None:
        with self.cond:
            self.running.discard(stream)
            self.cond.notify_all()

    # -- the inference side -------------------------------------------------------------------
    def stop(self) -> None:
        """No new windows are accepted; what is pending is still handed out."""
        self.stopping.set()
        with self.cond:
            self.cond.notify_all()

    def take(self, max_windows: int, poll: float = 0.2) -> Work:
        """Block until there is something; return up to `max_windows` of the oldest windows (all
        streams together) and the events that happened before the oldest window left behind."""
        with self.cond:
            while not self._has_work():
                self.cond.wait(poll)
            waiting = sorted((w for q in self.pending.values() for w in q), key=lambda w: w.seq)
            batch, rest = waiting[:max_windows], waiting[max_windows:]
            for w in batch:
                self.pending[w.stream].remove(w)
            horizon = rest[0].seq if rest else float("inf")
            events = [e for e in self.events if e.seq < horizon]
            self.events = [e for e in self.events if e.seq >= horizon]
            finished = not batch and not events and self._idle()
            self.cond.notify_all()  # readers blocked on a full slot
            return Work(events, batch, finished)

    def _idle(self) -> bool:
        return not self.running or self.stopping.is_set()

    def _has_work(self) -> bool:
        return bool(self.events) or any(self.pending.values()) or self._idle()
