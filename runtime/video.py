"""A video file -> the backbone's input views, exactly as the bundle's `Preprocess` says.

The pipeline, per view (the array `load_views` returns is the reference others compare against):

1. Decode every frame with PyAV (presentation order) and count the decodable ones, `n`. The
   container's frame count is only a hint: the indices are always computed from `n`. Frames larger
   than `MAX_PIXELS` (35.65 MP: the largest frame H.264 and H.265 allow at their top level, 6.2 (ITU-T
   H.264 Table A-1, MaxFS 139 264 macroblocks; H.265 Table A.8, MaxLumaPs 35 651 584), e.g. 8192 x
   4352) or with a side over `MAX_SIDE` are refused before decoding, as is a frame that turns out
   larger than its header said. Frames over `EXACT_PIXELS` decode on slice threads only, because
   each frame thread holds its own full-size frames.
2. Pick frame indices (`sample_indices`, integer arithmetic, so exact and deterministic):
   - "uniform": `num_frames` equal segments of the `n` frames; clip `c` of `clips` takes the frame at
     fraction `(c + 0.5) / clips` of each segment, i.e. `floor(n * (i + (c + 0.5) / clips) / T)`. With
     one clip that is each segment's centre frame (the TSN test protocol). Needs `n >= num_frames`.
   - "stride": `num_frames` frames `stride` apart, a span of `(num_frames - 1) * stride + 1` frames;
     clip `c` starts at `floor((n - span) * (c + 0.5) / clips)` (clip starts evenly spaced, one clip is
     centred). Needs `n >= span`.
3. Convert each picked frame to RGB with `frame.to_ndarray(format="rgb24")` (FFmpeg's swscale, so
   grayscale, any YUV layout and odd sizes all end up as H x W x 3 uint8), then to float32 / 255.
   Frames of more than `EXACT_PIXELS` (8.85 MP, DCI 4K 4096 x 2160) are instead scaled by swscale
   itself, in the same conversion, straight to the size step 4 gives them, with area averaging
   (`frame.reformat(width, height, "rgb24", interpolation=AREA)`): a full-size RGB copy of an 8K
   frame never exists, and step 4 then leaves the frame as it is. Such frames therefore differ from
   the torch reference below (area averaging, not bilinear sampling of the full frame); up to DCI 4K
   the numbers are the reference's.
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

Memory: `load_views` runs steps 3-5 on each sampled frame as it is decoded and keeps only the float
region its crops need, so a clip costs the decoder's own frames plus one RGB frame (measured peaks in
benchmarks/results/decode_memory.md: a 10-frame 8K clip 2.6 GB before, 0.46 GB after).

A video that cannot be used (missing, a symlink loop, not a regular file, empty, corrupt, too short,
too large, out of memory) raises `VideoError`, one line naming the file and the actual problem.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import av
import numpy as np

from catsplit.runtime.bundle import Preprocess
from catsplit.runtime.errors import CatsplitError
from catsplit.runtime.paths import PathProblem, os_problem, regular_file

MAX_PIXELS = 139_264 * 256  # H.264 / H.265 level 6.2's largest frame (see the module docstring)
MAX_SIDE = 16_888  # H.265's widest frame at that level: sqrt(8 * MaxLumaPs)
# Up to DCI 4K frames are resized exactly as the torch reference does and decode on frame threads;
# larger ones are shrunk in the decoder and decode on slice threads (each frame thread holds its own frames).
EXACT_PIXELS = 4096 * 2160
# From Full HD up, a decoder holds tens of MB of frames: enough that a failed allocation is a likely cause.
HD_PIXELS = 1920 * 1080


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


@dataclass(frozen=True)
class _Geometry:
    """Steps 4 and 5 for one frame size: the resized size, the crops, and the region they span."""

    size: tuple[int, int]
    boxes: list[tuple[int, int]]
    rows: tuple[int, int]
    cols: tuple[int, int]

    @classmethod
    def of(cls, height: int, width: int, pre: Preprocess, crops: int) -> "_Geometry":
        size = resized_size(height, width, pre.resize)
        boxes = crop_offsets(*size, pre.crop, crops)
        tops, lefts = [t for t, _ in boxes], [c for _, c in boxes]
        return cls(size, boxes, (min(tops), max(tops) + pre.crop), (min(lefts), max(lefts) + pre.crop))

    def region(self, frames: np.ndarray) -> np.ndarray:
        """uint8 frames [T, H, W, 3] -> the float32 region [T, rows, cols, 3] the crops need."""
        return resize_region(frames, self.size, self.rows, self.cols)

    def views(self, region: np.ndarray, pre: Preprocess) -> np.ndarray:
        """The region [T, rows, cols, 3] -> normalised float32 views [crops, *per-clip input shape]."""
        mean = np.asarray(pre.mean, np.float32)
        std = np.asarray(pre.std, np.float32)
        order = (3, 0, 1, 2) if pre.layout == "NCTHW" else (0, 3, 1, 2)
        top, left = self.rows[0], self.cols[0]
        views = [((region[:, t - top:t - top + pre.crop, c - left:c - left + pre.crop] - mean) / std)
                 .transpose(order) for t, c in self.boxes]
        return np.ascontiguousarray(np.stack(views), dtype=np.float32)


def _fail(path: str | os.PathLike, problem: str) -> VideoError:
    return VideoError(f"{path}: {problem}")


def _check_size(path: str | os.PathLike, width: int, height: int, what: str) -> None:
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise _fail(path, f"{what} {width}x{height} is over the largest this runtime decodes "
                          f"({MAX_PIXELS / 1e6:.1f} MP, {MAX_SIDE} pixels a side: 8K, H.264/H.265 level 6.2)")


def _rgb(frame: av.VideoFrame, resize: int) -> np.ndarray:
    """The frame as RGB uint8 [H, W, 3]; above EXACT_PIXELS already at step 4's size (module doc)."""
    if frame.width * frame.height <= EXACT_PIXELS:
        return frame.to_ndarray(format="rgb24")
    height, width = resized_size(frame.height, frame.width, resize)
    return frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()


_Convert = Callable[[av.VideoFrame], np.ndarray]


def _decode(path: str | os.PathLike, wanted: Callable[[int], np.ndarray | None], convert: _Convert,
            threads: bool = True) -> tuple[int, dict[int, np.ndarray], set[tuple[int, int]]]:
    """Decode the whole first video stream; keep `convert(frame)` of the frames `wanted(hint)` names.

    Returns the number of decodable frames, the kept frames' conversions and the kept frames' sizes.
    `wanted` gets the container's frame count (a hint, 0 when unknown) and returns indices, or None to
    keep nothing. Fewer frames than the container lists means the file was cut short: refused,
    rather than sampled from a stump. When the decoder's threads cannot start (a memory or thread
    limit: EAGAIN) the file is decoded again on one thread.
    """
    width = height = 0
    try:
        with av.open(os.fspath(path)) as container:
            if not container.streams.video:
                raise _fail(path, "has no video stream")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            _check_size(path, width, height, "frame size")
            stream.thread_type = ("NONE" if not threads else "AUTO" if width * height <= EXACT_PIXELS
                                  else "SLICE")
            keep = wanted(stream.frames or 0)
            keep = set() if keep is None else set(int(i) for i in keep.ravel())
            frames, sizes, n = {}, set(), 0
            for frame in container.decode(stream):
                _check_size(path, frame.width, frame.height, "a decoded frame of")
                if n in keep:
                    frames[n] = convert(frame)
                    sizes.add((frame.width, frame.height))
                n += 1
            if n < (stream.frames or 0):
                raise _fail(path, f"truncated: the container lists {stream.frames} frames, "
                                  f"only {n} decode")
            return n, frames, sizes
    except MemoryError:  # FFmpeg's ENOMEM (av.error.MemoryError) or numpy's, before FFmpegError
        raise _fail(path, "out of memory while decoding it") from None
    except av.error.BlockingIOError:
        if threads:
            return _decode(path, wanted, convert, threads=False)
        raise _fail(path, "cannot decode: the decoder cannot start (out of memory or threads)") from None
    except av.FFmpegError as e:
        # Under memory pressure FFmpeg's H.264 decoder reports a failed frame allocation as invalid data.
        suspects = "truncated, corrupt or not a video" + (
            f", or out of memory for its {width}x{height} frames" if width * height >= HD_PIXELS else "")
        raise _fail(path, f"cannot decode ({suspects}): {e.strerror or e}") from None
    except OSError as e:
        raise _fail(path, f"cannot read: {os_problem(e)}") from None
    except ValueError as e:  # PyAV: a pixel format or stream it cannot turn into RGB arrays
        raise _fail(path, f"cannot convert its frames to RGB: {e}") from None


def _sampled(path: str | os.PathLike, pre: Preprocess, clips: int, convert: _Convert
             ) -> tuple[np.ndarray, dict[int, np.ndarray], tuple[int, int]]:
    """Frame indices [clips, num_frames] of `path`, `convert` of each of those frames, and the frames'
    (height, width) as decoded.

    One decoding pass when the container's frame count is right (the usual case); a second pass
    when the decoder disagrees with it, so the indices always come from the frames actually decoded.
    """
    try:
        if regular_file(path).st_size == 0:
            raise _fail(path, "empty file")
    except PathProblem as e:
        raise _fail(path, str(e)) from None

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

    n, frames, sizes = _decode(path, guess, convert)
    idx = indices(n)
    if "idx" not in from_hint or not np.array_equal(from_hint["idx"], idx):
        n2, frames, sizes = _decode(path, lambda hint: idx, convert)
        if n2 != n:
            raise _fail(path, f"decodes to {n} frames, then to {n2}: corrupt")
    if len(sizes) != 1:
        raise _fail(path, "frame size changes within the video (" + ", ".join(f"{w}x{h}" for w, h in sorted(sizes)) + ")")
    (width, height), = sizes
    return idx, frames, (height, width)


def read_frames(path: str | os.PathLike, pre: Preprocess, clips: int = 1) -> np.ndarray:
    """The sampled RGB uint8 frames [clips, num_frames, H, W, 3] of `path` (over EXACT_PIXELS:
    already at step 4's size, see the module doc)."""
    idx, frames, _ = _sampled(path, pre, clips, lambda frame: _rgb(frame, pre.resize))
    return np.stack([frames[int(i)] for i in idx.ravel()]).reshape(*idx.shape, *frames[int(idx[0, 0])].shape)


def preprocess_clip(frames: np.ndarray, pre: Preprocess, crops: int = 1) -> np.ndarray:
    """RGB uint8 frames [T, H, W, 3] -> float32 views [crops, *per-clip input shape]."""
    _, h, w, _ = frames.shape
    geometry = _Geometry.of(h, w, pre, crops)
    return geometry.views(geometry.region(frames), pre)


def load_views(path: str | os.PathLike, preprocess: Preprocess, clips: int = 1, crops: int = 1) -> np.ndarray:
    """Decode, sample and preprocess `path` into float32 [clips * crops, *per-clip input shape].

    The same numbers as `preprocess_clip(read_frames(...))`, computed as each frame is decoded: only
    the float region of each sampled frame that the crops need is kept, never the whole frames.
    """
    if crops not in (1, 3):
        raise ValueError(f"crops must be 1 or 3, got {crops}")

    def region(frame: av.VideoFrame) -> np.ndarray:
        rgb = _rgb(frame, preprocess.resize)
        return _Geometry.of(*rgb.shape[:2], preprocess, crops).region(rgb[None])[0]

    try:
        idx, regions, size = _sampled(path, preprocess, clips, region)
        # A frame pre-shrunk by _rgb has step 4's size already, so its geometry is the original's.
        geometry = _Geometry.of(*size, preprocess, crops)
        return np.concatenate([geometry.views(np.stack([regions[int(i)] for i in clip]), preprocess)
                               for clip in idx])
    except MemoryError:
        raise _fail(path, "out of memory while preprocessing it") from None
