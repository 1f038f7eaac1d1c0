"""A video file -> the backbone's input views, exactly as the bundle's `Preprocess` says.

The pipeline, per view (the array `load_views` returns is the reference others compare against):

1. Decode every frame with PyAV (presentation order, frame threading) and count the decodable ones,
   `n`. The container's frame count is only a hint: the indices are always computed from `n`.
2. Pick frame indices (`sample_indices`, integer arithmetic, so exact and deterministic):
   - "uniform": `num_frames` equal segments of the `n` frames; clip `c` of `clips` takes the frame at
     fraction `(c + 0.5) / clips` of each segment, i.e. `floor(n * (i + (c + 0.5) / clips) / T)`. With
     one clip that is each segment's centre frame (the TSN test protocol). Needs `n >= num_frames`.
   - "stride": `num_frames` frames `stride` apart, a span of `(num_frames - 1) * stride + 1` frames;
     clip `c` starts at `floor((n - span) * (c + 0.5) / clips)` (clip starts evenly spaced, one clip is
     centred). Needs `n >= span`.
3. Convert each picked frame to RGB with `frame.to_ndarray(format="rgb24")` (FFmpeg's swscale, so
   grayscale, any YUV layout and odd sizes all end up as H x W x 3 uint8), then to float32 / 255.
4. Resize so the short side is `resize` and the long side `int(resize * long / short)` (torchvision's
   rule), bilinear, half-pixel centres, no antialiasing: the same numbers as
   `torch.nn.functional.interpolate(x, size, mode="bilinear", align_corners=False)` on the float
   frames (agreement to float32 rounding, tested).
5. Crop `crop` x `crop`: one crop = the centre (torchvision's `center_crop` offsets,
   `int(round((size - crop) / 2))`); three crops = left, centre and right along the long side (for a
   square frame: along the width), centred on the short side.
6. Normalise `(x - mean) / std` per channel and lay the clip out as CTHW (NCTHW) or TCHW (NTCHW).

Views are ordered clip-major: view `c * crops + k` is clip `c`, crop `k`. Rotation metadata and
non-square sample aspect ratios are ignored (frames are used as stored).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import av
import numpy as np

from catsplit.runtime.bundle import Preprocess
from catsplit.runtime.errors import CatsplitError


VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")  # what a folder of videos is taken to hold


class VideoError(CatsplitError):
    """A video that cannot be turned into views; the message is one line naming the file."""


def needed_frames(pre: Preprocess) -> int:
    """The fewest decodable frames a video needs for `pre`."""
    if pre.sampling == "uniform":
        return pre.num_frames
    return (pre.num_frames - 1) * pre.stride + 1


def sample_indices(num_decoded: int, pre: Preprocess, clips: int = 1) -> np.ndarray:
    """Frame indices [clips, num_frames] for a video of `num_decoded` frames (see the module doc)."""
    need = needed_frames(pre)
    if clips < 1:
        raise ValueError(f"clips must be >= 1, got {clips}")
    if num_decoded < need:
        raise ValueError(f"has {num_decoded} decodable frames, the bundle needs at least {need}")
    t, n = pre.num_frames, num_decoded
    c = np.arange(clips, dtype=np.int64)[:, None]
    i = np.arange(t, dtype=np.int64)[None, :]
    if pre.sampling == "uniform":
        return ((2 * i * clips + 2 * c + 1) * n) // (2 * clips * t)
    starts = ((2 * c + 1) * (n - need)) // (2 * clips)
    return starts + pre.stride * i


def _bilinear_axis(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weight along one axis, as PyTorch's bilinear (align_corners=False)."""
    scale = np.float32(in_size / out_size)
    src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    src = np.maximum(src, np.float32(0))
    i0 = np.minimum(src.astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    return i0, i1, (src - i0).astype(np.float32)


def resized_size(height: int, width: int, short: int) -> tuple[int, int]:
    """Output (height, width) with the short side `short` (torchvision's rounding: truncate)."""
    if height <= width:
        return short, int(short * width / height)
    return int(short * height / width), short


def resize_region(frames: np.ndarray, size: tuple[int, int], rows: tuple[int, int],
                  cols: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of uint8 frames [T, H, W, C] to `size`, computing only output `rows` x `cols`.

    Values are those of resizing the float frames (x / 255) whole and slicing; only the source rows
    and columns the region needs are gathered, so a crop costs what the crop is worth.
    """
    _, h, w, _ = frames.shape
    y0, y1, wy = (a[rows[0]:rows[1]] for a in _bilinear_axis(h, size[0]))
    x0, x1, wx = (a[cols[0]:cols[1]] for a in _bilinear_axis(w, size[1]))
    scale = np.float32(255)
    top, bottom = frames[:, y0].astype(np.float32) / scale, frames[:, y1].astype(np.float32) / scale
    wy = wy[None, :, None, None]
    x = top * (1 - wy) + bottom * wy
    wx = wx[None, None, :, None]
    return x[:, :, x0] * (1 - wx) + x[:, :, x1] * wx


def crop_offsets(height: int, width: int, crop: int, crops: int) -> list[tuple[int, int]]:
    """(top, left) of each crop: the centre, or left/centre/right along the long side."""
    if crops not in (1, 3):
        raise ValueError(f"crops must be 1 or 3, got {crops}")
    top, left = int(round((height - crop) / 2.0)), int(round((width - crop) / 2.0))
    if crops == 1:
        return [(top, left)]
    if width >= height:
        return [(top, 0), (top, left), (top, width - crop)]
    return [(0, left), (top, left), (height - crop, left)]


def _fail(path: str | os.PathLike, problem: str) -> VideoError:
    return VideoError(f"{path}: {problem}")


def _decode(path: str | os.PathLike, wanted: Callable[[int], np.ndarray | None]
            ) -> tuple[int, dict[int, np.ndarray]]:
    """Decode the whole first video stream; keep RGB copies of the frames `wanted(hint)` names.

    Returns the number of decodable frames and the kept frames. `wanted` gets the container's frame
    count (a hint, 0 when unknown) and returns indices, or None to keep nothing. Fewer frames than
    the container lists means the file was cut short: refused, rather than sampled from a stump.
    """
    try:
        with av.open(os.fspath(path)) as container:
            if not container.streams.video:
                raise _fail(path, "has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            keep = wanted(stream.frames or 0)
            keep = set() if keep is None else set(int(i) for i in keep.ravel())
            frames, n = {}, 0
            for frame in container.decode(stream):
                if n in keep:
                    frames[n] = frame.to_ndarray(format="rgb24")
                n += 1
            if n < (stream.frames or 0):
                raise _fail(path, f"truncated: the container lists {stream.frames} frames, "
                                  f"only {n} decode")
            return n, frames
    except av.FFmpegError as e:
        raise _fail(path, f"cannot decode (truncated, corrupt or not a video): {e.strerror or e}") from None
    except OSError as e:
        raise _fail(path, f"cannot read: {e.strerror or e}") from None
    except ValueError as e:  # PyAV: a pixel format or stream it cannot turn into RGB arrays
        raise _fail(path, f"cannot convert its frames to RGB: {e}") from None


def read_frames(path: str | os.PathLike, pre: Preprocess, clips: int = 1) -> np.ndarray:
    """The sampled RGB uint8 frames [clips, num_frames, H, W, 3] of `path`.

    One decoding pass when the container's frame count is right (the usual case); a second pass
    when the decoder disagrees with it, so the indices always come from the frames actually decoded.
    """
    p = Path(path)
    if not p.exists():
        raise _fail(path, "no such file")
    if not p.is_file():
        raise _fail(path, "not a regular file")
    if p.stat().st_size == 0:
        raise _fail(path, "empty file")

    def indices(n: int) -> np.ndarray:
        try:
            return sample_indices(n, pre, clips)
        except ValueError as e:
            raise _fail(path, f"too short: {e}") from None

    from_hint: dict[str, np.ndarray] = {}

    def guess(hint: int) -> np.ndarray | None:
        if hint < needed_frames(pre):
            return None
        from_hint["idx"] = indices(hint)
        return from_hint["idx"]

    n, frames = _decode(path, guess)
    idx = indices(n)
    if "idx" not in from_hint or not np.array_equal(from_hint["idx"], idx):
        n2, frames = _decode(path, lambda hint: idx)
        if n2 != n:
            raise _fail(path, f"decodes to {n} frames, then to {n2}: corrupt")
    shapes = {frames[i].shape for i in frames}
    if len(shapes) != 1:
        raise _fail(path, f"frame size changes within the video ({sorted(shapes)})")
    return np.stack([np.stack([frames[int(i)] for i in clip]) for clip in idx])


def preprocess_clip(frames: np.ndarray, pre: Preprocess, crops: int = 1) -> np.ndarray:
    """RGB uint8 frames [T, H, W, 3] -> float32 views [crops, *per-clip input shape]."""
    _, h, w, _ = frames.shape
    size = resized_size(h, w, pre.resize)
    boxes = crop_offsets(*size, pre.crop, crops)
    top, left = min(t for t, _ in boxes), min(c for _, c in boxes)
    x = resize_region(frames, size, (top, max(t for t, _ in boxes) + pre.crop),
                      (left, max(c for _, c in boxes) + pre.crop))
    mean = np.asarray(pre.mean, np.float32)
    std = np.asarray(pre.std, np.float32)
    order = (3, 0, 1, 2) if pre.layout == "NCTHW" else (0, 3, 1, 2)
    views = [((x[:, t - top:t - top + pre.crop, c - left:c - left + pre.crop] - mean) / std).transpose(order)
             for t, c in boxes]
    return np.ascontiguousarray(np.stack(views), dtype=np.float32)


def load_views(path: str | os.PathLike, preprocess: Preprocess, clips: int = 1, crops: int = 1) -> np.ndarray:
    """Decode, sample and preprocess `path` into float32 [clips * crops, *per-clip input shape]."""
    if crops not in (1, 3):
        raise ValueError(f"crops must be 1 or 3, got {crops}")
    frames = read_frames(path, preprocess, clips)
    return np.concatenate([preprocess_clip(clip, preprocess, crops) for clip in frames])
