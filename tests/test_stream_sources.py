"""Live sources on 127.0.0.1, fed by PyAV and sockets: RTSP (the camera pushes to our listener), MPEG-TS
over UDP and TCP, a sender that stops and comes back, garbage in the stream, a source that never opens."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from catsplit.runtime.stream import Retry, Source, SourceError, StreamOptions, StreamRunner
from catsplit.scale.processes import free_port
from tests.stream_media import (STRIDE, WINDOW, TcpServer, collect, encode, events, mpegts, push_tcp,
                                sample_frames, same_windows, send_process, send_udp, tcp_listening, wait_for, windows)

FAST = Retry(retries=2, base=0.05, cap=1.0, timeout=3.0)


def _options(**kw) -> StreamOptions:
    # Live sources drop stale windows; 64 waiting slots hold a whole test clip, so none can be dropped here.
    return StreamOptions(window=WINDOW, stride=STRIDE, max_pending=64, retry=FAST, **kw)


@pytest.fixture(scope="module")
def reference(runtime_a, clip64):
    """The windows of the clip read from its file."""
    return windows(collect(StreamRunner(runtime_a, [Source("f", str(clip64))], _options())))


def _until_lost(docs):
    return docs[-1]["type"] == "source" and docs[-1]["event"] == "lost"


@pytest.mark.parametrize("transport", ["tcp", "udp", "rtsp"])
def test_windows_and_stream_times_match_what_was_sent(runtime_a, clip64, reference, transport):
    port = free_port()
    if transport == "tcp":
        source = Source("cam", f"tcp://127.0.0.1:{port}", listen=True)
    elif transport == "udp":
        source = Source("cam", f"udp://127.0.0.1:{port}")
    else:
        source = Source("cam", f"rtsp://127.0.0.1:{port}/live", listen=True)
    runner = StreamRunner(runtime_a, [source], _options())
    runner.start()
    if transport == "tcp":
        threading.Thread(target=push_tcp, args=(port, mpegts(clip64)), daemon=True).start()
        docs = collect(runner, _until_lost)  # the sender hung up after the last frame
    elif transport == "udp":
        threading.Thread(target=send_udp, args=(port, mpegts(clip64)), daemon=True).start()
        docs = collect(runner, lambda d: len(windows(d)) == len(reference))  # UDP never says it ended
    else:
        wait_for(lambda: tcp_listening(port), "the RTSP listener")
        sender = send_process([clip64], f"rtsp://127.0.0.1:{port}/live", "--fast")
        docs = collect(runner, _until_lost)
        assert sender.wait(30) == 0, sender.stderr.read()
    assert events(docs, "opened")
    same_windows(windows(docs), reference)


def test_a_sender_that_stops_and_comes_back(runtime_a, clip64, reference, tmp_path):
    """We connect to the sender; it serves one clip and goes away (connections refused); the reader
    retries with doubling delays; the sender comes back with a second clip; stream time runs on."""
    second = encode(tmp_path / "second.mp4", sample_frames([20, 21]))
    port = free_port()
    server = TcpServer(port)
    server.serve(mpegts(clip64))
    runner = StreamRunner(runtime_a, [Source("cam", f"tcp://127.0.0.1:{port}")], _options())
    docs = []
    for doc in runner:
        docs.append(doc)
        if _until_lost(docs):
            server.close()
        if doc["type"] == "source" and doc["event"] == "reconnecting" and doc["attempt"] == 3:
            server = TcpServer(port)
            server.serve(mpegts(second))
        if doc["type"] == "source" and doc["event"] == "reconnected":
            reconnected = len(docs)
        if len(events(docs, "lost")) == 2:
            runner.stop()
    server.close()
    delays = [d["delay_s"] for d in events(docs, "reconnecting")[:3]]
    assert delays == [0.05, 0.1, 0.2]  # exponential backoff
    before, after = windows(docs[:reconnected]), windows(docs[reconnected:])
    same_windows(before, reference)
    assert len(after) == (32 - 16) // 2 + 1
    assert after[0]["index"] == 25 and after[0]["start"] == pytest.approx(64 / 12)  # stream time runs on
    alone = windows(collect(StreamRunner(runtime_a, [Source("f", str(second))], _options())))
    for w in alone:
        w["index"], w["start"], w["end"] = w["index"] + 25, w["start"] + 64 / 12, w["end"] + 64 / 12
    same_windows([{**w, "start": round(w["start"], 9), "end": round(w["end"], 9)} for w in after],
                 [{**w, "start": round(w["start"], 9), "end": round(w["end"], 9)} for w in alone])
    assert docs[-1]["streams"]["cam"]["reconnects"] == 1


def test_garbage_between_packets_is_skipped(runtime_a, clip64, reference):
    """Random bytes between MPEG-TS packets: the demuxer resynchronises; nothing is lost or changed."""
    ts = mpegts(clip64)
    cut = len(ts) // 188 // 2 * 188
    garbage = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    port = free_port()
    runner = StreamRunner(runtime_a, [Source("cam", f"tcp://127.0.0.1:{port}", listen=True)], _options())
    runner.start()
    threading.Thread(target=push_tcp, args=(port, ts[:cut] + garbage + ts[cut:]), daemon=True).start()
    same_windows(windows(collect(runner, _until_lost)), reference)


def test_damaged_packets_are_skipped_and_reported(runtime_a, clip64, reference):
    """TS packets lost mid-stream: the damaged frame is skipped and counted (the decoder drops the frames
    that needed it, up to the next keyframe), the stream goes on, and every window with all its frames,
    before the damage and after it, is exactly the clean one."""
    ts = mpegts(clip64)
    cut = len(ts) // 188 // 2 * 188
    port = free_port()
    runner = StreamRunner(runtime_a, [Source("cam", f"tcp://127.0.0.1:{port}", listen=True)], _options())
    runner.start()
    threading.Thread(target=push_tcp, args=(port, ts[:cut] + ts[cut + 5 * 188:]), daemon=True).start()
    docs = collect(runner, _until_lost)
    summary = docs[-1]["streams"]["cam"]
    assert events(docs, "corrupt") and summary["corrupt"] >= 1
    got = windows(docs)
    damaged = [w["index"] for w in got if w["frames"] < 16]
    whole = [w for w in got if w["frames"] == 16]
    assert damaged and whole[-1]["index"] == 24 > max(damaged)  # the stream recovered and went on to its end
    assert summary["short"] == 25 - len(got)  # windows left with too few frames to sample are counted
    same_windows(whole, [reference[w["index"]] for w in whole])


def test_a_source_that_never_opens_fails_after_the_retries(runtime_a):
    port = free_port()  # nobody listens there
    runner = StreamRunner(runtime_a, [Source("cam", f"tcp://127.0.0.1:{port}")], _options())
    docs = []
    with pytest.raises(SourceError, match=rf"tcp://127.0.0.1:{port}: cannot open \(.*\) after 2 retries"):
        for doc in runner:
            docs.append(doc)
    assert [d["delay_s"] for d in events(docs, "retry")] == [0.05, 0.1]
