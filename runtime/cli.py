"""Command line: the umbrella `catsplit` group and `catsplit-run`.

The umbrella loads every subcommand lazily by dotted path, so `catsplit run` on an edge device never
imports the compiler (torch, onnx, tokenizers); a subcommand whose package is not installed says so
in one line instead of failing with a traceback. Every error is one line on stderr,
`catsplit: error: <file>: <problem>`; exit status 1 when some videos failed, 2 for a bad bundle or
bad usage.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import os
import sys
from typing import Any, Callable, Sequence

import click

from catsplit.runtime.errors import CatsplitError, first_line, printable
from catsplit.runtime.stream.cli import run_streams, stream_options

# name -> (module, attribute, extra that installs it)
SUBCOMMANDS = {
    "import": ("catsplit.models.cli", "import_cmd", "compiler"),
    "export": ("catsplit.models.cli", "export_cmd", "compiler"),
    "quantize": ("catsplit.models.cli", "quantize_cmd", "compiler"),
    "compile": ("catsplit.compiler.cli", "compile_cmd", "compiler"),
    "edits": ("catsplit.compiler.cli", "edits", "compiler"),
    "eval": ("catsplit.compiler.cli", "eval_cmd", "compiler"),
    "features": ("catsplit.compiler.cli", "features_cmd", "compiler"),
    "groups": ("catsplit.compiler.cli", "groups", "compiler"),
    "text-encoder": ("catsplit.compiler.cli", "text_encoder", "compiler"),
    "run": ("catsplit.runtime.cli", "run", "runtime"),
    "deploy": ("catsplit.runtime.stream.deploy", "deploy_cmd", "runtime"),
    "send": ("catsplit.runtime.stream.send", "send_cmd", "runtime"),
    "ray": ("catsplit.scale.cli", "ray", "scale"),
    "triton": ("catsplit.scale.cli", "triton", "scale"),
}
# The packages that make an extra present; a subcommand's module may import them only when it runs.
EXTRA_MARKERS = {"compiler": ("onnx", "torch"), "runtime": (), "scale": ("ray", "tritonclient")}
EXIT_VIDEO, EXIT_USAGE = 1, 2


def error_line(message: str) -> None:
    """The one error line: `catsplit: error: <message>`, unsafe characters escaped (runtime/errors.py),
    so a name holding a newline or a terminal escape can neither forge a second line nor rewrite one."""
    click.echo(f"catsplit: error: {printable(message)}", err=True)


def describe(e: CatsplitError, command: click.Command | None = None) -> str:
    """A library error as a command reports it: each parameter it names (`force`) becomes the flag that
    sets it (--force), so library text never has to know the command line."""
    text = str(e)
    for param in command.params if command is not None else ():
        if param.name in e.params and isinstance(param, click.Option):
            text = text.replace(f"`{param.name}`", max(param.opts, key=len))
    return text


def one_line_errors(fn: Callable) -> Callable:
    """Decorate a command callback so that no user ever sees a traceback.

    A `CatsplitError` already names the file and the problem and becomes that one line; anything else
    becomes `<first argument>: unexpected <type>: <first line>` (CATSPLIT_DEBUG=1 re-raises it). Either
    way the exit status is 2. click's own exceptions pass through to `OneLineErrors`.
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except CatsplitError as e:
            ctx = click.get_current_context(silent=True)
            error_line(describe(e, ctx.command if ctx else None))
        except Exception as e:
            if os.environ.get("CATSPLIT_DEBUG"):
                raise
            error_line(f"{_subject(kwargs)}unexpected {type(e).__name__}: {first_line(e)}")
        sys.exit(EXIT_USAGE)
    return wrapper


def _subject(kwargs: dict) -> str:
    """`<input>: ` for an unexpected error: the command's first argument, which names its input."""
    ctx = click.get_current_context(silent=True)
    first = next((p.name for p in ctx.command.params if isinstance(p, click.Argument)), None) if ctx else None
    value = kwargs.get(first) if first else None
    return f"{value}: " if isinstance(value, str) else ""


class OneLineErrors:
    """Mixin for click commands: usage errors become one `catsplit: error:` line, no usage dump."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any) -> Any:
        extra["standalone_mode"] = False
        try:
            rv = super().main(args, prog_name, **extra)  # type: ignore[misc]
        except click.ClickException as e:
            error_line(e.format_message())
            sys.exit(e.exit_code)
        except click.Abort:
            error_line("aborted")
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


class OneLineCommand(OneLineErrors, click.Command):
    pass


class LazyGroup(OneLineErrors, click.Group):
    """A click group whose subcommands are imported only when named."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        module, attr, extra = SUBCOMMANDS[name]
        try:
            for marker in EXTRA_MARKERS[extra]:
                if importlib.util.find_spec(marker) is None:
                    raise ImportError(f"No module named {marker!r}")
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            return _not_installed(name, extra, e)


def _not_installed(name: str, extra: str, why: Exception) -> click.Command:
    message = f"subcommand {name} is not installed (needs catsplit[{extra}]: {why})"

    def fail() -> None:
        error_line(message)
        sys.exit(EXIT_USAGE)

    return click.Command(name, callback=fail, help=message, short_help=f"(not installed: catsplit[{extra}])",
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="catsplit")
def catsplit() -> None:
    """catsplit: split coarse labels of a deployed ONNX video classifier, and run it.

    `catsplit run` classifies videos with a bundle; the other subcommands (import, export, compile,
    ...) make and edit bundles and need the workstation install, catsplit[compiler].
    """


def _parse_views(value: str) -> tuple[int, int]:
    try:
        clips, crops = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not CLIPSxCROPS, e.g. 1x1 or 2x3", param_hint="--views") from None
    if clips < 1 or crops not in (1, 3):
        raise click.BadParameter(f"{value!r}: clips must be >= 1 and crops 1 or 3", param_hint="--views")
    return clips, crops


def _print_table(pred: Any) -> None:
    times = ", ".join(f"{stage} {ms:.1f} ms" for stage, ms in pred.timings_ms.items())
    click.echo(f"{printable(pred.video)}  [{pred.provider}; {times}]")  # a file name cannot forge a line
    width = max(len(label) for label, _ in pred.top_k)
    for rank, (label, prob) in enumerate(pred.top_k, 1):
        click.echo(f"  {rank:>2}  {printable(label):<{width}}  {prob:.4f}")


@click.command("run", cls=OneLineCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("bundle", type=click.Path(path_type=str))
@click.argument("videos", nargs=-1, type=click.Path(path_type=str))
@click.option("--provider", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Execution provider: auto = CUDA when it starts here, else CPU. The one that ran is reported.")
@click.option("--top-k", type=click.IntRange(min=1), default=5, show_default=True, help="Labels per video (or window).")
@click.option("--views", default="1x1", show_default=True, metavar="CLIPSxCROPS",
              help="Temporal clips x spatial crops (1 or 3) per video; probabilities are averaged over views.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="onnxruntime intra-op threads (default: onnxruntime's choice).")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
              help="Views per backbone run; views of several videos share a batch.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per video per line on stdout.")
@click.option("--triton", metavar="URL", help="Decode and preprocess here, classify on the Triton server at URL "
              "(host:port, a repository from `catsplit triton export`); only BUNDLE's bundle.json is read, "
              "--provider, --threads and --batch-size do not apply. Needs catsplit[triton-client].")
@stream_options
def run(bundle: str, videos: tuple[str, ...], provider: str, top_k: int, views: str, threads: int | None,
        batch_size: int, as_json: bool, triton: str | None, streams: tuple[str, ...], streams_file: str | None,
        **stream: Any) -> int:
    """Classify VIDEO files with the bundle at BUNDLE, or live streams (--stream).

    A video that cannot be used (missing, empty, truncated, not a video, too short) gets one error
    line on stderr, the others are still classified, and the exit status is 1. A bad bundle stops
    everything with exit status 2. With --stream, one JSON line per window and per event
    (docs/streaming.md); BUNDLE is watched and a newly deployed head is swapped in while it runs.
    """
    from catsplit.runtime.session import Runtime

    live = bool(streams or streams_file)
    if live == bool(videos):
        raise click.UsageError("give VIDEO files or --stream/--streams sources (not both)")
    if live and triton:
        raise click.UsageError("--triton classifies VIDEO files; it does not take --stream sources")
    clips_crops = _parse_views(views)
    try:
        if triton:
            from catsplit.scale.triton_client import iter_predictions

            predictions = iter_predictions(bundle, videos, triton, top_k, clips_crops)
        else:
            runtime = Runtime(bundle, provider=provider, threads=threads, views=clips_crops, batch_size=batch_size)
            if live:
                return run_streams(bundle, runtime, streams, streams_file, top_k, batch_size, **stream)
            predictions = runtime.iter_classify(videos, top_k)
        failed = 0
        show_bar = len(videos) >= 20 and sys.stderr.isatty()
        with click.progressbar(length=len(videos), file=sys.stderr, label="classifying",
                               hidden=not show_bar) as bar:
            for pred in predictions:
                bar.update(1)
                if pred.error is not None:
                    failed += 1
                    error_line(pred.error)
                elif as_json:
                    click.echo(json.dumps(pred.to_json()))
                else:
                    _print_table(pred)
    except CatsplitError as e:
        error_line(str(e))
        return EXIT_USAGE
    except Exception as e:  # no tracebacks for users; CATSPLIT_DEBUG=1 shows them
        if os.environ.get("CATSPLIT_DEBUG"):
            raise
        error_line(f"{bundle}: unexpected {type(e).__name__}: {first_line(e)}")
        return EXIT_USAGE
    return EXIT_VIDEO if failed else 0
