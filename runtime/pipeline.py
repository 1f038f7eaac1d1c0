"""Decoding overlapped with inference: a bounded, order-keeping prefetcher.

`prefetch(items, fn, workers)` runs `fn` on the next items in a thread pool while the caller consumes
earlier results (for the runtime: PyAV decodes and numpy preprocesses the next videos while
onnxruntime runs the backbone on the current batch; all three release the GIL in their heavy parts).
Results come back in input order. At most `workers + depth` items are in flight, so a long folder or
an endless stream never piles decoded clips up in memory. An exception raised by `fn` is returned in
place of its result, so one bad item neither stops nor reorders the stream.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def prefetch(items: Iterable[T], fn: Callable[[T], R], workers: int = 2, depth: int | None = None
             ) -> Iterator[tuple[T, R | BaseException]]:
    """Yield `(item, fn(item))` in input order, computing up to `workers + depth` items ahead.

    `workers=0` computes each item inline when it is asked for (no threads, no overlap). `depth`
    defaults to `workers`. `fn`'s exceptions (Exception subclasses) are yielded as the result.
    Closing the generator early cancels what has not started and waits for what has.
    """
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if workers == 0:
        for item in items:
            yield item, _call(fn, item)
        return
    ahead = workers + (workers if depth is None else max(depth, 0))
    it = iter(items)
    pending: deque[tuple[T, Future]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="catsplit-decode") as pool:
        try:
            for item in it:
                pending.append((item, pool.submit(_call, fn, item)))
                if len(pending) >= ahead:
                    head, fut = pending.popleft()
                    yield head, fut.result()
            while pending:
                head, fut = pending.popleft()
                yield head, fut.result()
        finally:
            for _, fut in pending:
                fut.cancel()


def _call(fn: Callable[[T], R], item: T) -> R | BaseException:
    try:
        return fn(item)
    except Exception as e:  # returned in order, for the caller to report with its item
        return e
