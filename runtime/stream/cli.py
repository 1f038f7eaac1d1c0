"""`catsplit-run BUNDLE --stream SOURCE ...`: the options and the loop behind them.

The `run` command (runtime/cli.py) takes these options with `@stream_options` and hands over to
`run_streams` when a source is given. Output: one JSON document per line on stdout (runner.py lists
them); errors: one `catsplit: error:` line on stderr. Exit status 0 when the sources end or on
SIGINT/SIGTERM (the windows already cut are classified and printed first), 2 when a source cannot
be opened at the start (after --retries) or the bundle is bad. SIGHUP reloads the bundle's head.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any, Callable

import click

STREAM_HELP = "Live video (docs/streaming.md)"


def stream_options(fn: Callable) -> Callable:
    """The --stream options of `catsplit-run` (applied bottom-up, listed top-down in --help)."""
    options = [
        click.option("--stream", "streams", multiple=True, metavar="[NAME=]SOURCE",
                     help=f"{STREAM_HELP}: classify SOURCE continuously instead of VIDEO files: rtsp://, udp://, "
                          "tcp:// (MPEG-TS), - (stdin), /dev/videoN, or a file. Repeat for several streams; "
                          "they share one backbone."),
        click.option("--streams", "streams_file", type=click.Path(dir_okay=False, path_type=str),
                     help="A JSON list of sources (strings or {id, url, listen, realtime, options}); YAML when "
                          "PyYAML is installed."),
        click.option("--window", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Window length in seconds of stream time [default: from bundle.json's sampling at "
                          "the stream's frame rate: 2 x num_frames frames for uniform sampling, the sampled "
                          "span for stride sampling]."),
        click.option("--stride", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Seconds between window starts [default: half a window]."),
        click.option("--realtime", is_flag=True, help="Play file sources at their own frame rate (as a camera "
                                                      "would); without it files are read as fast as they decode."),
        click.option("--listen", is_flag=True, help="rtsp:// and tcp:// sources wait for the sender to connect."),
        click.option("--smooth", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Also report the moving average of the last N windows' probabilities."),
        click.option("--events", is_flag=True, help="Report label changes of the (smoothed) top-1 label."),
        click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
                     help="--events: the probability a label needs to become active."),
        click.option("--min-duration", type=click.FloatRange(min=0), default=1.0, show_default=True,
                     help="--events: seconds of stream time a change must hold before it is reported."),
        click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True,
                     help="Open attempts after the first one fails, with exponential backoff; a source "
                          "still closed then is an error (exit 2). A stream lost later is reopened for as "
                          "long as the command runs."),
        click.option("--backoff", type=click.FloatRange(min=0), default=0.5, show_default=True,
                     help="Seconds before the first retry; doubled each attempt, at most 30."),
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
                     help="Seconds to open a source (or wait for it to connect) and to wait for data."),
        click.option("--max-pending", type=click.IntRange(min=1), default=2, show_default=True,
                     help="Windows per live stream waiting for the backbone; older ones are dropped and "
                          "counted."),
        click.option("--poll", type=click.FloatRange(min=0), default=1.0, show_default=True,
                     help="Seconds between looks at BUNDLE for a newly deployed head (0: only on SIGHUP)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def run_streams(bundle: str, runtime: Any, streams: tuple[str, ...], streams_file: str | None, top_k: int,
                batch_size: int, window: float | None, stride: float | None, realtime: bool, listen: bool,
                smooth: int, events: bool, threshold: float, min_duration: float, retries: int, backoff: float,
                timeout: float, max_pending: int, poll: float) -> int:
    """Run the streams until they end or a signal stops them; print one JSON line per document."""
    from catsplit.runtime.stream import EventRule, Retry, StreamOptions, StreamRunner
    from catsplit.runtime.stream.sources import load_sources, parse_source

    sources = [parse_source(s, i, listen, realtime) for i, s in enumerate(streams)]
    if streams_file:
        sources += load_sources(streams_file, listen, realtime, first_index=len(sources))
    options = StreamOptions(window=window, stride=stride, top_k=top_k, smooth=smooth,
                            events=EventRule(threshold, min_duration) if events else None,
                            max_pending=max_pending, batch_size=batch_size,
                            retry=Retry(retries, backoff, 30.0, timeout), watch=bundle, poll=poll)
    runner = StreamRunner(runtime, sources, options)
    previous = {sig: signal.signal(sig, lambda *_: runner.stop()) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, lambda *_: runner.watcher and runner.watcher.trigger())
    try:
        for doc in runner:
            click.echo(json.dumps(doc))
    except BrokenPipeError:  # the reader of our output went away (`| head`): stop quietly
        runner.stop()
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
