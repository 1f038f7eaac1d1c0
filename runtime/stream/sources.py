"""What a stream reads from, and how PyAV opens it.

A source is a URL or path as FFmpeg understands it, with a name for the output:

- `rtsp://host:port/path`: pull from a camera (RTP over TCP); with `listen`, wait for a camera that
  pushes (FFmpeg's `rtsp_flags=listen`).
- `udp://host:port`, `tcp://host:port`: MPEG-TS; `tcp` connects to a sender, or with `listen` waits
  for one to connect.
- `-`: MPEG-TS (or any container FFmpeg can probe) on standard input.
- `/dev/videoN`: a V4L2 camera (where the FFmpeg build has the v4l2 device).
- a file: played at its own frame rate with `realtime`, else as fast as it decodes (and then nothing
  is dropped: the reader waits for the backbone).

Sources are named `NAME=URL` on the command line, or listed in a JSON file (YAML too when PyYAML is
installed): `[{"id": "door", "url": "rtsp://...", "listen": false}, "udp://127.0.0.1:5000"]`; an
object may also set `realtime`, `drop` (whether stale windows are dropped) and FFmpeg `options`.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from catsplit.runtime.errors import CatsplitError

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_NETWORK = ("rtsp://", "rtsps://", "udp://", "tcp://", "rtp://", "srt://", "http://", "https://")


class SourceError(CatsplitError):
    """A source that cannot be used; the message is one line naming it."""


@dataclass(frozen=True)
class Source:
    id: str
    url: str
    listen: bool = False       # wait for the sender to connect (rtsp, tcp)
    realtime: bool = False     # files: play at the file's own frame rate
    options: dict[str, str] = field(default_factory=dict)  # extra FFmpeg options
    drop: bool | None = None   # drop stale windows; None: live sources do, files and pipes wait

    @property
    def kind(self) -> str:
        if self.url == "-":
            return "pipe"
        if self.url.startswith("/dev/video"):
            return "v4l2"
        if self.url.startswith(_NETWORK):
            return self.url.split("://", 1)[0]
        return "file"

    @property
    def drops(self) -> bool:
        """Whether stale windows are dropped (a live source is never waited for) or the reader waits."""
        if self.drop is not None:
            return self.drop
        return self.kind not in ("file", "pipe") or self.realtime

    @property
    def reopens(self) -> bool:
        """Whether the end of its data means 'reconnect' (a network source) rather than 'done'."""
        return self.kind not in ("file", "pipe")


def parse_source(text: str, index: int, listen: bool = False, realtime: bool = False) -> Source:
    """`NAME=URL` or `URL` (named `s<index>`)."""
    name, sep, rest = text.partition("=")
    if sep and _NAME.match(name) and rest:
        return Source(name, rest, listen=listen, realtime=realtime)
    return Source(f"s{index}", text, listen=listen, realtime=realtime)


def load_sources(path: str | os.PathLike, listen: bool = False, realtime: bool = False,
                 first_index: int = 0) -> list[Source]:
    """A JSON (or, with PyYAML installed, YAML) list of sources: URL strings or objects."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise SourceError(f"{p}: cannot read: {e.strerror or e}") from None
    doc = _parse_list(p, text)
    if not isinstance(doc, list) or not doc:
        raise SourceError(f"{p}: must be a non-empty list of sources")
    out = []
    for i, item in enumerate(doc, first_index):
        if isinstance(item, str):
            out.append(parse_source(item, i, listen, realtime))
        elif isinstance(item, dict) and isinstance(item.get("url"), str):
            unknown = set(item) - {"id", "url", "listen", "realtime", "options", "drop"}
            if unknown:
                raise SourceError(f"{p}: source {i}: unknown keys {sorted(unknown)}")
            out.append(Source(str(item.get("id", f"s{i}")), item["url"], bool(item.get("listen", listen)),
                              bool(item.get("realtime", realtime)),
                              {str(k): str(v) for k, v in (item.get("options") or {}).items()},
                              None if item.get("drop") is None else bool(item["drop"])))
        else:
            raise SourceError(f"{p}: source {i} must be a URL string or an object with a 'url'")
    return out


def _parse_list(p: Path, text: str) -> Any:
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # optional: the runtime itself depends on no YAML package
        except ImportError:
            raise SourceError(f"{p}: YAML needs PyYAML, which is not installed; use a JSON list") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise SourceError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SourceError(f"{p}: not valid JSON ({e})") from None


def check_unique(sources: list[Source]) -> None:
    seen: set[str] = set()
    for s in sources:
        if s.id in seen:
            raise SourceError(f"{s.url}: stream id {s.id!r} is used twice")
        seen.add(s.id)


def open_container(source: Source, timeout: float) -> av.container.InputContainer:
    """Open `source` with PyAV; `timeout` bounds the open (and the wait for a listening connect)
    and every later read of anything but a file, so a dead camera is noticed instead of blocking for
    ever. (PyAV checks the timeout in a callback that takes the GIL: files, which cannot hang, skip it.)"""
    url, fmt, options = source.url, None, {}
    kind = source.kind
    if kind in ("rtsp", "rtsps"):
        options["rtsp_transport"] = "tcp"  # RTP over the RTSP connection: no lost UDP datagrams
        if source.listen:
            options.update(rtsp_flags="listen", listen_timeout=str(max(1, round(timeout))))
    elif kind == "tcp" and source.listen:
        options.update(listen="1", listen_timeout=str(int(timeout * 1000)))  # milliseconds here
    elif kind == "udp":
        options.update(overrun_nonfatal="1", fifo_size="1000000")
    elif kind == "pipe":
        url = "pipe:0"
    elif kind == "v4l2":
        if "v4l2" not in av.formats_available:
            raise SourceError(f"{url}: this FFmpeg has no v4l2 input device; see docs/streaming.md")
        fmt = "v4l2"
    elif kind == "file" and not Path(url).is_file():
        raise SourceError(f"{url}: no such file")
    options.update(source.options)
    try:
        container = av.open(url, format=fmt, options=options, timeout=None if kind == "file" else (timeout, timeout))
    except ValueError as e:  # PyAV: an option or format it cannot use
        raise SourceError(f"{url}: {e}") from None
    if not container.streams.video:
        container.close()
        raise SourceError(f"{source.url}: has no video stream")
    return container
