"""`catsplit send FILE... --to URL`: play H.264 video files as a live stream (a stand-in camera).

The packets are sent as they are (remuxed, not re-encoded: no CPU spent on encoding, and the
receiver decodes exactly the frames a decoder of the files would), at the files' own frame rate
unless `--fast`, one file after another, `--loop` times, with timestamps that run on across files.
Outputs: `udp://` and `tcp://` (MPEG-TS), `rtsp://` (pushes to a receiver in listen mode, e.g.
`catsplit-run --listen`), `-` (MPEG-TS on stdout), or any path FFmpeg can write.
Files joined in one stream must share their codec parameters (size, profile, SPS/PPS).
"""
from __future__ import annotations

import itertools
import os
import threading
import time
from fractions import Fraction
from typing import Sequence

import av
import click

from catsplit.runtime.cli import one_line_errors
from catsplit.runtime.errors import CatsplitError


class SendError(CatsplitError):
    """A file or destination that cannot be streamed; one line naming it."""


def _output(url: str, fmt: str | None, listen: bool) -> tuple[str, str | None, dict[str, str]]:
    if url == "-":
        return "pipe:1", fmt or "mpegts", {}
    if url.startswith("udp://"):
        return url if "pkt_size" in url else f"{url}{'&' if '?' in url else '?'}pkt_size=1316", fmt or "mpegts", {}
    if url.startswith("tcp://"):
        return url, fmt or "mpegts", {"listen": "1"} if listen else {}
    if url.startswith("rtsp://"):
        return url, fmt or "rtsp", {"rtsp_transport": "tcp"}
    return url, fmt, {}


def _params(path: str) -> tuple:
    try:
        with av.open(path) as c:
            if not c.streams.video:
                raise SendError(f"{path}: has no video stream")
            cc = c.streams.video[0].codec_context
            return cc.name, cc.width, cc.height, cc.format.name if cc.format else None, bytes(cc.extradata or b"")
    except av.FFmpegError as e:
        raise SendError(f"{path}: cannot read: {e.strerror or e}") from None


def send(files: Sequence[str | os.PathLike], url: str, fmt: str | None = None, realtime: bool = True,
         loop: int = 1, listen: bool = False, stop: threading.Event | None = None) -> int:
    """Send `files` (`loop` times; 0 = until `stop` is set) to `url`; returns the packets sent."""
    files = [os.fspath(f) for f in files]
    if not files:
        raise SendError("no files to send")
    params = [_params(f) for f in files]
    for f, p in zip(files, params):
        if p != params[0]:
            raise SendError(f"{f}: codec parameters differ from {files[0]}'s; they cannot share one stream")
    target, fmt, options = _output(url, fmt, listen)
    stop = stop or threading.Event()
    sent, offset, t0 = 0, Fraction(0), time.monotonic()
    try:
        out = av.open(target, "w", format=fmt, options=options)
    except (av.FFmpegError, OSError) as e:
        raise SendError(f"{url}: cannot open for writing: {getattr(e, 'strerror', None) or e}") from None
    with out:
        ostream = None
        for _ in (itertools.count() if loop == 0 else range(loop)):
            for path in files:
                with av.open(path) as inp:
                    s = inp.streams.video[0]
                    ostream = ostream or out.add_stream_from_template(s)
                    tb, shift, end = s.time_base, None, offset
                    for packet in inp.demux(s):
                        if stop.is_set():
                            break
                        if packet.dts is None:  # the demuxer's final flush packet
                            continue
                        shift = shift if shift is not None else round(offset / tb) - (packet.dts or 0)
                        packet.pts, packet.dts = packet.pts + shift, packet.dts + shift
                        due = t0 + float(packet.dts * tb)
                        if realtime and due > time.monotonic() and stop.wait(due - time.monotonic()):
                            break
                        end = max(end, (packet.pts + (packet.duration or 0)) * tb)
                        packet.stream = ostream
                        try:
                            out.mux(packet)
                        except (av.FFmpegError, OSError) as e:
                            raise SendError(f"{url}: sending failed: {getattr(e, 'strerror', None) or e}") from None
                        sent += 1
                    offset = end
                if stop.is_set():
                    return sent
    return sent


@click.command("send", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.option("--to", "url", required=True, help="udp://HOST:PORT, tcp://HOST:PORT, rtsp://HOST:PORT/PATH, "
                                                  "- (stdout) or a file.")
@click.option("--format", "fmt", default=None, help="Container format [default: mpegts; rtsp for rtsp://].")
@click.option("--fast", is_flag=True, help="Send as fast as possible instead of at the files' frame rate.")
@click.option("--loop", type=click.IntRange(min=0), default=1, show_default=True,
              help="Times to send the files; 0 = until interrupted.")
@click.option("--listen", is_flag=True, help="tcp://: wait for the receiver to connect.")
@one_line_errors
def send_cmd(files: tuple[str, ...], url: str, fmt: str | None, fast: bool, loop: int, listen: bool) -> None:
    """Play H.264 FILES as a live stream to --to (remuxed, not re-encoded), for testing a receiver.

    Example: catsplit send models/bundles/samples/*/val_000.mp4 --to udp://127.0.0.1:5000 --loop 0
    """
    try:
        send(files, url, fmt, realtime=not fast, loop=loop, listen=listen)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    send_cmd()
