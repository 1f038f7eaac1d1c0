"""The latency results: a printed table, latency.md (with the targets), latency.json and latency.png."""
from __future__ import annotations

import json
from pathlib import Path

ENGINES = (("runtime", "(a) catsplit Runtime"), ("onnx", "(b) onnxruntime, monolithic"),
           ("torch", "(c) PyTorch eager"))
NO_GPU = "not measured (no CUDA GPU in this run)"


def _f(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def _rows(res: dict) -> list[tuple[str, dict]]:
    rows = [(label, res[key]) for key, label in ENGINES]
    if "runtime_spin" in res:
        rows.insert(1, ("(a) catsplit Runtime, decode_threads=0 (threads spin-wait)", res["runtime_spin"]))
    rows += [(f"catsplit Runtime, int8 {mode}", q["runtime"]) for mode, q in res["int8"].items() if "error" not in q]
    return rows


def gemm_limit(results: dict) -> float:
    return results["gemm"]["onnxruntime"]["gflops"]


def achieved(res: dict, r: dict) -> float:
    """GFLOP/s of a batch-1 run: the backbone's FLOPs over the median latency."""
    return res["flops"]["flops"] / r["batch1"]["p50_ms"] / 1e6


def model_table(name: str, res: dict, limit: float) -> list[str]:
    gf = res["flops"]["flops"] / 1e9
    lines = [f"### {res['info']['title']}", "",
             f"Backbone {gf:.2f} GFLOP per clip (2 x {res['flops']['macs'] / 1e9:.2f} GMAC; by op: "
             + ", ".join(f"{op} {v / 1e9:.2f}" for op, v in res["flops"]["by_op"].items())
             + f"), {res['info']['params'] / 1e6:.2f} M parameters, input {res['info']['input_shape']}. "
             f"Batch-1 repetitions: {res['profile']['reps']} (after {res['profile']['warmup']} warm-up), "
             f"batch-8: {res['profile']['batch_reps']} (after 1).", "",
             "| engine | p50 ms (batch 1) | p95 ms | clips/s (batch 8) | peak RSS MiB | GFLOP/s | % of GEMM |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for label, r in _rows(res):
        b8 = r.get("batch8", {}).get("clips_per_s")
        g = achieved(res, r)
        pct = None if "int8" in label else 100 * g / limit  # int8 against a float32 GEMM says nothing
        lines.append(f"| {label} | {_f(r['batch1']['p50_ms'], 2)} | {_f(r['batch1']['p95_ms'], 2)} | {_f(b8)} | "
                     f"{_f(r['rss_peak_mib'], 0)} | {_f(g)} | {_f(pct, 0)} |")
    return lines + [""]


def _agreement(q: dict) -> float:
    """Top-1 agreement on the world's val clips when measured, else the quantize-time check's."""
    return q["agreement"]["top1_agreement"] if "agreement" in q else q["check"].get("top1_agreement", 0.0)


def best_int8(res: dict) -> tuple[str, dict] | None:
    """The int8 mode picked for a model: the fastest with >= 99% agreement, else the fastest."""
    done = [(m, q) for m, q in res["int8"].items() if "error" not in q]
    if not done:
        return None
    fast = sorted(done, key=lambda mq: res["ab"][f"int8 {mq[0]}"]["p50_ms"])
    return next(((m, q) for m, q in fast if _agreement(q) >= 0.99), fast[0])


def targets(results: dict) -> list[tuple[str, str, str, str]]:
    """(target, model, measured, verdict) rows."""
    out = []
    limit = gemm_limit(results)
    for name, res in results["models"].items():
        ab = res["ab"]
        rt, mono = ab["runtime"]["p50_ms"], ab["onnx no-spin"]["p50_ms"]
        ratio = rt / mono
        out.append(("Runtime / monolithic onnxruntime latency <= 1.03x", name,
                    f"{ratio:.3f}x against the same session threading (no spin-wait, interleaved); against "
                    f"onnxruntime's defaults (separate processes): "
                    f"{res['runtime']['batch1']['p50_ms'] / res['onnx']['batch1']['p50_ms']:.3f}x, and "
                    f"{res['runtime_spin']['batch1']['p50_ms'] / res['onnx']['batch1']['p50_ms']:.3f}x for "
                    "Runtime(decode_threads=0), which spin-waits like them",
                    "met" if ratio <= 1.03 else f"missed by {100 * (ratio - 1.03):.1f} points"))
        best = best_int8(res)
        if best is not None:
            mode, q = best
            sp = rt / ab[f"int8 {mode}"]["p50_ms"]
            agree = _agreement(q)
            where = (f"{agree:.1%} top-1 agreement on {q['agreement']['clips']} world val clips" if "agreement" in q
                     else f"{agree:.1%} top-1 agreement on {q['check']['clips']} calibration clips (random weights)")
            ok = sp >= 1.5 and agree >= 0.99
            verdict = "met" if ok else (f"missed: speed-up {sp:.2f}x < 1.5x" if sp < 1.5 else "missed: agreement < 99%")
            out.append(("int8 >= 1.5x faster, >= 99% top-1 agreement (best mode)", name,
                        f"{mode}: {sp:.2f}x; {where}", verdict))
        sw = res["runtime"]["swap"]
        swap, reload = sw["swap_dir"]["p50_ms"], sw["reload"]["p50_ms"]
        ok = swap < 1 and reload >= 100 * swap
        out.append(("head swap < 1 ms, reload >= 100x", name,
                    f"swap {swap:.2f} ms (bundle already loaded: {sw['swap_loaded']['p50_ms']:.2f} ms), "
                    f"reload {reload:.1f} ms = {reload / swap:.0f}x",
                    "met" if ok else "missed" + (f": swap {swap:.2f} ms > 1 ms" if swap >= 1 else "")
                    + (f"; reload only {reload / swap:.0f}x" if reload < 100 * swap else "")))
        fo = res["folder"]
        r = fo["overlapped"]["clips_per_s"] / fo["backbone_clips_per_s"]
        out.append(("folder throughput (decoding overlapped) >= 0.9x backbone-only", name,
                    f"{r:.2f}x ({fo['overlapped']['clips_per_s']:.1f} vs {fo['backbone_clips_per_s']:.1f} clips/s)",
                    "met" if r >= 0.9 else f"missed by {100 * (0.9 - r):.0f} points"))
        if name == "vit_s":
            frac = achieved(res, res["runtime"]) / limit
            out.append(("ViT-S backbone batch 1 >= 70% of GEMM GFLOP/s", name,
                        f"{frac:.0%} ({achieved(res, res['runtime']):.0f} of {limit:.0f} GFLOP/s)",
                        "met" if frac >= 0.7 else f"missed by {100 * (0.7 - frac):.0f} points"))
    return out


GEMM_OPS = {"MatMul", "FusedMatMul", "Gemm", "FusedGemm", "Conv", "FusedConv", "MatMulInteger",
            "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QLinearMatMul", "QLinearConv", "ConvInteger", "QGemm"}


def _shares(profile: dict[str, float], top: int = 4) -> str:
    return ", ".join(f"{op} {v:.0%}" for op, v in list(profile.items())[:top])


def notes(results: dict) -> list[str]:
    """Why each ratio is what it is, from this run's own measurements."""
    limit = gemm_limit(results)
    out = []
    for name, res in results["models"].items():
        rt, mono, ab = res["runtime"], res["onnx"], res["ab"]
        d = ab["runtime"]["p50_ms"] - ab["onnx no-spin"]["p50_ms"]
        prof = rt.get("profile", {})
        gemm_share = sum(v for op, v in prof.items() if op in GEMM_OPS)
        fo = res["folder"]
        dec, bb = fo["decode"]["p50_ms"], 1e3 / fo["backbone_clips_per_s"]
        cores = results["machine"]["threads"]
        ceiling = cores * bb / (dec + cores * bb)
        sw = rt["swap"]
        lines = [f"**{name}**: interleaved, Runtime p50 - monolithic p50 (same threading, no spin-wait) = "
                 f"{d:+.3f} ms ({ab['runtime']['p50_ms'] / ab['onnx no-spin']['p50_ms']:.3f}x; fastest of the "
                 f"repetitions: {ab['runtime']['min_ms'] / ab['onnx no-spin']['min_ms']:.3f}x). Against a session "
                 f"with onnxruntime's default spin-waiting threads, in separate processes: "
                 f"{rt['batch1']['p50_ms'] / mono['batch1']['p50_ms']:.3f}x "
                 "(spin-waiting threads lose their cores to other processes on a busy machine; on an idle one "
                 "they save wake-ups). The Runtime's extra work is the head "
                 f"session call, {rt['head_only']['p50_ms'] * 1e3:.0f} us measured alone, and the backbone handing "
                 "its features out as a graph output instead of feeding the Gemm inside one graph; the rest is "
                 "run-to-run noise (p95 / p50 above).",
                 f"Backbone time by op (one profiled run): {_shares(prof)}; matrix ops (Conv/MatMul/Gemm) "
                 f"{gemm_share:.0%}. Achieved {achieved(res, rt):.0f} GFLOP/s = "
                 f"{achieved(res, rt) / limit:.0%} of the {limit:.0f} GFLOP/s GEMM: the rest of the time is "
                 "memory-bound work with no FLOPs counted (softmax, GELU, normalisation, transposes, pooling) and "
                 "matrix products too thin for GEMM speed (attention's K = 64, small or 3-channel convolutions).",
                 f"Decode + preprocess {dec:.1f} ms per clip (one thread) against {bb:.1f} ms of backbone per clip "
                 f"at batch 8 ({cores} threads): on {cores} cores shared by both, overlapped throughput can reach "
                 f"at most {cores} x backbone / (decode + {cores} x backbone) = {ceiling:.2f}x of backbone-only; "
                 f"measured {fo['overlapped']['clips_per_s'] / fo['backbone_clips_per_s']:.2f}x "
                 f"(inline decoding: {fo['inline']['clips_per_s'] / fo['backbone_clips_per_s']:.2f}x).",
                 f"A full reload costs {sw['reload']['p50_ms']:.1f} ms (checksums of every file, both sessions "
                 f"with graph optimisation); a swap {sw['swap_dir']['p50_ms']:.2f} ms (one head checksum, one "
                 "single-threaded session for one Gemm)."]
        for mode, q in res["int8"].items():
            if "error" in q:
                lines.append(f"int8 {mode}: {q['error']}.")
                continue
            qp = q["runtime"].get("profile", {})
            flt = sum(v for op, v in qp.items() if op in {"MatMul", "FusedMatMul", "Conv", "FusedConv", "Gemm",
                                                           "Softmax"})
            lines.append(f"int8 {mode}: backbone time by op: {_shares(qp)}; float MatMul/Conv/Softmax left: "
                         f"{flt:.0%} (float on purpose: convolutions on < 8 input channels, i.e. the RGB stem, "
                         "whose int8 kernel is ~10x slower than float, and attention's activation x activation "
                         "products).")
        out += [" ".join(lines[:1]), ""] + [f"- {x}" for x in lines[1:]] + [""]
    return out


def markdown(results: dict) -> str:
    m, g = results["machine"], results["gemm"]
    limit = gemm_limit(results)
    lines = ["# Latency: catsplit Runtime vs onnxruntime vs PyTorch eager", "",
             f"- Command: `{results['command']}`" + (" (smoke-test repetitions)" if results["quick"] else ""),
             f"- Machine: {m['cpu']}, {m['cores']} cores; threads for every engine: {m['threads']}",
             f"- Date: {m['date']}; load average before / after: {m['load_before'][0]:.2f} / "
             f"{m['load_after'][0]:.2f}; the whole run took {results['wall_s'] / 60:.1f} min",
             f"- onnxruntime {m['onnxruntime']}, torch {m['torch']}, numpy {m['numpy']}, Python {m['python']}",
             "- Each configuration's table row comes from its own process; peak RSS is that process's VmHWM "
             "(Python, the libraries, the model, and the batch-8 run's buffers in rows that have one). Latency = wall time of one call on a preprocessed clip "
             "(Runtime: `logits(features(x))`; onnxruntime: `run`; PyTorch: `model(x)` under inference_mode). "
             "The ratios in the targets (Runtime / monolithic, int8 speed-up) are measured again with the "
             "configurations in one process and their calls interleaved, so that every one sees the same load.",
             "- FLOPs: 2 x MACs of Conv/ConvTranspose/MatMul/Gemm/Einsum, counted from the backbone ONNX graph "
             "after shape inference (benchmarks/flops.py); GFLOP/s = FLOPs / batch-1 p50.", ""]
    for name, why in results["skipped"].items():
        lines += [f"- **{name} skipped**: {why}.", ""]
    lines += ["## Machine limit", "",
              f"float32 GEMM {g['n']} x {g['n']} x {g['n']}, best of the repetitions, {m['threads']} threads: "
              f"onnxruntime MatMul **{g['onnxruntime']['gflops']:.0f} GFLOP/s**, numpy "
              f"{g['numpy']['gflops']:.0f} GFLOP/s. The % of GEMM columns use the onnxruntime figure.", "",
              "## CPU", ""]
    for name, res in results["models"].items():
        lines += model_table(name, res, limit)
    lines += ["## Head swap vs full reload", "",
              "| model | swap_head(bundle dir) p50 ms | swap_head(loaded Bundle) p50 ms | new Runtime p50 ms | reload / swap |",
              "|---|---:|---:|---:|---:|"]
    for name, res in results["models"].items():
        sw = res["runtime"]["swap"]
        lines.append(f"| {name} | {sw['swap_dir']['p50_ms']:.2f} | {sw['swap_loaded']['p50_ms']:.2f} | "
                     f"{sw['reload']['p50_ms']:.1f} | {sw['reload']['p50_ms'] / sw['swap_dir']['p50_ms']:.0f}x |")
    lines += ["", "## Decoding and folder throughput", "",
              "Folder: benchmark-world val clips (16 frames, 56 px, nearest-upscaled to 240 x 240) as H.264 mp4. "
              "Decode + preprocess = `load_views` per clip, alone. Folder throughput = `Runtime.classify(all clips)` "
              "at batch 8 with decoding in 2 threads ahead of inference (overlapped) or inline; backbone-only = "
              "`logits(features(x))` on a ready batch of 8.", "",
              "| model | clips | decode + preprocess p50 ms/clip | backbone-only clips/s | overlapped clips/s | "
              "inline clips/s | overlapped / backbone-only |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, res in results["models"].items():
        fo = res["folder"]
        lines.append(f"| {name} | {fo['clips']} | {fo['decode']['p50_ms']:.1f} | {fo['backbone_clips_per_s']:.1f} | "
                     f"{fo['overlapped']['clips_per_s']:.1f} | {fo['inline']['clips_per_s']:.1f} | "
                     f"{fo['overlapped']['clips_per_s'] / fo['backbone_clips_per_s']:.2f}x |")
    lines += ["", "## int8 (CPU)", "",
              "Speed-up = Runtime fp32 p50 / Runtime int8 p50 at batch 1, calls interleaved in one process. Calibration (static) and the "
              "quantize-time check use world *train* clips; the agreement column uses world *val* clips.", "",
              "| model | mode | speed-up | top-1 agreement (val) | agreement at quantize time | build s |",
              "|---|---|---:|---:|---:|---:|"]
    for name, res in results["models"].items():
        for mode, q in res["int8"].items():
            if "error" in q:
                lines.append(f"| {name} | {mode} | not applicable: {q['error']} | | | |")
                continue
            sp = res["ab"]["runtime"]["p50_ms"] / res["ab"][f"int8 {mode}"]["p50_ms"]
            ag = q.get("agreement")
            chk = q["check"]
            lines.append(f"| {name} | {mode} | {sp:.2f}x | "
                         + (f"{ag['top1_agreement']:.1%} ({ag['clips']} clips)" if ag else "- (random weights)")
                         + f" | {chk.get('top1_agreement', float('nan')):.1%} ({chk['clips']} clips) | {q['build_s']:.0f} |")
    lines += ["", "## GPU (CUDA execution provider)", ""]
    if results["cuda"]["available"]:
        lines += [f"GPU: {results['cuda']['gpu']}", "",
                  "| model | engine | p50 ms (batch 1) | p95 ms | clips/s (batch 8) |", "|---|---|---:|---:|---:|"]
        for name, res in results["models"].items():
            for key, r in res.get("cuda", {}).items():
                lines.append(f"| {name} | {key} | {r['batch1']['p50_ms']:.2f} | {r['batch1']['p95_ms']:.2f} | "
                             f"{_f(r.get('batch8', {}).get('clips_per_s'))} |")
    else:
        lines += [f"{NO_GPU}: {results['cuda']['why']}. The CUDA rows (Runtime fp32 and fp16 bundle with IO "
                  "binding, monolithic onnxruntime, PyTorch eager fp32/fp16) run when `nvidia-smi` finds a GPU "
                  "and onnxruntime's CUDA provider starts."]
    lines += ["", "## Targets", "", "| target | model | measured | verdict |", "|---|---|---|---|"]
    lines += [f"| {t} | {n} | {v} | {ok} |" for t, n, v, ok in targets(results)]
    lines += ["", "## Why: what this run measured behind each ratio", ""] + notes(results)
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["models"])
    rows = {n: dict(_rows(results["models"][n])) for n in names}
    labels = list(dict.fromkeys(lab for n in names for lab in rows[n]))  # a model may lack an int8 mode
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    width = 0.8 / len(labels)
    for k, lab in enumerate(labels):
        lat = [rows[n][lab]["batch1"]["p50_ms"] if lab in rows[n] else float("nan") for n in names]
        gfs = [achieved(results["models"][n], rows[n][lab]) if lab in rows[n] else float("nan") for n in names]
        xs = [i + (k - (len(labels) - 1) / 2) * width for i in range(len(names))]
        ax1.bar(xs, lat, width, label=lab)
        ax2.bar(xs, gfs, width, label=lab)
    limit = gemm_limit(results)
    ax2.axhline(limit, color="k", ls="--", lw=1, label=f"fp32 GEMM limit ({limit:.0f})")
    ax2.axhline(0.7 * limit, color="gray", ls=":", lw=1, label="70% of GEMM")
    for ax, title in ((ax1, "batch-1 latency p50 (ms, log)"), (ax2, "achieved GFLOP/s, batch 1")):
        ax.set_xticks(range(len(names)), names)
        ax.set_title(title)
    ax1.set_yscale("log")
    ax2.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{results['machine']['cpu']}, {results['machine']['threads']} threads, "
                 f"{results['machine']['date'][:10]}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_results(results: dict, out: Path) -> list[str]:
    """Write latency.md/.json/.png into `out`; returns the lines to print (the targets table)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "latency.json").write_text(json.dumps(results, indent=1, default=float) + "\n")
    md = markdown(results)
    (out / "latency.md").write_text(md)
    if results["models"]:
        plot(results, out / "latency.png")
    table = md[md.index("## CPU"):]
    return [table.rstrip(), f"wrote {out / 'latency.md'}, latency.json, latency.png"]


if __name__ == "__main__":  # regenerate latency.md / latency.png from a run's latency.json
    import sys

    src = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/latency.json")
    print("\n".join(write_results(json.loads(src.read_text()), src.parent)))
