"""Real mp4 files for tests, written with PyAV (libx264), plus the broken files the runtime must refuse.

Frame `i` of `textured_frames` has mean brightness ~ 8 * i + 4 (so a decoded frame tells its index)
plus a texture that makes resizing and cropping visible.
"""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def textured_frames(n: int, height: int, width: int) -> np.ndarray:
    """[n, H, W, 3] uint8: per-frame base level 8*i + 4 with a gentle colour gradient on top."""
    y = np.linspace(-12, 12, height)[:, None]
    x = np.linspace(-12, 12, width)[None, :]
    frames = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        base = 8.0 * i + 4.0
        frames[i, ..., 0] = np.clip(base + x, 0, 255)
        frames[i, ..., 1] = np.clip(base + y, 0, 255)
        frames[i, ..., 2] = np.clip(base - x * y / 12, 0, 255)
    return frames


def write_video(path: str | Path, frames: np.ndarray, fps: int = 25, pix_fmt: str = "yuv444p",
                faststart: bool = False, lossless: bool = False) -> Path:
    """Encode frames ([T, H, W, 3] RGB or [T, H, W] gray uint8) as an H.264 mp4; `lossless`: RGB H.264
    (libx264rgb, qp 0), which decodes to exactly `frames` (RGB frames only)."""
    path = Path(path)
    options = {"movflags": "faststart"} if faststart else {}
    if lossless:
        pix_fmt = "rgb24"
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream("libx264rgb" if lossless else "libx264", rate=fps,
                                options={"qp": "0"} if lossless else {"crf": "10"})
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        fmt = "gray" if frames.ndim == 3 else "rgb24"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format=fmt)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def normal_video(path: str | Path, n: int = 32, height: int = 72, width: int = 96) -> Path:
    return write_video(path, textured_frames(n, height, width), pix_fmt="yuv420p")


def short_video(path: str | Path, n: int = 3) -> Path:
    return write_video(path, textured_frames(n, 48, 64), pix_fmt="yuv420p")


def gray_video(path: str | Path, n: int = 20) -> Path:
    """A monochrome H.264 stream (chroma_format_idc 0)."""
    return write_video(path, textured_frames(n, 48, 64)[..., 0], pix_fmt="gray")


def odd_video(path: str | Path, n: int = 20, height: int = 61, width: int = 97) -> Path:
    """Odd width and height (4:4:4, since 4:2:0 H.264 needs even sizes); portrait-free, wide."""
    return write_video(path, textured_frames(n, height, width), pix_fmt="yuv444p")


def truncated_video(path: str | Path, n: int = 32, faststart: bool = True) -> Path:
    """The first half of an mp4. With faststart the index survives and promises frames whose data
    is cut off; without it the index (at the end) is gone."""
    path = Path(path)
    write_video(path, textured_frames(n, 72, 96), pix_fmt="yuv420p", faststart=faststart)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def empty_file(path: str | Path) -> Path:
    path = Path(path)
    path.write_bytes(b"")
    return path


def non_video(path: str | Path) -> Path:
    path = Path(path)
    path.write_text("this is not a video\n" * 50)
    return path
