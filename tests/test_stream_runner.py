"""The inference loop: a slow consumer drops windows (deterministically, memory bounded), streams are
batched together without changing their results, and heads are swapped while a stream runs."""
from __future__ import annotations

import os

import pytest

from catsplit.runtime.bundle import load_bundle
from catsplit.runtime.session import Runtime
from catsplit.runtime.stream import Source, StreamOptions, StreamRunner
from catsplit.runtime.stream.deploy import deploy
from tests.stream_media import BUNDLE_A, STRIDE, WINDOW, collect, encode, sample_frames, same_windows, wait_for, windows


def _options(**kw) -> StreamOptions:
    return StreamOptions(window=WINDOW, stride=STRIDE, **kw)


def test_a_slow_consumer_drops_stale_windows_deterministically(runtime_a, clip64):
    """The source runs to its end while nobody consumes: exactly the newest `max_pending` windows are
    classified, every other one is counted as dropped, and the ring never held more than a window."""
    source = Source("cam", str(clip64), drop=True)  # a camera would drop; a file read fast lets us finish first
    runner = StreamRunner(runtime_a, [source], _options(max_pending=3))
    runner.start()
    runner.readers[0].join(timeout=60)
    assert not runner.readers[0].is_alive()
    docs = collect(runner)
    got = windows(docs)
    assert [w["index"] for w in got] == [22, 23, 24]  # the newest three of 25
    assert [w["dropped"] for w in got] == [22, 22, 22]
    summary = docs[-1]["streams"]["cam"]
    assert summary["dropped"] == 22 and summary["frames"] == 64
    assert summary["max_ring_frames"] <= 16 + 2  # one window plus a stride: flat however long it runs
    reference = windows(collect(StreamRunner(runtime_a, [Source("cam", str(clip64))], _options())))
    same_windows(got, reference[22:])  # what was classified is unchanged by the drops


def test_two_streams_batched_give_what_each_gives_alone(runtime_a, clip64, tmp_path):
    other = encode(tmp_path / "other.mp4", sample_frames([3, 7]))
    alone = {name: windows(collect(StreamRunner(runtime_a, [Source(name, str(path))], _options())))
             for name, path in (("a", clip64), ("b", other))}
    runner = StreamRunner(runtime_a, [Source("a", str(clip64)), Source("b", str(other))], _options(max_pending=2))
    runner.start()  # both readers fill their two slots and wait: the first batch holds all four windows
    wait_for(lambda: all(len(q) == 2 for q in runner.hub.pending.values()), "both streams' slots full")
    docs = collect(runner)
    assert [w["batch"] for w in windows(docs)[:4]] == [4, 4, 4, 4]
    assert docs[-1]["mean_batch"] > 1
    for name in ("a", "b"):
        same_windows(windows(docs, name), alone[name])


def _probs_by_head(clip, bundles) -> dict[str, dict[int, dict]]:
    """Each head's windows of `clip`, by edit id and window index."""
    out = {}
    for path in bundles:
        rt = Runtime(path, threads=1)
        got = windows(collect(StreamRunner(rt, [Source("f", str(clip))], _options())))
        out[got[0]["edit_id"]] = {w["index"]: w for w in got}
    return out


def _stream_watching(heads, clip, poll: float, index: int, act) -> tuple[list[dict], str]:
    """Stream `clip` on a runtime of the watched `current` link; `act(runner)` once window `index` is out.
    Returns the documents and the first head's edit id."""
    rt = Runtime(heads["current"], threads=1)
    old = rt.head.edit_id
    runner = StreamRunner(rt, [Source("f", str(clip))], _options(watch=heads["current"], poll=poll))
    docs = []
    for doc in runner:
        docs.append(doc)
        if doc["type"] == "window" and doc["index"] == index:
            act(runner)
    return docs, old


def test_hot_swap_mid_stream_loses_no_window_and_mixes_no_heads(heads, clip64):
    def swap(runner):
        deploy(heads["a2"], heads["current"])
        assert runner.reload() is not None  # SIGHUP's path, synchronously: the swap is done here

    docs, old = _stream_watching(heads, clip64, 0, 8, swap)
    got = windows(docs)
    assert [w["index"] for w in got] == list(range(25))  # none lost
    ids = [w["edit_id"] for w in got]
    new = ids[-1]
    assert new != old and ids == [old] * ids.index(new) + [new] * (25 - ids.index(new))  # one switch
    assert 9 <= ids.index(new) <= 9 + 2  # the windows cut before the swap and not yet classified, at most
    (event,) = [d for d in docs if d["type"] == "head"]
    assert docs.index(event) == docs.index(got[ids.index(new)]) - 1  # said right before the first new window
    assert event["labels_changed"] and event["previous"] == old and event["edit_id"] == new
    assert len(event["added"]) == 10 and len(event["removed"]) == len(load_bundle(BUNDLE_A).labels)
    reference = _probs_by_head(clip64, [BUNDLE_A, heads["a2"]])
    for w in got:  # each window entirely by the head it names
        same_windows([w], [reference[w["edit_id"]][w["index"]]])
    assert docs[-1]["swaps"] == 1


@pytest.mark.parametrize("bad", ["bad", "wide"])
def test_a_bad_head_is_refused_once_and_the_old_one_keeps_running(heads, clip64, bad):
    def publish_bad(runner):
        target = os.path.realpath(heads[bad])
        tmp = heads["current"].with_name("switch")
        os.symlink(target, tmp)
        os.replace(tmp, heads["current"])  # what `catsplit deploy` does (it would refuse this bundle)
        wait_for(lambda: runner.watcher.seen and runner.watcher.seen[0] == target, "the watcher to look")
        runner.watcher.check()  # looks again: unchanged, so it is not tried (nor reported) twice

    docs, old = _stream_watching(heads, clip64, 0.01, 5, publish_bad)
    (error,) = [d for d in docs if d["type"] == "error"]
    assert error["source"] == "bundle" and str(heads[bad]) in error["error"]
    assert not [d for d in docs if d["type"] == "head"]
    got = windows(docs)
    assert [w["index"] for w in got] == list(range(25)) and {w["edit_id"] for w in got} == {old}


def test_runtime_stream_is_the_runners_api(runtime_a, clip64):
    """`Runtime.stream` yields the same window documents as a StreamRunner over the same source."""
    got = windows(list(runtime_a.stream([str(clip64)], window=WINDOW, stride=STRIDE)))
    want = windows(collect(StreamRunner(runtime_a, [Source("s0", str(clip64))], _options())))
    assert len(got) == len(want) == 25
    same_windows(got, want)
