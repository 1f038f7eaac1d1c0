"""Windows in stream time: the cutter, the clock, the window tensor, and a file streamed as fast as it
decodes giving exactly what the file path gives for the same frames."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from catsplit.runtime.bundle import Preprocess
from catsplit.runtime.stream import Source, StreamOptions, StreamRunner
from catsplit.runtime.stream.reader import Retry, StreamClock
from catsplit.runtime.stream.windows import WindowCutter, default_window
from catsplit.runtime.video import preprocess_clip, sample_indices
from tests.stream_media import FPS, STRIDE, WINDOW, collect, decoded, lossless, windows

UNIFORM = Preprocess(num_frames=4, crop=16, resize=20)
STRIDED = Preprocess(num_frames=3, crop=16, resize=18, layout="NTCHW", sampling="stride", stride=2)


def _frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 24, 30, 3), dtype=np.uint8)


@pytest.mark.parametrize("pre", [UNIFORM, STRIDED], ids=["uniform-NCTHW", "stride-NTCHW"])
def test_window_tensor_is_the_file_paths_tensor_of_its_frames(pre):
    frames = _frames(40)
    rate = Fraction(10)
    cutter = WindowCutter("s", pre, window=Fraction(13, 10), stride=Fraction(1, 2))
    closed = []
    for i, f in enumerate(frames):
        closed += cutter.push(i / rate, 1 / rate, f, wall=float(i), mono=float(i))
    assert [(w.start, w.end) for w in closed] == [(k * Fraction(1, 2), k * Fraction(1, 2) + Fraction(13, 10))
                                                  for k in range(6)]
    for w in closed:
        first = int(w.start * rate)
        inside = frames[first:first + 13]  # 13 frames at 10 fps lie in [start, start + 1.3)
        assert w.frames == 13 and w.received == first + 12  # latency counts from its last frame
        want = preprocess_clip(inside[sample_indices(len(inside), pre)[0]], pre)[0]
        np.testing.assert_array_equal(w.x, want)  # bit for bit


def test_gaps_make_short_windows_and_the_ring_stays_small():
    cutter = WindowCutter("s", UNIFORM, window=Fraction(1), stride=Fraction(2))  # stride > window
    rate = Fraction(25)
    closed = []
    times = [i / rate for i in range(2000) if not 100 <= i < 200]  # 4 s without frames
    for i, t in enumerate(times):
        closed += cutter.push(t, 1 / rate, _frames(1, i % 7)[0], 0.0, 0.0)
    assert [w.start for w in closed] == [2 * k for k in range(len(closed))]  # grid kept through the gap
    assert [w.x is None for w in closed][2:4] == [True, True]  # [4, 5) and [6, 7): no frames
    assert all(w.frames == 25 for k, w in enumerate(closed) if k not in (2, 3))
    assert cutter.max_frames <= 26  # never more than one window of frames, however long the stream


def test_stream_clock_places_untimed_frames_and_mends_jumps():
    clock, d = StreamClock(), Fraction(1, 12)
    assert clock.place(None, d) == (0, False)  # RTSP's first frame often has no timestamp
    assert clock.place(Fraction(3450, 90000), d) == (d, False)
    assert clock.place(Fraction(3450, 90000) + d, d) == (2 * d, False)
    assert clock.place(Fraction(0), d) == (3 * d, True)  # went back: a new timeline, stream time runs on
    assert clock.place(d, d) == (4 * d, False)
    assert clock.place(d + 60, d) == (5 * d, True)  # a minute forward: also a break
    clock.restart()  # reconnected: the new connection's first timestamp continues the stream
    assert clock.place(Fraction(777), d) == (6 * d, False)


def test_default_window_follows_the_bundles_sampling():
    assert default_window(UNIFORM, Fraction(12)) == Fraction(8, 12)  # 2 frames per segment
    assert default_window(STRIDED, Fraction(25)) == Fraction(5, 25)  # the sampled span
    assert default_window(UNIFORM, None) == Fraction(8, 25)  # unknown rate: 25 fps


def test_retry_delays_double_up_to_the_cap():
    assert [Retry(base=0.5, cap=3).delay(a) for a in range(1, 6)] == [0.5, 1, 2, 3, 3]


def test_a_file_streamed_fast_gives_the_file_paths_probabilities(runtime_a, clip64, tmp_path):
    runner = StreamRunner(runtime_a, [Source("f", str(clip64))], StreamOptions(window=WINDOW, stride=STRIDE))
    docs = collect(runner)
    got = windows(docs)
    frames = decoded(clip64)
    assert len(got) == (len(frames) - 16) // 2 + 1 == 25
    assert docs[-1]["type"] == "summary" and docs[-1]["streams"]["f"]["dropped"] == 0
    for w in got[::6]:  # the file path on a lossless file of exactly the window's frames
        first = w["index"] * 2
        assert (w["start"], w["end"], w["frames"]) == pytest.approx((first / FPS, first / FPS + WINDOW, 16))
        path = lossless(tmp_path / f"w{w['index']}.nut", frames[first:first + 16])
        (pred,) = runtime_a.classify([path], top_k=5)
        assert [t["label"] for t in w["top_k"]] == [label for label, _ in pred.top_k]
        np.testing.assert_allclose([t["prob"] for t in w["top_k"]], [p for _, p in pred.top_k], rtol=0, atol=1e-6)
