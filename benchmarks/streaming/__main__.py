"""Streaming benchmark: `python -m benchmarks.streaming [--models model_a vit_s] [--threads 2] [--quick]`.

On one 25 fps 320x240 H.264 stream file (media.py), through `catsplit.runtime.stream` exactly as
`catsplit-run --stream` runs it, each run in its own process (worker.py):

1. latency from a window's last frame received to its result, p50 / p95, one live stream, stride 0.5 s;
2. live streams one process sustains with < 1% of windows dropped and its readers keeping up with
   the frame rate (model A, stride 0.5 s): 1, 2, 4, ... streams until a run does not; where the CPU
   time goes (decode vs preprocess vs backbone);
3. windows per second, N streams read as fast as they decode: one process batching them vs N
   processes (one stream and one onnxruntime thread each) started together;
4. hot swap: the two heads deployed in turn every 2 s to the `current` link the runner watches:
   windows lost (spanned by the frames but neither classified nor counted as dropped) and the longest
   gap between two results around a swap.
With a CUDA device, 1 and 3 again on it (the GPU rows). Writes streaming.md and streaming.json to --out.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import click

from benchmarks.streaming.media import FPS, camera_file
from benchmarks.streaming.report import sustained, write_results
from catsplit.compiler.text_encoder import cache_root

STRIDE = 0.5
COUNTS = (1, 2, 4, 8, 16, 24, 32, 48, 64)
BATCHED_N = 8


def log(msg: str) -> None:
    click.echo(msg, err=True)


def start(job: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "benchmarks.streaming.worker", json.dumps(job)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])


def result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate()
    if proc.returncode != 0:
        tail = err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"
        raise click.ClickException(f"streaming worker failed: {tail}")
    return json.loads(out.strip().splitlines()[-1])


def run_job(job: dict) -> dict:
    return result(start(job))


def bundles(name: str, work: Path) -> dict:
    """The model's bundle and a second head on its backbone (the hot-swap target), built once."""
    from benchmarks.latency.models import MODEL_A, SPECS, prepare, second_head
    from catsplit.runtime.bundle import load_bundle

    if name == "model_a":
        head2 = work / "model_a_head2"
        if not (head2 / "bundle.json").is_file():
            second_head(load_bundle(MODEL_A), head2)
        return {"bundle": str(MODEL_A), "head2": str(head2), "title": SPECS[name].title}
    info = prepare(SPECS[name], cache_root() / "latency" / name, log=log)  # shared with benchmarks.latency
    return {"bundle": info["bundle"], "head2": info["bundle_head2"], "title": info["title"]}


def batched_vs_separate(base: dict, n: int) -> dict:
    """N streams read as fast as they decode: one process batching them, then N processes started together."""
    log(f"  {n} streams as fast as they decode: one process, batched")
    batched = run_job({**base, "streams": n, "realtime": False, "batch": n})
    log(f"  {n} streams as fast as they decode: {n} processes")
    at = time.time() + 10  # every process has loaded its runtime by then (the spread is in the report)
    procs = [start({**base, "streams": 1, "realtime": False, "threads": 1, "batch": 1, "start_at": at})
             for _ in range(n)]
    return {"batched": batched, "separate": [result(p) for p in procs]}


def bench_model(name: str, b: dict, camera: Path, threads: int, quick: bool, cuda: dict) -> dict:
    base = {"bundle": b["bundle"], "file": str(camera), "threads": threads, "stride": STRIDE, "max_pending": 2,
            "batch": 8, "provider": "cpu"}
    res: dict = {"title": b["title"]}
    log(f"[{name}] latency: one live stream")
    res["latency"] = run_job({**base, "streams": 1, "realtime": True})
    log(f"[{name}] hot swap: two heads deployed in turn every 2 s")
    res["swap"] = run_job({**base, "streams": 1, "realtime": True,
                           "swap": {"heads": [b["bundle"], b["head2"]], "every": 2.0, "poll": 0.1}})
    if name == "model_a":
        res["concurrency"] = []
        for n in COUNTS[:3] if quick else COUNTS:
            log(f"[{name}] {n} live streams")
            run = run_job({**base, "streams": n, "realtime": True})
            res["concurrency"].append(run)
            if not sustained(run, STRIDE):
                break
        res.update(batched_vs_separate(base, 2 if quick else BATCHED_N))
    if cuda["available"]:
        gpu = {**base, "provider": "cuda"}
        log(f"[{name}] CUDA: latency, one live stream")
        res["gpu"] = {"latency": run_job({**gpu, "streams": 1, "realtime": True})}
        if name == "model_a":
            res["gpu"].update(batched_vs_separate(gpu, 2 if quick else BATCHED_N))
    return res


def machine(threads: int) -> dict:
    """The latency benchmark's machine record, plus the decoder's versions."""
    import av

    from benchmarks.latency.__main__ import cuda_state
    from benchmarks.latency.__main__ import machine as base

    return {**base(threads), "av": av.__version__, "ffmpeg": ".".join(map(str, av.library_versions["libavcodec"])),
            "cuda": cuda_state()}


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--models", "names", multiple=True, type=click.Choice(["model_a", "vit_s"]),
              help="Models to run (default: both).")
@click.option("--threads", default=2, show_default=True, help="onnxruntime threads of the one-process runs.")
@click.option("--quick", is_flag=True, help="A 4 s stream and few stream counts: a smoke test.")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the stream file and second heads are built (default $CATSPLIT_CACHE/streaming).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("benchmarks/results"),
              show_default=True, help="Where streaming.md and streaming.json go.")
def main(names: tuple[str, ...], threads: int, quick: bool, work: Path | None, out: Path) -> None:
    """Measure live-stream latency, capacity, batching and hot swap; write the results file."""
    t_start = time.perf_counter()
    work = work or cache_root() / "streaming"
    names = names or ("model_a", "vit_s")
    clips = 6 if quick else 26
    camera = camera_file(work / f"camera_{clips}.mp4", clips)
    results = {"machine": machine(threads), "quick": quick, "fps": FPS, "stride": STRIDE, "clips": clips,
               "command": "python -m benchmarks.streaming " + shlex.join(sys.argv[1:]), "models": {}}
    for name in names:
        results["models"][name] = bench_model(name, bundles(name, work), camera, threads, quick,
                                              results["machine"]["cuda"])
    results["machine"]["load_after"], results["wall_s"] = os.getloadavg(), time.perf_counter() - t_start
    click.echo("\n".join(write_results(results, out)))


if __name__ == "__main__":
    main()
