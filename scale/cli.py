"""`catsplit ray ...` and `catsplit triton ...`: thin shells over catsplit.scale's library calls.

Each engine is a command group, the verb says what it does: `catsplit ray classify` (a batch job),
`catsplit ray serve` (an HTTP service), `catsplit triton export` (a model repository; `--update`
adds an edit's head), `catsplit triton serve` (a local server for a repository). `catsplit export`
stays what it is, a PyTorch model to a bundle on the workstation. Bad input is one line on stderr and
exit status 2.
"""
from __future__ import annotations

import json
import logging
import sys
import time

import click

from catsplit.runtime.cli import _parse_views, one_line_errors

_HELP = {"help_option_names": ["-h", "--help"]}


def _views(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    return _parse_views(value)


def _inference_options(fn):
    """The options every way of running a bundle shares with catsplit-run."""
    for option in reversed([
        click.option("--top-k", type=click.IntRange(min=1), default=5, show_default=True, help="Labels per video."),
        click.option("--views", default="1x1", show_default=True, metavar="CLIPSxCROPS", callback=_views,
                     help="Temporal clips x spatial crops (1 or 3) per video, as catsplit-run."),
        click.option("--threads", type=click.IntRange(min=1), help="onnxruntime intra-op threads per Runtime "
                     "(default: onnxruntime's choice, one per core of its node)."),
        click.option("--provider", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                     help="Execution provider of each Runtime."),
    ]):
        fn = option(fn)
    return fn


def _cluster_options(fn):
    for option in reversed([
        click.option("--address", help="Join the Ray cluster at ADDRESS (host:port of its head, or auto); "
                     "default: start a local cluster for this command."),
        click.option("--num-cpus", type=click.IntRange(min=1), help="CPUs of the local cluster (default: all)."),
    ]):
        fn = option(fn)
    return fn


def _quiet_ray() -> None:
    """Ray Data's own progress bars and INFO lines off: the command shows one bar of its own."""
    import ray.data

    logging.getLogger("ray").setLevel(logging.WARNING)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False


@click.group(context_settings=_HELP)
def ray() -> None:
    """Run a bundle on Ray: a batch job over an archive of videos, or an HTTP service."""


@ray.command("classify", context_settings=_HELP)
@click.argument("bundle", type=click.Path(file_okay=False))
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Parquet file to write.")
@_cluster_options
@click.option("--actors", type=click.IntRange(min=1), default=1, show_default=True,
              help="Inference actors, one Runtime each.")
@click.option("--actor-cpus", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="CPUs of the cluster each actor reserves; decoding tasks take one CPU each.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
              help="Views per backbone run, as catsplit-run.")
@_inference_options
@click.option("--force", is_flag=True, help="Replace OUT if it is a result file of this command.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@one_line_errors
def classify_cmd(bundle: str, inputs: tuple[str, ...], out: str, address: str | None, num_cpus: int | None,
                 actors: int, actor_cpus: float, batch_size: int, top_k: int, views: tuple[int, int],
                 threads: int | None, provider: str, force: bool, as_json: bool) -> None:
    """Classify INPUTS (video files, folders of them, or URIs such as s3://bucket/clips/) with BUNDLE
    as a Ray Data job; write one parquet row per video: path, top_k, edit_id, error.

    Files are read and decoded in Ray tasks, backbone and head run in an actor pool. A video that
    cannot be used gets a row with its error; the job goes on. OUT appears only when the job is done.
    """
    from catsplit.runtime.bundle import load_bundle
    from catsplit.runtime.output import check_output
    from catsplit.scale.inputs import expand
    from catsplit.scale.ray_batch import RESULTS_KIND, JobConfig, classify
    from catsplit.scale.ray_cluster import ray_session

    check_output(out, RESULTS_KIND, force)  # before any cluster is joined or started
    loaded = load_bundle(bundle)  # a bad bundle is refused before any cluster is joined or started
    config = JobConfig(top_k=top_k, views=views, batch_size=batch_size, actors=actors, actor_cpus=actor_cpus,
                       threads=threads, provider=provider)
    found = expand(inputs)
    with ray_session(address, num_cpus), click.progressbar(length=found.count, label="classifying",
                                                           file=sys.stderr) as bar:
        _quiet_ray()
        summary = classify(loaded, found, out, config, bar.update, force=force)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"wrote {summary['out']}: {summary['videos']} videos, {summary['errors']} errors")


@ray.command("serve", context_settings=_HELP)
@click.argument("bundle", type=click.Path(file_okay=False))
@_cluster_options
@click.option("--replicas", type=click.IntRange(min=1), default=1, show_default=True, help="Serve replicas.")
@click.option("--replica-cpus", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="CPUs of the cluster each replica reserves.")
@click.option("--max-batch-size", type=click.IntRange(min=1), default=8, show_default=True,
              help="Videos per backbone batch in a replica.")
@click.option("--batch-wait-ms", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="How long a batch waits to fill.")
@_inference_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address Serve's HTTP proxy listens on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Its port.")
@click.option("--route", default="/classify", show_default=True, help="Route of the classifier.")
@one_line_errors
def serve_cmd(bundle: str, address: str | None, num_cpus: int | None, replicas: int, replica_cpus: float,
              max_batch_size: int, batch_wait_ms: float, top_k: int, views: tuple[int, int], threads: int | None,
              provider: str, host: str, port: int, route: str) -> None:
    """Serve BUNDLE over HTTP with Ray Serve: POST a video's bytes to the route (?video=NAME names it)
    and get catsplit-run's JSON for it.

    With --address the app is deployed on that cluster and keeps running after this command returns;
    running it again with an edited bundle of the same backbone and the same options swaps the head
    of every replica in place (Serve's reconfigure), without a restart. Without --address a local
    cluster serves until Ctrl-C.
    """
    from catsplit.runtime.bundle import load_bundle
    from catsplit.scale.ray_cluster import ray_session
    from catsplit.scale.ray_serve import ServeConfig, deploy

    loaded = load_bundle(bundle)  # a bad bundle is refused before any replica starts
    config = ServeConfig(replicas=replicas, replica_cpus=replica_cpus, max_batch_size=max_batch_size,
                         batch_wait_ms=batch_wait_ms, top_k=top_k, views=views, threads=threads, provider=provider)
    with ray_session(address, num_cpus):
        url = deploy(loaded, config, host=host, port=port, route=route)
        click.echo(f"serving {loaded.path} at {url}")
        if address is None:
            click.echo("Ctrl-C stops it", err=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass


@click.group(context_settings=_HELP)
def triton() -> None:
    """Run a bundle on Triton Inference Server: write a model repository, serve one locally."""


@triton.command("export", context_settings=_HELP)
@click.argument("bundle", type=click.Path(file_okay=False))
@click.option("-o", "--out", "repo", required=True, type=click.Path(file_okay=False), help="Model repository.")
@click.option("--update", is_flag=True, help="Add BUNDLE's head (an edit of the same backbone) to the existing "
              "repository OUT as the next head version; its options are kept, the backbone is untouched.")
@click.option("--backend", type=click.Choice(["onnxruntime", "python"]), default="onnxruntime", show_default=True,
              help="Triton backend of backbone and head: onnxruntime_onnx, or python (a model.py running "
              "the ONNX file with onnxruntime, for servers without the onnxruntime backend).")
@click.option("--kind", type=click.Choice(["cpu", "gpu"]), default="cpu", show_default=True,
              help="Instance group kind (KIND_CPU or KIND_GPU).")
@click.option("--instances", type=click.IntRange(min=1), default=1, show_default=True,
              help="Instances of each model per device.")
@click.option("--max-batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Views per batch (dynamic batching).")
@click.option("--max-queue-delay-us", type=click.IntRange(min=0), default=2000, show_default=True,
              help="How long the dynamic batcher waits to fill a batch.")
@click.option("--threads", type=click.IntRange(min=1), help="Backbone intra-op threads (default: the backend's).")
@click.option("--load", "load_url", metavar="URL", help="Then make the Triton server at URL (host:port, explicit "
              "model control) load video_classifier: with --update, it switches to the new head.")
@click.option("--force", is_flag=True, help="Replace OUT if it is a repository written by this command (without --update).")
@click.option("--json", "as_json", is_flag=True, help="Print the repository's manifest as JSON.")
@one_line_errors
def export_cmd(bundle: str, repo: str, update: bool, backend: str, kind: str, instances: int, max_batch_size: int,
               max_queue_delay_us: int, threads: int | None, load_url: str | None, force: bool, as_json: bool) -> None:
    """Write BUNDLE as a Triton model repository OUT: backbone, head and the ensemble video_classifier
    (VIDEO -> LOGITS, labelled). See docs/scale.md for the layout and how versions work."""
    from catsplit.scale.triton_repo import ENSEMBLE, RepoOptions, export_repository, load_on_server, update_repository

    if update:
        manifest = update_repository(bundle, repo)
    else:
        options = RepoOptions(backend=backend, kind=kind, instances=instances, max_batch_size=max_batch_size,
                              max_queue_delay_us=max_queue_delay_us, threads=threads)
        manifest = export_repository(bundle, repo, options, force=force)
    if load_url:
        load_on_server(load_url)
    latest = manifest["versions"][-1]
    if as_json:
        click.echo(json.dumps(manifest | {"path": repo}))
    else:
        loaded = f"; {load_url} loaded {ENSEMBLE}" if load_url else ""
        click.echo(f"{repo}: head version {latest['version']} serves edit {latest['edit_id']} "
                   f"({latest['num_classes']} labels){loaded}")


@triton.command("serve", context_settings=_HELP)
@click.argument("repo", type=click.Path(file_okay=False, exists=True))
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="HTTP port on 127.0.0.1.")
@click.option("--python", "python", type=click.Path(dir_okay=False),
              help="Interpreter with nvidia-pytriton, numpy<2 and onnxruntime for the python backend stub "
              "(default: $CATSPLIT_TRITON_PYTHON, else make install's .venv/triton-server).")
@one_line_errors
def serve_triton_cmd(repo: str, port: int, python: str | None) -> None:
    """Serve the model repository REPO (written with --backend python) on this machine with the
    tritonserver of nvidia-pytriton (python backend only) until Ctrl-C."""
    from catsplit.scale.triton_repo import ENSEMBLE
    from catsplit.scale.triton_server import TritonServer

    with TritonServer(repo, python=python, http_port=port, load=[ENSEMBLE]) as server:
        click.echo(f"serving {repo} at {server.url} (log: {server.log}); Ctrl-C stops it")
        try:
            server.process.wait()
        except KeyboardInterrupt:
            pass
