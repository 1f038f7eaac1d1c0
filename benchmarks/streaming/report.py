"""The streaming results: streaming.md (with the issue's targets) and streaming.json."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np

TITLES = {"model_a": "model A", "vit_s": "ViT-S/16"}


def windows(run: dict) -> list[dict]:
    return [d for d in run["docs"] if "lat" in d]


def counts(run: dict) -> dict:
    """Windows classified, dropped (stale), short; expected = the windows the frames received span
    (floor((duration - window) / stride) + 1 per stream); lost = expected but none of those."""
    s = run["summary"]["streams"]
    done = len(windows(run))
    dropped = sum(v["dropped"] for v in s.values())
    short = sum(v["short"] for v in s.values())
    window, stride, rate = (Fraction(run[k]) for k in ("window", "stride", "rate"))
    expected = sum(int((v["frames"] / rate - window) // stride) + 1 for v in s.values())
    return {"windows": done, "dropped": dropped, "short": short, "expected": expected,
            "lost": expected - done - dropped - short, "drop_pct": 100 * dropped / max(1, done + dropped)}


def lag(run: dict) -> float:
    """How far the readers fell behind the streams' own clocks by the end, s: for each stream, the
    arrival of its last window's last frame, measured from its first frame's, minus that window's end
    in stream time. About 0 when decoding keeps up; it grows when frames arrive later than a camera
    sends them (a camera's frames would pile up in the network buffers instead)."""
    first, worst = {}, 0.0
    for d in windows(run):
        first.setdefault(d["s"], d["ws"] - d["start"])
        worst = max(worst, (d["we"] - first[d["s"]]) - d["end"])
    return worst


def sustained(run: dict, stride: float) -> bool:
    """Under 1% of windows dropped, and the readers kept up with real time (lag under one stride)."""
    return counts(run)["drop_pct"] < 1 and lag(run) < stride


def latency(run: dict) -> dict:
    lat = np.array([d["lat"] for d in windows(run)])
    return {"p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
            "max_ms": float(lat.max())} if len(lat) else {}


def where(run: dict) -> dict:
    """CPU per frame (decode, preprocess) and per window (backbone, head), and the process's CPU use."""
    s = run["summary"]
    frames = sum(v["frames"] for v in s["streams"].values())
    n = max(1, s["windows"])
    return {"decode_ms_frame": 1e3 * sum(v["decode_cpu_s"] for v in s["streams"].values()) / max(1, frames),
            "prep_ms_frame": 1e3 * sum(v["preprocess_cpu_s"] for v in s["streams"].values()) / max(1, frames),
            "decode_s": sum(v["decode_cpu_s"] for v in s["streams"].values()),
            "prep_s": sum(v["preprocess_cpu_s"] for v in s["streams"].values()),
            "backbone_s": s["backbone_s"], "head_s": s["head_s"], "backbone_ms_window": 1e3 * s["backbone_s"] / n,
            "cpu_s": run["cpu_s"], "wall_s": run["wall_s"], "mean_batch": s["mean_batch"], "frames": frames}


def throughput(runs: list[dict]) -> dict:
    t0, t1 = min(r["t0"] for r in runs), max(r["t1"] for r in runs)
    n = sum(len(windows(r)) for r in runs)
    return {"windows": n, "wall_s": t1 - t0, "windows_per_s": n / (t1 - t0),
            "start_spread_s": max(r["t0"] for r in runs) - t0, "rss_mib": sum(r["rss_mib"] for r in runs)}


def swap_gaps(run: dict) -> dict:
    """The gaps between consecutive results that span a reload (the swap happened between them), vs
    the other gaps; and the head events."""
    ts = np.array([d["t"] for d in windows(run)])
    reloads = [d["t"] for d in run["docs"] if d.get("type") == "reload"]
    gaps = np.diff(ts)
    spans = np.array([any(a < r <= b for r in reloads) for a, b in zip(ts[:-1], ts[1:])], bool)
    return {"reloads": len(reloads), "errors": sum(1 for d in run["docs"] if d.get("type") == "error"),
            "head_events": sum(1 for d in run["docs"] if d.get("type") == "head"),
            "max_gap_swap_s": float(gaps[spans].max()) if spans.any() else None,
            "max_gap_else_s": float(gaps[~spans].max()) if (~spans).any() else None,
            "median_gap_s": float(np.median(gaps)) if len(gaps) else None,
            "edit_ids": sorted({d["e"] for d in windows(run)})}


def _f(x, digits: int = 1) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def batching(res: dict) -> dict:
    b, s = throughput([res["batched"]]), throughput(res["separate"])
    return {"batched": {**b, **where(res["batched"])}, "separate": s, "ratio": b["windows_per_s"] / s["windows_per_s"],
            "n": len(res["separate"])}


def summarise(results: dict) -> dict:
    out = {}
    for name, res in results["models"].items():
        m = {"latency": {**latency(res["latency"]), **counts(res["latency"]), **where(res["latency"])},
             "swap": {**swap_gaps(res["swap"]), **counts(res["swap"])}}
        if "concurrency" in res:
            m["concurrency"] = [{"streams": len(r["summary"]["streams"]), **counts(r), **latency(r), **where(r),
                                 "lag_s": lag(r), "sustained": sustained(r, results["stride"])}
                                for r in res["concurrency"]]
            ok = [c["streams"] for c in m["concurrency"] if c["sustained"]]
            m["sustained"] = max(ok) if ok else 0
            m["all_sustained"] = len(ok) == len(m["concurrency"])
            m["batched"] = batching(res)
        if "gpu" in res:
            m["gpu"] = {"latency": {**latency(res["gpu"]["latency"]), **counts(res["gpu"]["latency"])}}
            if "batched" in res["gpu"]:
                m["gpu"]["batched"] = batching(res["gpu"])
        out[name] = m
    return out


def write_results(results: dict, out: Path) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    results["summary"] = summarise(results)
    (out / "streaming.json").write_text(json.dumps(_without_windows(results), indent=1) + "\n", encoding="utf-8")
    md = markdown(results)
    (out / "streaming.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    return md


def _without_windows(doc):
    """The results without each run's per-window records (the summary keeps what they gave)."""
    if isinstance(doc, dict):
        return {k: _without_windows(v) for k, v in doc.items() if k != "docs"}
    if isinstance(doc, list):
        return [_without_windows(v) for v in doc]
    return doc


def markdown(results: dict) -> list[str]:
    mach, summ = results["machine"], results["summary"]
    dur = results["clips"] * 16 / results["fps"]
    cuda = mach["cuda"]
    lines = ["# Live streams: latency, capacity, batching, hot swap", "",
             f"- Command: `{results['command']}`",
             f"- Machine: {mach['cpu']}, {mach['cores']} cores; onnxruntime threads: {mach['threads']} in "
             f"one-process runs, 1 per process in the separate-process runs; decoding: one thread per stream",
             f"- Date: {mach['date']}; load average (1, 5, 15 min) before: {_load(mach['load_before'])}, after: "
             f"{_load(mach['load_after'])}; the whole run took {results['wall_s'] / 60:.1f} min",
             f"- onnxruntime {mach['onnxruntime']}, PyAV {mach['av']} (libavcodec {mach['ffmpeg']}), "
             f"numpy {mach['numpy']}, Python {mach['python']}",
             f"- Stream: the {results['clips']} shipped sample clips scaled to 320x240, H.264 at {results['fps']} fps, "
             f"{dur:.2f} s (benchmarks/streaming/media.py), read by `catsplit.runtime.stream` as a file source: "
             "live runs pace it at its frame rate (stale windows dropped, at most 2 waiting per stream), fast runs "
             "read it as fast as it decodes. Stride 0.5 s; windows of the bundle's default length (2 x num_frames "
             "frames: model A 0.64 s, ViT-S 1.28 s). Live streams start stride/N apart, as independent cameras would.",
             "- Latency = time.monotonic() from the window's last frame decoded to its result computed "
             "(waiting for the backbone, the window tensor, backbone and head).",
             "- CPU s per stage: decode (demux, H.264, RGB conversion) and preprocess (resize, crop, normalise, window "
             "tensors) are the reader threads' CPU time; backbone and head are wall time of their runs (the "
             "backbone on up to the onnxruntime threads).", ""]
    lines += ["## Latency, one live stream (CPU)", "",
              "| model | windows | dropped | p50 ms | p95 ms | max ms | backbone ms / window | process CPU % |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m in summ.items():
        lat = m["latency"]
        lines.append(f"| {TITLES[name]} | {lat['windows']} | {lat['dropped']} | {_f(lat.get('p50_ms'))} | "
                     f"{_f(lat.get('p95_ms'))} | {_f(lat.get('max_ms'))} | {_f(lat['backbone_ms_window'])} | "
                     f"{_f(100 * lat['cpu_s'] / lat['wall_s'] / mach['cores'], 0)} |")
    lines.append("")
    if "model_a" in summ and "concurrency" in summ["model_a"]:
        lines += _concurrency(summ["model_a"], results["quick"], mach)
        lines += _batching(summ["model_a"]["batched"], "CPU")
    lines += ["## Hot swap while streaming (CPU)", "",
              "Two heads of one backbone deployed in turn every 2 s (`catsplit deploy` to the `current` link; the "
              "runner's watcher polls every 0.1 s), one live stream. Lost = windows the stream's frames span "
              "(floor((duration - window) / stride) + 1) that were neither classified nor counted as dropped or "
              "short. Gaps are between consecutive results (nominal: the stride); a gap spans a swap when the new "
              "head was loaded between its two results.", "",
              "| model | swaps | refused | windows | lost | dropped | longest gap spanning a swap, s | "
              "longest other gap, s | median gap, s |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m in summ.items():
        s = m["swap"]
        lines.append(f"| {TITLES[name]} | {s['reloads']} | {s['errors']} | {s['windows']} | {s['lost']} | "
                     f"{s['dropped']} | {_f(s['max_gap_swap_s'], 3)} | {_f(s['max_gap_else_s'], 3)} | "
                     f"{_f(s['median_gap_s'], 3)} |")
    lines += ["", "Target: 0 windows lost.", "", "## GPU", ""]
    if not cuda["available"]:
        return lines + [f"Not measured: no CUDA device ({cuda['why']})."]
    for name, m in summ.items():
        if "gpu" in m:
            lat = m["gpu"]["latency"]
            lines += [f"{TITLES[name]} on {cuda['gpu']}: one live stream, latency p50 {_f(lat.get('p50_ms'))} ms, "
                      f"p95 {_f(lat.get('p95_ms'))} ms, {lat['dropped']} of {lat['windows'] + lat['dropped']} "
                      "windows dropped.", ""]
            if "batched" in m["gpu"]:
                lines += _batching(m["gpu"]["batched"], "CUDA")
    return lines


def _concurrency(a: dict, quick: bool, mach: dict) -> list[str]:
    tried = [c["streams"] for c in a["concurrency"]]
    verdict = ("quick run: only up to 4 streams tried" if quick else "met" if a["sustained"] >= 8 else "missed")
    most = f"at least {a['sustained']}" if a["all_sustained"] else str(a["sustained"])
    lines = ["## Concurrent live streams, model A (CPU)", "",
             f"Target: at least 8 streams with under 1% of windows dropped. **Sustained: {most} streams** "
             f"({verdict}); counts tried: {', '.join(map(str, tried))}, stopping at the first not sustained. "
             "Sustained = under 1% of windows dropped and the readers kept up with the streams' frame rate "
             "(lag: how late the last frame arrived against the stream's own clock, under one stride).",
             "", "| streams | windows | dropped % | lag s | p50 ms | p95 ms | mean batch | decode ms/frame | "
             "preprocess ms/frame | backbone ms/window | process CPU % | CPU s: decode / preprocess / backbone |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for c in a["concurrency"]:
        lines.append(f"| {c['streams']} | {c['windows']} | {_f(c['drop_pct'], 2)} | {_f(c['lag_s'], 2)} | "
                     f"{_f(c.get('p50_ms'))} | "
                     f"{_f(c.get('p95_ms'))} | {_f(c['mean_batch'], 2)} | {_f(c['decode_ms_frame'], 2)} | "
                     f"{_f(c['prep_ms_frame'], 2)} | {_f(c['backbone_ms_window'], 2)} | "
                     f"{_f(100 * c['cpu_s'] / c['wall_s'] / mach['cores'], 0)} | "
                     f"{c['decode_s']:.1f} / {c['prep_s']:.1f} / {c['backbone_s']:.1f} |")
    last = a["concurrency"][-1]
    work = last["decode_s"] + last["prep_s"] + last["backbone_s"]
    return lines + ["", f"Where the time goes at {last['streams']} streams: decoding {last['decode_s']:.1f} s "
                    f"({100 * last['decode_s'] / work:.0f}%), preprocessing {last['prep_s']:.1f} s "
                    f"({100 * last['prep_s'] / work:.0f}%), backbone {last['backbone_s']:.1f} s "
                    f"({100 * last['backbone_s'] / work:.0f}%), head {last['head_s']:.2f} s; the process used "
                    f"{last['cpu_s']:.1f} CPU s in {last['wall_s']:.1f} s.", ""]


def _batching(b: dict, where_: str) -> list[str]:
    n, bb = b["n"], b["batched"]
    work = bb["decode_s"] + bb["prep_s"] + bb["backbone_s"]
    return [f"## {n} streams, batched in one process vs {n} processes (model A, {where_}, read as fast as they "
            "decode)", "", "| how | windows | wall s | windows/s | mean batch | peak RSS MiB (all processes) |",
            "|---|---:|---:|---:|---:|---:|",
            f"| one process, batched | {bb['windows']} | {bb['wall_s']:.2f} | {bb['windows_per_s']:.1f} | "
            f"{bb['mean_batch']:.2f} | {bb['rss_mib']:.0f} |",
            f"| {n} processes, 1 thread each | {b['separate']['windows']} | {b['separate']['wall_s']:.2f} | "
            f"{b['separate']['windows_per_s']:.1f} | 1 | {b['separate']['rss_mib']:.0f} |", "",
            f"Batched / separate: **{b['ratio']:.2f}x** (target >= 1.5x at N = 8: "
            f"{'met' if b['ratio'] >= 1.5 else 'missed'}). The processes started within "
            f"{b['separate']['start_spread_s'] * 1e3:.0f} ms of each other. In the batched process decoding and "
            f"preprocessing took {100 * (bb['decode_s'] + bb['prep_s']) / work:.0f}% of the time "
            f"(decode {bb['decode_s']:.1f} s, preprocess {bb['prep_s']:.1f} s, backbone {bb['backbone_s']:.1f} s): "
            "batching only shares backbone runs, and N processes decode in parallel without sharing one "
            "interpreter lock.", ""]


def _load(load) -> str:
    return ", ".join(f"{x:.2f}" for x in load)
