"""One reader thread per source: open (with retries), decode, place frames in stream time, cut windows.

Faults, as the reader meets them:
- the source cannot be opened: retried `retries` times with exponential backoff (`retry` events);
  at the start that is fatal (`failure` is set and the runner stops with it); after the stream ran once, a network
  source is retried for as long as the runner runs (a camera that reboots comes back);
- the connection drops or goes silent for `timeout` seconds: a `lost` event, then reopened as above
  (`reconnecting` events with the attempt and the delay, then `reconnected`); windows never span
  the gap: the window grid restarts at the first new frame, and stream time continues from where
  it stopped;
- a packet the demuxer marks damaged (MPEG-TS continuity errors), the decoder refuses, or decodes
  into a frame marked corrupt: skipped and counted (`corrupt` events with the running count, at most
  one a second); later frames that referenced it come out as the decoder conceals them;
- timestamps that jump back, or forward by more than `StreamClock.JUMP`: a `discontinuity` event,
  and the window grid restarts.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import av

from catsplit.runtime.errors import first_line
from catsplit.runtime.stream.hub import Hub
from catsplit.runtime.stream.sources import Source, SourceError, open_container
from catsplit.runtime.stream.windows import WindowCutter

END = "end of data"


@dataclass(frozen=True)
class Retry:
    """Open attempts and the delays between them: `base * 2**n`, at most `cap` seconds."""

    retries: int = 3
    base: float = 0.5
    cap: float = 30.0
    timeout: float = 10.0  # seconds to open (or wait for a listening connect) and per read

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt `attempt` (1 = the first retry)."""
        return min(self.cap, self.base * 2 ** (attempt - 1))


class StreamClock:
    """Source timestamps -> stream time: seconds since the stream's first frame, continuous across
    reconnects and timestamp jumps. A frame without a timestamp is placed one frame after the last."""

    JUMP = Fraction(10)

    def __init__(self) -> None:
        self.shift: Fraction | None = None  # stream time = source time + shift
        self.next = Fraction(0)             # where the next frame is expected
        self.last: Fraction | None = None

    def restart(self) -> None:
        """A new connection: its first timestamp maps to where the stream stopped."""
        self.shift = None

    def place(self, raw: Fraction | None, duration: Fraction) -> tuple[Fraction, bool]:
        """(stream time, whether the timeline was broken here)."""
        broken = False
        if raw is None:
            t = self.next
        else:
            if self.shift is None:
                self.shift = self.next - raw
            t = raw + self.shift
            if self.last is not None and (t <= self.last or t > self.next + self.JUMP):
                self.shift, t, broken = self.next - raw, self.next, True
        self.last, self.next = t, t + duration
        return t, broken


@dataclass
class ReaderStats:
    frames: int = 0
    corrupt: int = 0
    reconnects: int = 0
    decode_s: float = 0.0      # CPU seconds of this thread: demux, decode, RGB conversion
    preprocess_s: float = 0.0  # CPU seconds of this thread: resize, crop, normalise, window tensors
    max_ring: int = 0          # the most frames its ring held


class Reader(threading.Thread):
    def __init__(self, source: Source, make_cutter: Callable[[Fraction | None], WindowCutter], hub: Hub,
                 retry: Retry, event: Callable[..., None]):
        super().__init__(name=f"catsplit-stream-{source.id}", daemon=True)
        self.source, self.make_cutter, self.hub, self.retry = source, make_cutter, hub, retry
        self.cutter: WindowCutter | None = None  # made at the first open: the default window needs the frame rate
        self.event = event  # event(kind, **fields) -> the output, tagged with this stream
        self.clock = StreamClock()
        self.stats = ReaderStats()
        self.failure: str | None = None  # set when the source could not be opened at the start
        self.opened = threading.Event()
        self.rate: Fraction | None = None
        self._corrupt_reported = float("-inf")

    @property
    def stopping(self) -> bool:
        return self.hub.stopping.is_set()

    def run(self) -> None:
        try:
            self._loop()
        except Exception as e:  # a bug must not hang the runner: report it and end this stream
            self.event("error", error=f"{self.source.url}: unexpected {type(e).__name__}: {first_line(e)}")
        finally:
            self.hub.source_done(self.source.id)

    def _loop(self) -> None:
        attempt = 0
        while not self.stopping:
            try:
                container = open_container(self.source, self.retry.timeout)
            except (av.FFmpegError, OSError, SourceError) as e:
                attempt += 1
                why = _reason(e).removeprefix(f"{self.source.url}: ")
                if not self.opened.is_set() and attempt > self.retry.retries:
                    self.failure = (f"{self.source.url}: cannot open ({why})"
                                    + (f" after {self.retry.retries} retries" if self.retry.retries else ""))
                    self.event("failed", error=self.failure)  # wakes the runner, which stops with it
                    return
                delay = self.retry.delay(attempt)
                self.event("reconnecting" if self.opened.is_set() else "retry", attempt=attempt, delay_s=delay,
                           error=why)
                self.hub.stopping.wait(delay)
                continue
            if self.opened.is_set():
                self.stats.reconnects += 1
                self.event("reconnected", attempt=attempt)
            else:
                self.opened.set()
                self.event("opened", url=self.source.url)
            attempt = 0
            with container:
                why = self._read(container)
            if self.stopping:
                return
            if not self.source.reopens:
                self.event("ended", **({} if why == END else {"error": why}))
                return
            self.event("lost", error=why)
            if self.cutter is not None:
                self.cutter.reset()
            self.clock.restart()

    def _read(self, container: av.container.InputContainer) -> str:
        """Decode until the data ends or fails; returns why it stopped."""
        stream = container.streams.video[0]
        # One decoding thread: frame threads would hold frames back (latency), and many streams share the cores.
        stream.codec_context.thread_count = 1
        tb = stream.time_base
        self.rate = self.rate or stream.average_rate or stream.guessed_rate
        frame_time = Fraction(1) / self.rate if self.rate else Fraction(0)
        if self.cutter is None:
            self.cutter = self.make_cutter(self.rate)
        cutter = self.cutter
        pace = _Pacer(self.hub.stopping) if self.source.realtime else None
        cpu = time.thread_time()
        try:
            for packet in container.demux(stream):
                if self.stopping:
                    return "stopped"
                if pace is not None and not pace.wait(packet, tb):
                    return "stopped"
                if packet.is_corrupt:  # the demuxer saw it damaged (e.g. MPEG-TS continuity errors)
                    self._corrupt()
                    continue
                try:
                    frames = packet.decode()
                except av.InvalidDataError:
                    self._corrupt()
                    continue
                for frame in frames:
                    if frame.is_corrupt:  # decoded with errors concealed
                        self._corrupt()
                        continue
                    rgb = frame.to_ndarray(format="rgb24")
                    wall, mono = time.time(), time.monotonic()
                    raw = None if frame.pts is None else frame.pts * tb
                    duration = frame.duration * tb if frame.duration else frame_time
                    t, broken = self.clock.place(raw, duration)
                    if broken:
                        self.event("discontinuity", at=float(t))
                        cutter.reset()
                    now = time.thread_time()
                    self.stats.decode_s += now - cpu
                    windows = cutter.push(t, duration, rgb, wall, mono)
                    cpu = time.thread_time()
                    self.stats.preprocess_s += cpu - now
                    self.stats.frames += 1
                    self.stats.max_ring = cutter.max_frames
                    for w in windows:
                        self.hub.put_window(w, wait=not self.source.drops)
        except (av.FFmpegError, OSError) as e:
            return _reason(e)
        finally:
            self.stats.decode_s += time.thread_time() - cpu
        return END

    def _corrupt(self) -> None:
        self.stats.corrupt += 1
        now = time.monotonic()
        if now - self._corrupt_reported >= 1.0:
            self._corrupt_reported = now
            self.event("corrupt", packets=self.stats.corrupt)


class _Pacer:
    """Hold packets back until their timestamp is due in wall time (a file played as a camera would)."""

    def __init__(self, stopping: threading.Event):
        self.stopping = stopping
        self.t0: float | None = None
        self.first: Fraction | None = None

    def wait(self, packet: av.Packet, tb: Fraction) -> bool:
        ts = packet.dts if packet.dts is not None else packet.pts
        if ts is None:
            return True
        t = ts * tb
        if self.first is None:
            self.first, self.t0 = t, time.monotonic()
            return True
        delay = self.t0 + float(t - self.first) - time.monotonic()
        return delay <= 0 or not self.stopping.wait(delay)


def _reason(e: BaseException) -> str:
    if isinstance(e, av.FFmpegError):
        return e.strerror or first_line(e)
    if isinstance(e, OSError):
        return e.strerror or first_line(e)
    return str(e)
