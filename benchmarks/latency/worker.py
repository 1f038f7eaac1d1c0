"""One measurement in a fresh process: `python -m benchmarks.latency.worker JOB_JSON` prints a JSON line.

A process per configuration keeps peak memory (ru_maxrss) per configuration and keeps libraries
apart: the onnxruntime jobs never import torch. The thread count is fixed before any library that
reads it is imported (OMP/MKL/OpenBLAS variables for numpy, set_num_threads for torch,
intra_op_num_threads for onnxruntime).
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Callable

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def rss_mib() -> float:
    """Peak resident set size of this process image so far, MiB.

    /proc's VmHWM, not ru_maxrss: ru_maxrss survives exec, so a worker forked from the (torch-laden)
    harness would report the harness's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], object], reps: int, warmup: int) -> list[float]:
    """Wall-clock ms of `reps` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def summary(ms: list[float]) -> dict:
    import numpy as np

    a = np.asarray(ms)
    return {"n": len(ms), "p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)),
            "min_ms": float(a.min())}


def _inputs(shape: list[int], batch: int):
    import numpy as np

    return np.random.default_rng(0).standard_normal((batch, *shape[1:])).astype(np.float32)


def _ort_options(threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    return so


def _runner(job: dict) -> tuple[Callable, dict]:
    """(run(x) -> logits, extra facts) for the job's engine, built after `rss_base` was taken."""
    engine, threads = job["engine"], job["threads"]
    if engine == "runtime":
        from catsplit.runtime import Runtime

        rt = Runtime(job["bundle"], provider=job.get("provider", "cpu"), threads=threads,
                     decode_threads=job.get("decode_threads", 2))
        if rt.provider == "CUDAExecutionProvider":  # the IO-binding path classify uses: features stay on the GPU
            return (lambda x: rt._logits_of_views(x)[0]), {"provider": rt.provider, "runtime": rt}
        return (lambda x: rt.logits(rt.features(x))), {"provider": rt.provider, "runtime": rt}
    if engine == "onnx":
        import onnxruntime as ort

        providers = ["CUDAExecutionProvider"] if job.get("provider") == "cuda" else ["CPUExecutionProvider"]
        so = _ort_options(threads)
        if not job.get("spin", True):  # the Runtime's threading policy while it decodes videos
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(job["onnx"], so, providers=providers)
        name = sess.get_inputs()[0].name
        return (lambda x: sess.run(None, {name: x})[0]), {"provider": sess.get_providers()[0]}
    if engine == "torch":
        import torch

        from benchmarks.latency.models import SPECS

        torch.set_num_threads(threads)
        device = "cuda" if job.get("provider") == "cuda" else "cpu"
        dtype = torch.float16 if job.get("dtype") == "fp16" else torch.float32
        model = SPECS[job["model"]].torch_model(Path(job["torch"])).to(device, dtype)

        def run(x):
            with torch.inference_mode():
                y = model(torch.from_numpy(x).to(device, dtype))
                if device == "cuda":
                    torch.cuda.synchronize()
                return y
        return run, {"provider": f"torch {torch.__version__} {device} {dtype}".replace("torch.", "")}
    raise ValueError(f"unknown engine {engine!r}")


def engine_job(job: dict) -> dict:
    """p50/p95 at batch 1, clips/s at batch 8, peak memory; head swap vs reload for the runtime."""
    rss_base = rss_mib()
    t0 = time.perf_counter()
    run, facts = _runner(job)
    load_ms = (time.perf_counter() - t0) * 1e3
    x1 = _inputs(job["input_shape"], 1)
    out = {"load_ms": load_ms, "provider": facts["provider"],
           "batch1": summary(timed(lambda: run(x1), job["reps"], job["warmup"]))}
    if job.get("batch_reps"):
        x8 = _inputs(job["input_shape"], 8)
        b8 = summary(timed(lambda: run(x8), job["batch_reps"], 1))
        out["batch8"] = {**b8, "clips_per_s": 8e3 / b8["p50_ms"]}
    if job.get("swap"):
        rt = facts["runtime"]
        feats = rt.features(x1)
        out["head_only"] = summary(timed(lambda: rt.logits(feats), 200, 10))
        out["swap"] = swap_and_reload(rt, job)
    if job.get("profile"):
        out["profile"] = op_profile(job["bundle"] + "/backbone.onnx", x1, job["threads"])
    out.update(rss_base_mib=rss_base, rss_peak_mib=rss_mib())
    return out


def ab_job(job: dict) -> dict:
    """Batch-1 latency of several configurations in ONE process, interleaved in blocks.

    Separate processes give clean peak-memory figures, but on a machine whose load changes they
    also measure different moments; taking turns makes every configuration see the same load, so
    the ratios the targets are about are measured here. Turns are blocks of ~reps/10 calls after
    one untimed call: the sessions' thread pools then do not disturb each other's timed calls
    (a pool whose threads still spin-wait after its run slows the next session's run).
    """
    runners = [_runner({**job, **cfg})[0] for cfg in job["configs"]]
    x1 = _inputs(job["input_shape"], 1)
    for run in runners:
        timed(lambda: run(x1), 0, job["warmup"])
    block = max(1, job["reps"] // 10)
    # An untimed call opens each turn unless calls are long enough (>= 50 ms) for the previous
    # pool's spinning tail not to matter.
    settle = int(min(timed(lambda: run(x1), 1, 0)[0] for run in runners) < 50)
    ms: list[list[float]] = [[] for _ in runners]
    while len(ms[0]) < job["reps"]:
        for k, run in enumerate(runners):
            ms[k] += timed(lambda: run(x1), block, settle)
    return {cfg["label"]: summary(m) for cfg, m in zip(job["configs"], ms)}


def op_profile(path: str, x, threads: int) -> dict[str, float]:
    """Share of kernel time per op type in one profiled run (after one warm-up run) of `path`."""
    import onnxruntime as ort

    so = _ort_options(threads)
    so.enable_profiling = True
    so.profile_file_prefix = str(Path(os.environ.get("TMPDIR", "/tmp")) / f"catsplit_profile_{os.getpid()}")
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    sess.run(None, {name: x})
    sess.run(None, {name: x})
    trace = Path(sess.end_profiling())
    events = json.loads(trace.read_text())
    trace.unlink()
    runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    start = runs[-1]["ts"] if runs else 0  # the second run only
    per_op: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= start:
            op = e["args"]["op_name"]
            per_op[op] = per_op.get(op, 0.0) + e["dur"]
    total = sum(per_op.values()) or 1.0
    return {op: v / total for op, v in sorted(per_op.items(), key=lambda kv: -kv[1])}


def swap_and_reload(rt, job: dict) -> dict:
    """Runtime.swap_head (a bundle dir, and a Bundle already loaded) vs constructing a new Runtime."""
    from catsplit.runtime import Runtime
    from catsplit.runtime.bundle import load_bundle

    dirs = [job["bundle_head2"], job["bundle"]]
    by_path = timed(lambda: rt.swap_head(dirs.reverse() or dirs[0]), job["swap_reps"], 2)
    loaded = [load_bundle(d) for d in dirs]
    by_bundle = timed(lambda: rt.swap_head(loaded.reverse() or loaded[0]), job["swap_reps"], 2)
    reload = timed(lambda: Runtime(job["bundle"], provider=job.get("provider", "cpu"), threads=job["threads"]),
                   job["reload_reps"], 0)
    return {"swap_dir": summary(by_path), "swap_loaded": summary(by_bundle), "reload": summary(reload)}


def gemm_job(job: dict) -> dict:
    """GFLOP/s of an N x N x N float32 GEMM: onnxruntime MatMul and numpy, same thread count."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from catsplit.models.onnx_io import MAX_IR_VERSION

    n, reps = job["n"], job["reps"]
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"])], "gemm",
                              [helper.make_tensor_value_info(k, TensorProto.FLOAT, [n, n]) for k in "ab"],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, MAX_IR_VERSION)
    sess = ort.InferenceSession(model.SerializeToString(), _ort_options(job["threads"]),
                                providers=["CPUExecutionProvider"])
    flops = 2 * n ** 3
    ort_ms = summary(timed(lambda: sess.run(None, {"a": a, "b": b}), reps, 2))
    np_ms = summary(timed(lambda: a @ b, reps, 2))
    return {"n": n, "flops": flops, "onnxruntime": {**ort_ms, "gflops": flops / ort_ms["min_ms"] / 1e6},
            "numpy": {**np_ms, "gflops": flops / np_ms["min_ms"] / 1e6}, "numpy_blas": _blas_name()}


def _blas_name() -> str:
    import numpy as np

    try:
        return ", ".join(f"{d.get('internal_api', '?')} {d.get('version', '')}".strip()
                         for d in np.show_config(mode="dicts")["Build Dependencies"]["blas"].values()
                         if isinstance(d, dict)) or "?"
    except Exception:
        return "?"


def _videos(source: str, limit: int | None = None) -> list[str]:
    """mp4 files of a folder (sorted), or the `path` column of a benchmark-world clips.csv (given, or
    in the folder)."""
    if (Path(source) / "clips.csv").is_file():
        source = str(Path(source) / "clips.csv")
    if source.endswith(".csv"):
        from benchmarks.world.write_mp4 import read_index

        videos = [r["path"] for r in read_index(source)]
    else:
        videos = sorted(str(p) for p in Path(source).glob("*.mp4"))
    return videos[:limit]


def folder_job(job: dict) -> dict:
    """Decode + preprocess per clip, and Runtime.classify over a folder with and without overlap,
    against the backbone-only throughput at the same batch size."""
    from catsplit.runtime import Runtime
    from catsplit.runtime.video import load_views

    videos = _videos(job["videos"], job.get("limit"))
    rt = Runtime(job["bundle"], provider="cpu", threads=job["threads"], batch_size=job["batch"])
    load_views(videos[0], rt.bundle.preprocess)  # warm the decoder libraries
    decode = [timed(lambda v=v: load_views(v, rt.bundle.preprocess), 1, 0)[0] for v in videos]
    x = _inputs(job["input_shape"], job["batch"])
    backbone = summary(timed(lambda: rt.logits(rt.features(x)), job["batch_reps"], 1))
    out = {"clips": len(videos), "batch": job["batch"], "decode": summary(decode),
           "backbone_clips_per_s": job["batch"] * 1e3 / backbone["p50_ms"]}
    for label, workers in (("overlapped", job["decode_threads"]), ("inline", 0)):
        rt.decode_threads = workers
        t0 = time.perf_counter()
        preds = rt.classify(videos)
        wall = time.perf_counter() - t0
        bad = [p.error for p in preds if p.error]
        if bad:
            raise RuntimeError(f"folder benchmark: {bad[0]}")
        out[label] = {"decode_threads": workers, "wall_s": wall, "clips_per_s": len(videos) / wall}
    out["rss_peak_mib"] = rss_mib()
    return out


def agreement_job(job: dict) -> dict:
    """Top-1 agreement of two bundles (float32 vs int8) over a folder of clips, one view each."""
    import numpy as np

    from catsplit.runtime import Runtime
    from catsplit.runtime.video import load_views

    videos = _videos(job["videos"])
    rts = [Runtime(b, provider="cpu", threads=job["threads"]) for b in (job["reference"], job["candidate"])]
    x = np.concatenate([load_views(v, rts[0].bundle.preprocess) for v in videos])
    top1 = [np.concatenate([rt.logits(rt.features(x[i:i + 8])) for i in range(0, len(x), 8)]).argmax(1)
            for rt in rts]
    return {"clips": len(videos), "top1_agreement": float(np.mean(top1[0] == top1[1]))}


JOBS = {"engine": engine_job, "ab": ab_job, "gemm": gemm_job, "folder": folder_job, "agreement": agreement_job}


def main(argv: list[str]) -> None:
    job = json.loads(argv[0])
    threads = str(job.get("threads", 1))
    for var in THREAD_VARS:  # before numpy is imported by anything
        os.environ[var] = threads
    print(json.dumps(JOBS[job["kind"]](job)))


if __name__ == "__main__":
    main(sys.argv[1:])
