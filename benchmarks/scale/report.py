"""scale.md and scale.json from the benchmark's results."""
from __future__ import annotations

import json
from pathlib import Path

TARGET_RATIO = 0.8  # Ray Data on one node vs catsplit-run, same CPUs, ViT-S bundle
TITLES = {"model_a": "Model A (CatNet-S, shipped bundle)", "vit_s": "ViT-S/16 (the latency benchmark's bundle)"}


def write_results(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    m = results["machine"]
    (out / "scale.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    lines = ["# Scale-out: catsplit-run, Ray Data, Ray Serve, Triton", "",
             f"- Command: `{results['command']}`",
             f"- Machine: {m['cpu']}, {m['cores']} cores, shared: load average (1/5/15 min) before "
             f"{'/'.join(f'{x:.1f}' for x in m['load_before'])}, after {'/'.join(f'{x:.1f}' for x in m['load_after'])}",
             f"- Date {m['date']}; the run took {m['minutes']:.1f} min; Python {m['python']}, Ray {m['ray']}, "
             f"onnxruntime {m['onnxruntime']}, tritonserver {m['tritonserver']} (nvidia-pytriton, python backend)",
             "- Threads: onnxruntime's default everywhere (one intra-op thread per core); catsplit-run decodes in "
             "2 threads beside it, the Ray job in one decoding task per free CPU beside one inference actor "
             "(1 CPU reserved, onnxruntime threads as catsplit-run).",
             "- Clips: the benchmark world's val set written as H.264 mp4 (56 x 56, 16 frames); ViT-S takes the "
             "first val clip of each label.",
             "- clips/s = clips / wall time from asking to the last answer: catsplit-run's includes its process "
             "start and model load, the Ray job's its actors' start and model load, not the cluster's start "
             "(listed apart).",
             *([f"- **The machine was busy** (load average {m['load_before'][0]:.1f} on {m['cores']} cores): each "
                "figure is then the share of a contended machine a configuration got, and Ray's many processes "
                "and threads get a larger share than one catsplit-run process. Compare the engines only on a "
                "rerun on a quiet machine."] if m["load_before"][0] > m["cores"] else []), "",
             "## Throughput", "",
             "| model | clips | catsplit-run clips/s | Ray Data, 1 node (2 CPUs) clips/s | Ray / catsplit-run | "
             "Ray Data, 2 nodes x 1 CPU clips/s | top-1 agreement with catsplit-run (1 / 2 nodes) | "
             "cluster start s (1 / 2 nodes) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    verdicts = []
    for name, r in results["models"].items():
        cr, r1, r2 = r["catsplit_run"], r["ray_1_node"], r["ray_2_nodes"]
        ratio = r1["clips_per_s"] / cr["clips_per_s"]
        lines.append(f"| {TITLES.get(name, name)} | {r['clips']} | {cr['clips_per_s']:.2f} | {r1['clips_per_s']:.2f} | "
                     f"{ratio:.2f}x | {r2['clips_per_s']:.2f} | {r1['top1_agreement']:.1%} / "
                     f"{r2['top1_agreement']:.1%} | {r1['cluster_start_s']:.1f} / {r2['cluster_start_s']:.1f} |")
        if name == "vit_s":
            verdicts.append(f"- Target Ray Data >= {TARGET_RATIO}x catsplit-run on one node (ViT-S): {ratio:.2f}x, "
                            + ("met." if ratio >= TARGET_RATIO else "missed."))
    lines += ["", *verdicts, "",
              "## Head swap reaching a running service", "",
              "Median of the swaps (alternating between the bundle and its edit). Serve: `deploy(edited)` with the "
              "same ServeConfig (a user-config change, so replicas reconfigure and swap the head) until a POST "
              "answers with the new edit id. Triton: `update_repository` (new head version) + `load_model` of the "
              "ensemble until an answer comes from the new head.", "",
              "| model | Serve: deploy call s | Serve: first answer from the new head s | Triton: new version "
              "written s | Triton: load_model s | Triton: first answer s |",
              "|---|---:|---:|---:|---:|---:|"]
    for name, r in results["models"].items():
        s, t = r["serve_swap"], r["triton_swap"]
        lines.append(f"| {TITLES.get(name, name)} | {s['deploy_s']:.2f} | {s['reach_s']:.2f} | {t['update_s']:.2f} | "
                     f"{t['load_s']:.2f} | {t['reach_s']:.2f} |")
    (out / "scale.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
