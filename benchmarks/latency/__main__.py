"""Latency benchmark: `python -m benchmarks.latency [--threads 2] [--quick] [--models ...]`.

For every model, in one run, same weights and thread count: (a) catsplit's Runtime (backbone + head
sessions), (b) the monolithic ONNX classifier in a bare onnxruntime session, (c) PyTorch eager; plus
the int8 bundles (dynamic and static), head swap vs reload, decode + preprocess per clip, folder
throughput with decoding overlapped, the machine's GEMM GFLOP/s and each model's achieved GFLOP/s.
Each configuration runs in its own subprocess (worker.py). Writes latency.md, latency.json and
latency.png to --out.
"""
from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import click
import numpy as np

from benchmarks.latency.report import write_results
from catsplit.compiler.text_encoder import cache_root

# Repetitions per model size: (batch-1 reps, warm-up, batch-8 reps, folder clips).
PROFILES = {
    "tiny": dict(reps=100, warmup=10, batch_reps=20, folder_clips=96, swap_reps=50, reload_reps=5),
    "model_a": dict(reps=100, warmup=10, batch_reps=20, folder_clips=96, swap_reps=50, reload_reps=5),
    "r2plus1d_18": dict(reps=10, warmup=2, batch_reps=2, folder_clips=16, swap_reps=20, reload_reps=3),
    "vit_s": dict(reps=6, warmup=1, batch_reps=1, folder_clips=16, swap_reps=20, reload_reps=3),
}
QUICK = dict(reps=8, warmup=2, batch_reps=2, folder_clips=8, swap_reps=10, reload_reps=2)
# Calibration clips (world train split, spread over the labels): the small CatNets calibrate on 48
# in seconds; a ViT-S calibration pass costs ~5 s per clip on 2 cores, so the big models take 8.
CALIB_CLIPS = {"model_a": 48, "tiny": 48}
CALIB_CLIPS_DEFAULT = 8
# Model A (and the tiny stand-in) take the world's own 56 px clips (its training domain, resize = 56
# is the identity); the big backbones take the 240 px folder, SSv2's frame height.
FOLDER_OF = {"model_a": "agree", "tiny": "agree"}
FOLDER_SIZE = 240  # the benchmark folder's mp4s: world clips scaled to SSv2's 240 px height
GEMM_N = {"full": 2048, "quick": 512}


def log(msg: str) -> None:
    click.echo(msg, err=True)


def run_job(job: dict) -> dict:
    """Run one measurement in a fresh interpreter; its JSON line is the result."""
    cmd = [sys.executable, "-m", "benchmarks.latency.worker", json.dumps(job)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        raise click.ClickException(f"worker {job.get('kind')}/{job.get('engine', '')} failed: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def world_folders(work: Path, n_folder: int, n_calib: int, n_agree: int) -> dict[str, Path]:
    """mp4 folders from the benchmark world: val clips for agreement, train clips for calibration,
    and a folder of val clips scaled to 240 px for the end-to-end throughput."""
    from benchmarks.world.labels import fine_labels
    from benchmarks.world.splits import WorldSplits
    from benchmarks.world.write_mp4 import write_clips, write_mp4

    labels = fine_labels()
    out = {"agree": work / "world_val", "calib": work / "world_train_calib", "folder": work / f"folder_{FOLDER_SIZE}p"}
    splits = WorldSplits(seed=0, n_train=1, n_val=max(1, -(-n_agree // len(labels))))
    if not (out["agree"] / "clips.csv").is_file():
        write_clips(splits, splits.clips("val")[:n_agree], out["agree"])
    step = max(1, len(labels) // n_calib)
    if not (out["calib"] / "clips.csv").is_file():
        index = write_clips(splits, splits.clips("train", labels[::step][:n_calib]), out["calib"])
        rows = index.read_text(encoding="utf-8").splitlines()
        few = rows[:1] + rows[1::n_calib // CALIB_CLIPS_DEFAULT][:CALIB_CLIPS_DEFAULT]  # header + 8 spread rows
        (out["calib"] / f"clips_{CALIB_CLIPS_DEFAULT}.csv").write_text("\n".join(few) + "\n", encoding="utf-8")
    done = out["folder"] / f".done_{n_folder}"
    if not done.is_file():
        out["folder"].mkdir(parents=True, exist_ok=True)
        idx = (np.arange(FOLDER_SIZE) * 56) // FOLDER_SIZE  # nearest-neighbour upscaling of 56 px frames
        for k, ref in enumerate(splits.clips("val")[:n_folder]):
            frames = splits.render(ref)
            write_mp4(frames[:, idx][:, :, idx], out["folder"] / f"clip_{k:03d}.mp4")
        done.touch()
    return out


def quantized(info: dict, work: Path, calib: Path, modes: tuple[str, ...]) -> dict[str, dict]:
    """The model's quantised bundles (built once), with what quantize_bundle recorded; `calib` is the CSV
    of calibration clips."""
    from catsplit.models.quantize import QuantizeError, quantize_bundle
    from catsplit.runtime.bundle import load_bundle

    out = {}
    for mode in modes:
        path = work / f"bundle_{mode}"
        if not (path / "bundle.json").is_file():
            log(f"[{info['model']}] quantising the backbone: {mode}")
            t0 = time.perf_counter()
            try:
                quantize_bundle(info["bundle"], path, mode=mode, calib=calib, force=True)
            except QuantizeError as e:  # e.g. dynamic mode on a network without MatMul
                out[mode] = {"error": str(e).split(": ", 1)[-1]}
                continue
            (work / f"bundle_{mode}.seconds").write_text(f"{time.perf_counter() - t0:.1f}")
        q = load_bundle(path, verify=False).provenance["quantization"]
        out[mode] = {"bundle": str(path), "check": q["check"],
                     "build_s": float((work / f"bundle_{mode}.seconds").read_text())}
    return out


def cuda_state() -> dict:
    """Whether onnxruntime's CUDA provider really starts here, and the GPU's name."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return {"available": False, "why": "onnxruntime has no CUDA provider"}
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20).stdout.strip().splitlines()
    except (OSError, subprocess.SubprocessError):
        gpu = []
    if not gpu:
        return {"available": False, "why": "no CUDA GPU in this run"}
    return {"available": True, "gpu": gpu[0]}


def bench_model(name: str, args: dict, work: Path, folders: dict[str, Path], cuda: dict) -> dict:
    from benchmarks.flops import count_flops
    from benchmarks.latency.models import SPECS, prepare

    spec = SPECS[name]
    prof = QUICK if args["quick"] else PROFILES[name]
    info = prepare(spec, work / name, log=log)
    flops = count_flops(Path(info["bundle"]) / "backbone.onnx", batch=1)
    res: dict = {"info": info, "profile": prof, "flops": flops}
    base = {"kind": "engine", "model": name, "threads": args["threads"], "input_shape": info["input_shape"],
            "reps": prof["reps"], "warmup": prof["warmup"], "batch_reps": prof["batch_reps"], **info}
    log(f"[{name}] (a) Runtime, (b) monolithic onnxruntime, (c) PyTorch eager")
    res["runtime"] = run_job({**base, "engine": "runtime", "swap": True, "swap_reps": prof["swap_reps"],
                              "reload_reps": prof["reload_reps"], "profile": True})
    # decode_threads=0: the Runtime's threads spin-wait between ops like onnxruntime's defaults.
    res["runtime_spin"] = run_job({**base, "engine": "runtime", "decode_threads": 0, "batch_reps": 0})
    res["onnx"] = run_job({**base, "engine": "onnx"})
    res["torch"] = run_job({**base, "engine": "torch"})
    calib = "clips.csv" if name in CALIB_CLIPS else f"clips_{CALIB_CLIPS_DEFAULT}.csv"
    res["int8"] = quantized(info, work / name, folders["calib"] / calib, ("dynamic", "static"))
    for mode, q in res["int8"].items():
        if "error" in q:
            continue
        log(f"[{name}] Runtime on the int8 ({mode}) bundle")
        q["runtime"] = run_job({**base, "engine": "runtime", "bundle": q["bundle"], "batch_reps": 0,
                                "profile": True})
        if name in ("model_a", "tiny"):
            q["agreement"] = run_job({"kind": "agreement", "threads": args["threads"], "reference": info["bundle"],
                                      "candidate": q["bundle"], "videos": str(folders["agree"] / "clips.csv")})
    log(f"[{name}] interleaved in one process: Runtime fp32 / int8 vs monolithic onnxruntime")
    # Every session here runs without spin-waiting threads (the Runtime's policy while it decodes):
    # a pool still spinning after its own run would slow the next session's (measured: +50% on model
    # A). The bare session with onnxruntime's default threading is the separate-process (b) row.
    configs = [{"label": "runtime", "engine": "runtime"}, {"label": "onnx no-spin", "engine": "onnx", "spin": False}]
    configs += [{"label": f"int8 {mode}", "engine": "runtime", "bundle": q["bundle"]}
                for mode, q in res["int8"].items() if "error" not in q]
    res["ab"] = run_job({**base, "kind": "ab", "configs": configs})
    log(f"[{name}] folder of mp4s: decode + preprocess, classify overlapped / inline")
    res["folder"] = run_job({"kind": "folder", "threads": args["threads"], "bundle": info["bundle"],
                             "videos": str(folders[FOLDER_OF.get(name, "folder")]), "limit": prof["folder_clips"],
                             "batch": 8,
                             "batch_reps": prof["batch_reps"], "decode_threads": 2,
                             "input_shape": info["input_shape"]})
    if cuda["available"]:
        res["cuda"] = bench_cuda(base, info, work / name)
    return res


def bench_cuda(base: dict, info: dict, work: Path) -> dict:
    """Runtime fp32 / fp16 (IO binding), monolithic onnxruntime and PyTorch eager fp32 / fp16 on the GPU."""
    from catsplit.models.quantize import quantize_bundle

    fp16 = work / "bundle_fp16"
    if not (fp16 / "bundle.json").is_file():
        quantize_bundle(info["bundle"], fp16, mode="fp16", force=True)
    cuda = {**base, "provider": "cuda"}
    return {"runtime_fp32": run_job({**cuda, "engine": "runtime"}),
            "runtime_fp16": run_job({**cuda, "engine": "runtime", "bundle": str(fp16)}),
            "onnx_fp32": run_job({**cuda, "engine": "onnx"}),
            "torch_fp32": run_job({**cuda, "engine": "torch"}),
            "torch_fp16": run_job({**cuda, "engine": "torch", "dtype": "fp16"})}


def cpu_name() -> str:
    """The CPU's model name as lscpu gives it (else platform.processor()): every benchmark's machine record."""
    model = platform.processor() or "?"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return model


def machine(threads: int) -> dict:
    import onnxruntime as ort
    import torch

    return {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": threads, "load_before": os.getloadavg(),
            "onnxruntime": ort.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "date": datetime.now().astimezone().isoformat(timespec="seconds")}


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--threads", default=2, show_default=True, help="Threads for every engine (and numpy).")
@click.option("--quick", is_flag=True, help="Few repetitions on the tiny model: a smoke test in seconds.")
@click.option("--models", "names", multiple=True, type=click.Choice(list(PROFILES)),
              help="Models to run (default: model_a vit_s r2plus1d_18; "
              "--quick: tiny). model_a is skipped while its shipped bundle is missing.")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where exported models, bundles and mp4s are built and reused "
                   "(default $CATSPLIT_CACHE/latency or ~/.cache/catsplit/latency).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("benchmarks/results"),
              show_default=True, help="Where latency.md, latency.json and latency.png go.")
def main(threads: int, quick: bool, names: tuple[str, ...], work: Path | None, out: Path) -> None:
    """Measure catsplit's Runtime against bare onnxruntime and PyTorch eager; write the results file."""
    from benchmarks.latency.models import MODEL_A

    t_start = time.perf_counter()
    work = work or cache_root() / "latency"
    names = names or (("tiny",) if quick else ("model_a", "vit_s", "r2plus1d_18"))
    skipped = {}
    if "model_a" in names and not (MODEL_A / "bundle.json").is_file():
        skipped["model_a"] = f"its shipped bundle {MODEL_A.relative_to(MODEL_A.parents[2])} is not there yet"
        names = tuple(n for n in names if n != "model_a")
    args = {"threads": threads, "quick": quick}
    results = {"machine": machine(threads), "command": "python -m benchmarks.latency " + shlex.join(sys.argv[1:]),
               "quick": quick, "skipped": skipped, "models": {}}
    cuda = cuda_state()
    results["cuda"] = cuda
    n_folder = max((QUICK if quick else PROFILES[n])["folder_clips"] for n in names)
    folders = world_folders(work, n_folder=n_folder, n_calib=max(CALIB_CLIPS.values()), n_agree=16 if quick else 192)
    log("machine limit: float32 GEMM")
    results["gemm"] = run_job({"kind": "gemm", "threads": threads, "n": GEMM_N["quick" if quick else "full"],
                               "reps": 3 if quick else 10})
    for name in names:
        results["models"][name] = bench_model(name, args, work, folders, cuda)
    results["wall_s"] = time.perf_counter() - t_start
    results["machine"]["load_after"] = os.getloadavg()
    for line in write_results(results, out):
        click.echo(line)


if __name__ == "__main__":
    main()
