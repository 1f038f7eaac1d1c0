"""Producers for the streaming tests: world clips as H.264 files and MPEG-TS bytes, and senders over
TCP, UDP and RTSP on 127.0.0.1 (PyAV and sockets only: no camera, no external binary); plus the
helpers and checks the tests/test_stream_*.py modules share (their fixtures, runtime_a, clip64 and
heads, are in tests/conftest.py: imported into a module, a fixture is redefined by each test argument
of its name).

The RTSP sender runs in a child process: PyAV's muxer holds the GIL while it talks to the network,
and a receiver in the same process needs the GIL for its timeout callback.
"""
from __future__ import annotations

import io
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np

from catsplit.models.head import make_head
from catsplit.models.onnx_io import save_onnx
from catsplit.runtime.bundle import BACKBONE, HEAD, load_bundle, write_bundle
from catsplit.runtime.stream.deploy import deploy

REPO = Path(__file__).resolve().parents[1]
BUNDLE_A = REPO / "models" / "bundles" / "ssv2_split_A_synth"
SAMPLES = sorted((REPO / "models" / "bundles" / "samples").glob("*/val_000.mp4"))
FPS = 12  # the world's frame rate (benchmarks/world/write_mp4.py)


def sample_frames(indices: list[int]) -> np.ndarray:
    """RGB frames of some shipped sample clips, one after another."""
    frames = []
    for i in indices:
        with av.open(str(SAMPLES[i])) as c:
            frames += [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return np.stack(frames)


def _write(path: Path, frames: np.ndarray, fps: int, codec: str, pix_fmt: str, fmt: str | None = None,
           options: dict[str, str] | None = None) -> Path:
    with av.open(str(path), "w", format=fmt) as out:
        s = out.add_stream(codec, rate=fps, options=options or {})
        s.height, s.width = frames.shape[1:3]
        s.pix_fmt = pix_fmt
        for f in frames:
            out.mux(s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")))
        out.mux(s.encode(None))
    return path


def encode(path: Path, frames: np.ndarray, fps: int = FPS, keyint: int = 12) -> Path:
    """H.264 (no B-frames, a keyframe every `keyint` frames) in an mp4."""
    return _write(path, frames, fps, "libx264", "yuv420p", options={
        "crf": "18", "preset": "veryfast", "tune": "zerolatency", "g": str(keyint), "keyint_min": str(keyint),
        "sc_threshold": "0", "threads": "1"})


def decoded(path: Path) -> np.ndarray:
    """Every frame of `path` as the runtime decodes it (RGB uint8)."""
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def lossless(path: Path, frames: np.ndarray, fps: int = FPS) -> Path:
    """Frames stored exactly (raw RGB in NUT): the file path decodes them bit for bit."""
    return _write(path, frames, fps, "rawvideo", "rgb24", fmt="nut")


def mpegts(path: Path) -> bytes:
    """The packets of an mp4, remuxed (not re-encoded) into MPEG-TS bytes."""
    buf = io.BytesIO()
    with av.open(str(path)) as inp, av.open(buf, "w", format="mpegts") as out:
        s = inp.streams.video[0]
        o = out.add_stream_from_template(s)
        for p in inp.demux(s):
            if p.dts is not None:
                p.stream = o
                out.mux(p)
    return buf.getvalue()


def push_tcp(port: int, data: bytes, deadline: float = 20.0) -> None:
    """Connect to a listening receiver (retrying until it listens), send, close."""
    end = time.monotonic() + deadline
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(data)
                return
        except ConnectionRefusedError:
            if time.monotonic() > end:
                raise
            time.sleep(0.02)


class TcpServer:
    """A sender that listens (the receiver connects to it): serves `data` to the next connection."""

    def __init__(self, port: int):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(1)

    def serve(self, data: bytes) -> threading.Thread:
        def run() -> None:
            conn, _ = self.sock.accept()
            with conn:
                conn.sendall(data)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def close(self) -> None:
        self.sock.close()


def _sockets(table: str) -> list[list[str]]:
    return [line.split() for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]]


def udp_bound(port: int) -> bool:
    """Whether some socket is bound to UDP `port` on this machine (Linux /proc)."""
    return any(cols[1].endswith(f":{port:04X}") for cols in _sockets("udp"))


def tcp_listening(port: int) -> bool:
    """Whether some socket listens on TCP `port` (state 0A in /proc/net/tcp)."""
    return any(cols[1].endswith(f":{port:04X}") and cols[3] == "0A" for cols in _sockets("tcp"))


def wait_for(check, what: str, deadline: float = 20.0) -> None:
    """Poll `check()` until true; the deadline only turns a hang into a failure."""
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.01)


def send_udp(port: int, data: bytes, wait_bound: float = 20.0) -> None:
    """MPEG-TS in datagrams of 7 TS packets, once the receiver's socket is bound (UDP has no connect)."""
    wait_for(lambda: udp_bound(port), f"a receiver on UDP port {port}", wait_bound)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(0, len(data), 1316):
            s.sendto(data[i:i + 1316], ("127.0.0.1", port))
            time.sleep(0.0005)  # loopback never loses, unless the receiver's buffer overflows


def send_process(files: list[Path], url: str, *extra: str) -> subprocess.Popen:
    """`catsplit send` in a child process."""
    return subprocess.Popen([sys.executable, "-m", "catsplit.runtime.stream.send", *map(str, files), "--to", url,
                             *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


# ---- helpers shared by the tests/test_stream_*.py modules --------------------------------

WINDOW = 16 / FPS   # one world clip: the window the shipped models were trained on
STRIDE = 2 / FPS
CLIP_SAMPLES = [0, 5, 10, 15]  # 4 clips x 16 frames = 64 frames: 25 windows at WINDOW / STRIDE


def collect(runner, stop_when=lambda docs: False) -> list[dict]:
    """Every document of `runner`; `stop_when(docs so far)` true -> runner.stop() (the rest still drains)."""
    docs: list[dict] = []
    for doc in runner:
        docs.append(doc)
        if stop_when(docs):
            runner.stop()
    return docs


def windows(docs: list[dict], stream: str | None = None) -> list[dict]:
    return [d for d in docs if d["type"] == "window" and (stream is None or d["stream"] == stream)]


def events(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["type"] == "source" and d["event"] == kind]


def same_windows(got: list[dict], want: list[dict], atol: float = 1e-5) -> None:
    """Same windows (index, stream times, frame count) with the same top-k, probabilities to `atol`
    (a window batched with others may differ from itself alone in the last float bits)."""
    assert [(w["index"], w["start"], w["end"], w["frames"]) for w in got] == \
           [(w["index"], w["start"], w["end"], w["frames"]) for w in want]
    for g, w in zip(got, want):
        assert [t["label"] for t in g["top_k"]] == [t["label"] for t in w["top_k"]], g["index"]
        np.testing.assert_allclose([t["prob"] for t in g["top_k"]], [t["prob"] for t in w["top_k"]], atol=atol)


def make_heads(tmp_path: Path) -> dict[str, Path]:
    """The `heads` fixture's bundles in `tmp_path`: `current` -> model A (a symlink, as `catsplit deploy`
    makes); `a2`: the same backbone, another head and other labels; `bad`: a head whose file does not
    match its sha256; `wide`: a head for another feature dimension."""
    a = load_bundle(BUNDLE_A)
    rng = np.random.default_rng(0)
    out = {}
    for name, labels, dim in (("a2", [f"{lab} v2" for lab in a.labels[:10]], a.feature_dim),
                              ("wide", a.labels, a.feature_dim + 4)):
        head = save_onnx(make_head(rng.standard_normal((len(labels), dim)).astype(np.float32), np.zeros(len(labels))),
                         tmp_path / f"{name}.onnx")
        meta = type(a)(path=tmp_path / name, labels=labels, feature_dim=dim, preprocess=a.preprocess, files={})
        out[name] = write_bundle(meta, tmp_path / name, {BACKBONE: a.backbone_path, HEAD: head}).path
    shutil.copytree(BUNDLE_A, tmp_path / "bad")
    with open(tmp_path / "bad" / HEAD, "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02")
    out["bad"] = tmp_path / "bad"
    out["current"] = tmp_path / "current"
    deploy(BUNDLE_A, out["current"])
    return out
