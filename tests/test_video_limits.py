"""Issue 10 item 7: clips too large to decode are refused per video, large ones decode in bounded memory,
and under a memory cap one clip that does not fit fails alone while the others in the call are classified.

Each memory figure comes from a child process (VmHWM: its own peak resident set). Needs only the runtime's
dependencies, so `make test-floor` runs it on the oldest onnxruntime too.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from catsplit.runtime import Runtime, VideoError, load_views
from catsplit.runtime.video import MAX_SIDE
from tests.runtime_fixtures import MODEL_A, SAMPLES

GOOD = [str(SAMPLES / d / "val_000.mp4") for d in ("pushing_something_from_left_to_right",
                                                  "something_falling_like_a_rock",
                                                  "spinning_something_so_it_continues_spinning")]
PEAK = r"""
import re
def peak_mib():
    return int(re.search(r"VmHWM:\s+(\d+) kB", open("/proc/self/status").read()).group(1)) / 1024
"""


def flat_clip(path: Path, height: int, width: int, frames: int = 10, codec: str = "libx264") -> Path:
    """A clip of uniform frames (cheap to encode at any size; decoding still needs full-size frames)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25, options={"preset": "ultrafast"} if codec == "libx264" else {})
        stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane, value in zip(frame.planes, (16 + 8 * i, 128, 128)):
                np.frombuffer(plane, np.uint8)[:] = value
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def giants(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("giants")
    return {"8192x8192": str(flat_clip(d / "8192x8192.mp4", 8192, 8192)),
            "8K": str(flat_clip(d / "8k.mp4", 4320, 7680))}


def _child(code: str, *args: str) -> list[dict]:
    proc = subprocess.run([sys.executable, "-c", PEAK + code, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MALLOC_ARENA_MAX": "2"})  # no 64 MB arena per thread under the cap
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_a_side_longer_than_any_codec_level_is_refused(tmp_path):
    clip = flat_clip(tmp_path / "wide.mkv", 16, MAX_SIDE + 120, codec="ffv1")
    rt = Runtime(MODEL_A, provider="cpu")
    with pytest.raises(VideoError, match=rf"wide\.mkv: frame size {MAX_SIDE + 120}x16 is over the largest"):
        load_views(clip, rt.preprocess)
    preds = rt.classify([GOOD[0], str(clip), GOOD[1]])
    assert [p.error is None for p in preds] == [True, False, True]


LOAD = """
import json, sys
from catsplit.runtime import VideoError, load_views
from catsplit.runtime.bundle import load_bundle
try:
    load_views(sys.argv[2], load_bundle(sys.argv[1]).preprocess)
    error = None
except VideoError as e:
    error = str(e)
print(json.dumps({"error": error, "peak_mib": peak_mib()}))
"""


@pytest.mark.slow
def test_an_8192_square_clip_is_refused_from_its_header(giants):
    """Before: decoded whole, 4.9 GB for a 10-frame clip."""
    (out,) = _child(LOAD, str(MODEL_A), giants["8192x8192"])
    assert out["error"].startswith(f"{giants['8192x8192']}: frame size 8192x8192 is over the largest")
    assert out["peak_mib"] < 400, out


@pytest.mark.slow
def test_an_8k_clip_decodes_in_bounded_memory(giants):
    """Frames over DCI 4K are shrunk by the decoder's own scaler: no full-size RGB copy is kept."""
    (out,) = _child(LOAD, str(MODEL_A), giants["8K"])
    assert out["error"] is None and out["peak_mib"] < 400, out


CAPPED = """
import json, resource, sys
from catsplit.runtime import Runtime
rt = Runtime(sys.argv[1], provider="cpu", decode_threads=0)
rt.classify(sys.argv[2:5])  # sessions, allocator and decoder warmed up on the good clips before the cap
vm = int(re.search(r"VmSize:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
cap = vm + (60 << 20)
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
for p in rt.classify(sys.argv[5:], top_k=3):
    print(json.dumps({"video": p.video, "error": p.error, "top_k": p.top_k}))
"""


@pytest.mark.slow
def test_under_a_memory_cap_each_giant_fails_alone(giants):
    videos = [GOOD[0], giants["8192x8192"], GOOD[1], giants["8K"], GOOD[2]]
    want = {p.video: p.top_k for p in Runtime(MODEL_A, provider="cpu").classify(GOOD, top_k=3)}
    got = _child(CAPPED, str(MODEL_A), *GOOD, *videos)
    assert [p["video"] for p in got] == videos
    assert got[1]["error"].startswith(f"{giants['8192x8192']}: frame size 8192x8192 is over the largest")
    assert got[3]["error"].startswith(f"{giants['8K']}: ") and "out of memory" in got[3]["error"]
    for p in (got[0], got[2], got[4]):
        assert p["error"] is None
        assert [lab for lab, _ in p["top_k"]] == [lab for lab, _ in want[p["video"]]]
        np.testing.assert_allclose([x for _, x in p["top_k"]], [x for _, x in want[p["video"]]], atol=1e-6)
