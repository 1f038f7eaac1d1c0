"""The benchmark's camera: the shipped sample clips, one after another, as a 25 fps 320x240 H.264 file.

The 26 shipped world clips (16 frames of 56 x 56 each, models/bundles/samples) are scaled to 320 x 240
(bilinear, swscale) and encoded as one camera would send them: H.264 yuv420p, x264 `zerolatency`
(no B-frames), a keyframe every 2 s. All 26: 416 frames, 16.64 s at 25 fps.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "models" / "bundles" / "samples"
FPS, WIDTH, HEIGHT = 25, 320, 240


def camera_file(out: Path, clips: int = 26) -> Path:
    """Write (once) and return the benchmark stream file of the first `clips` sample clips."""
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.mp4")
    with av.open(str(tmp), "w") as dst:
        s = dst.add_stream("libx264", rate=FPS, options={"crf": "23", "preset": "veryfast", "tune": "zerolatency",
                                                         "g": str(2 * FPS), "threads": "1"})
        s.width, s.height, s.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        k = 0
        for clip in sorted(SAMPLES.glob("*/val_000.mp4"))[:clips]:
            with av.open(str(clip)) as src:
                for frame in src.decode(video=0):
                    big = frame.reformat(width=WIDTH, height=HEIGHT, format="yuv420p", interpolation="BILINEAR")
                    big.pts, big.time_base = k, Fraction(1, FPS)
                    dst.mux(s.encode(big))
                    k += 1
        dst.mux(s.encode(None))
    tmp.replace(out)
    return out
