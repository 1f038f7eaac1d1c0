"""Windows in stream time: a ring of preprocessed frames, cut into the backbone's input tensors.

A window is the half-open stream-time interval [start, start + window); window k starts at
`origin + k * stride`, where `origin` is the first frame's time. Its frames are the frames whose
presentation time falls inside it, and it is sampled exactly as a file of those frames would be
(`video.sample_indices`: "uniform" segments or "stride" runs), so a window's tensor is the tensor
`video.load_views` makes of a file holding the same frames.

Each frame is preprocessed once, on arrival (`prepare_frame`, which is `video.preprocess_clip` of
that frame alone: resizing, cropping and normalising act on every frame separately, so the numbers
are the same). The ring keeps only the frames a future window can still use, already reduced to
crop x crop floats, so memory stays flat however long the stream runs.

Times are exact fractions (PTS x time base), so whether a frame lies inside a window never depends
on float rounding.
"""
from __future__ import annotations

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from catsplit.runtime.bundle import Preprocess
from catsplit.runtime.video import needed_frames, preprocess_clip, sample_indices

DEFAULT_RATE = Fraction(25)  # frames per second assumed when a stream does not say


def prepare_frame(rgb: np.ndarray, pre: Preprocess) -> np.ndarray:
    """One RGB uint8 frame [H, W, 3] -> its float32 slice of the clip tensor (T axis of length 1)."""
    return preprocess_clip(rgb[None], pre)[0]


def time_axis(pre: Preprocess) -> int:
    """The T axis of one clip's tensor ([C, T, H, W] or [T, C, H, W])."""
    return 1 if pre.layout == "NCTHW" else 0


def default_window(pre: Preprocess, rate: Fraction | None) -> Fraction:
    """The window when --window is not given, in seconds, from the stream's nominal frame rate.

    "stride" sampling reads `(num_frames - 1) * stride + 1` consecutive frames: the window is exactly
    that many frames. "uniform" sampling spreads `num_frames` segments over a clip; the window is
    two frames per segment, which is the clip the shipped models were trained on (16 frames, 8
    sampled; benchmarks/world). bundle.json does not record a model's clip duration yet.
    """
    frames = needed_frames(pre) if pre.sampling == "stride" else 2 * pre.num_frames
    return Fraction(frames) / (rate or DEFAULT_RATE)


@dataclass
class Frame:
    time: Fraction       # stream time, seconds
    x: np.ndarray        # prepare_frame's output
    wall: float          # time.time() when received
    mono: float          # time.monotonic() when received


@dataclass
class Window:
    """A closed window: its tensor (None when it had too few frames to sample), times and frames."""

    stream: str
    index: int
    start: Fraction
    end: Fraction
    x: np.ndarray | None
    frames: int
    wall_start: float
    wall_end: float
    received: float      # monotonic time its last frame was received: latency counts from here
    seq: int = 0         # global order of creation (set by the Hub)


class WindowCutter:
    """Frames in, closed windows out, for one stream."""

    def __init__(self, stream: str, pre: Preprocess, window: Fraction, stride: Fraction):
        if window <= 0 or stride <= 0:
            raise ValueError(f"window and stride must be positive, got {window} and {stride}")
        self.stream, self.pre, self.window, self.stride = stream, pre, window, stride
        self.need = needed_frames(pre)
        self.frames: deque[Frame] = deque()
        self.max_frames = 0  # the most frames the ring ever held (memory check)
        self.next_index = 0  # windows are numbered per stream, across resets
        self.reset()

    def reset(self) -> None:
        """Forget buffered frames (after a discontinuity); the next frame starts a new window grid."""
        self.frames.clear()
        self.origin: Fraction | None = None
        self.k = 0

    def _start(self, k: int) -> Fraction:
        assert self.origin is not None
        return self.origin + k * self.stride

    def push(self, time: Fraction, duration: Fraction, rgb: np.ndarray, wall: float, mono: float) -> list[Window]:
        """Add a frame; return the windows it completes (its end reaches theirs)."""
        if self.origin is None:
            self.origin = time
        if time >= self._start(self.k):  # a frame before the current window is of no use
            self.frames.append(Frame(time, prepare_frame(rgb, self.pre), wall, mono))
            self.max_frames = max(self.max_frames, len(self.frames))
        closed = []
        while self._start(self.k) + self.window <= time + duration:
            closed.append(self._close())
        return closed

    def _close(self) -> Window:
        start = self._start(self.k)
        end = start + self.window
        times = [f.time for f in self.frames]
        inside = list(self.frames)[bisect_left(times, start):bisect_left(times, end)]
        x = None
        if len(inside) >= self.need:
            picked = sample_indices(len(inside), self.pre)[0]
            x = np.concatenate([inside[i].x for i in picked], axis=time_axis(self.pre))
        first, last = (inside[0], inside[-1]) if inside else (None, None)
        window = Window(self.stream, self.next_index, start, end, x, len(inside),
                        first.wall if first else float("nan"), last.wall if last else float("nan"),
                        last.mono if last else float("nan"))
        self.k += 1
        self.next_index += 1
        keep_from = self._start(self.k)
        while self.frames and self.frames[0].time < keep_from:
            self.frames.popleft()
        return window
