"""The decode prefetcher: order, bounded look-ahead, errors in place, and Runtime.classify using it."""
from __future__ import annotations

import threading
import time

import pytest

from catsplit.runtime import Runtime
from catsplit.runtime.pipeline import prefetch
from tests.tiny_bundle import make_bundle
from tests.videos import non_video, normal_video


def test_results_come_back_in_input_order_even_when_later_items_finish_first():
    def slow_for_small(i: int) -> int:
        time.sleep(0.02 * (5 - i % 5))  # item 0 is the slowest of each five
        return i * i

    out = list(prefetch(range(12), slow_for_small, workers=3))
    assert out == [(i, i * i) for i in range(12)]


@pytest.mark.parametrize("workers,depth", [(1, 0), (2, 1), (3, None)])
def test_look_ahead_is_bounded(workers, depth):
    """However slowly the consumer reads, at most workers + depth items have been started."""
    started: list[int] = []
    lock = threading.Lock()

    def record(i: int) -> int:
        with lock:
            started.append(i)
        return i

    limit = workers + (workers if depth is None else depth)
    gen = prefetch(range(100), record, workers=workers, depth=depth)
    for consumed, (i, _) in enumerate(gen, 1):
        time.sleep(0.005)
        with lock:
            assert len(started) <= consumed + limit
        if consumed == 10:
            break
    gen.close()
    assert len(started) < 100


def test_decoding_overlaps_the_consumer():
    """With workers, the next items are computed while the consumer still holds the first; inline, not."""
    for workers, ahead in ((2, [1, 2, 3]), (0, [])):
        started = [threading.Event() for _ in range(8)]

        def work(i: int) -> int:
            started[i].set()
            return i

        gen = prefetch(range(8), work, workers=workers)
        assert next(gen) == (0, 0)
        assert all(started[i].wait(timeout=30) for i in ahead)  # a liveness guard, not a speed target
        assert not any(e.is_set() for e in started[len(ahead) + 1:])
        gen.close()


def test_errors_are_returned_in_place_and_the_stream_goes_on():
    def fail_on_three(i: int) -> int:
        if i == 3:
            raise ValueError("three")
        return i

    for workers in (0, 2):
        out = list(prefetch(range(6), fail_on_three, workers=workers))
        assert [i for i, _ in out] == list(range(6))
        assert isinstance(out[3][1], ValueError) and [r for _, r in out if not isinstance(r, Exception)] == [0, 1, 2, 4, 5]


def test_inline_mode_computes_lazily():
    seen: list[int] = []
    gen = prefetch(range(5), lambda i: seen.append(i) or i, workers=0)
    assert next(gen) == (0, 0) and seen == [0]


def test_classify_overlapped_equals_inline(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    videos = [normal_video(tmp_path / f"v{i}.mp4", n=20 + 3 * i) for i in range(5)]
    videos.insert(2, non_video(tmp_path / "bad.mp4"))
    inline = Runtime(bundle, provider="cpu", threads=1, batch_size=2, decode_threads=0).classify(videos, top_k=3)
    overlapped = Runtime(bundle, provider="cpu", threads=1, batch_size=2, decode_threads=2).classify(videos, top_k=3)
    assert [p.video for p in overlapped] == [str(v) for v in videos]
    assert overlapped[2].error is not None and overlapped[2].top_k == []
    for a, b in zip(inline, overlapped):
        assert a.error == b.error
        assert [lab for lab, _ in a.top_k] == [lab for lab, _ in b.top_k]
        assert [p for _, p in a.top_k] == pytest.approx([p for _, p in b.top_k], abs=1e-6)
