"""Scale-out benchmark: `python -m benchmarks.scale [--models model_a,vit_s] [--quick]`.

For each model: clips per second over the benchmark world's val set as mp4 through `catsplit-run`,
the Ray Data job on one local node (2 CPUs, the same CPUs catsplit-run had) and on two local
`ray start` nodes of one CPU each, with top-1 agreement between them; then how long a head swap takes
to reach a running Ray Serve deployment and a running Triton server (python backend). Writes
scale.md and scale.json to --out.
"""
from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import click

from benchmarks.latency.__main__ import cpu_name
from benchmarks.scale.report import write_results

RAY_NODES = 2


def log(msg: str) -> None:
    click.echo(msg, err=True)


def world_val(work: Path, per_label: int) -> list[str]:
    """The world's val clips as mp4 (first `per_label` clips of every label), written once."""
    from benchmarks.world.splits import WorldSplits
    from benchmarks.world.write_mp4 import read_index, write_clips

    out = work / f"world_val_{per_label}"
    if not (out / "clips.csv").is_file():
        log(f"writing {per_label} val clips per label as mp4 to {out}")
        splits = WorldSplits(seed=0, n_val=per_label)
        write_clips(splits, splits.clips("val"), out, progress=True)
    return [r["path"] for r in read_index(out / "clips.csv")]


def bundles_of(name: str, work: Path) -> tuple[str, str]:
    """(bundle, a bundle of the same backbone with another head): model A and its split of
    'Showing something with spatial relation' (MR, minilm), or ViT-S and the latency benchmark's
    second head."""
    if name == "model_a":
        from catsplit.compiler.compile import compile_split
        from catsplit.compiler.options import SplitOptions
        from catsplit.runtime.bundle import load_bundle
        from benchmarks.latency.models import MODEL_A

        edited = work / "model_a_split"
        if not (edited / "bundle.json").is_file():
            target = "Showing something with spatial relation"
            subs = load_bundle(MODEL_A).groups[target]
            compile_split(MODEL_A, {"split": target, "into": [{"label": s} for s in subs]}, edited,
                          SplitOptions(method="mr"))
        return str(MODEL_A), str(edited)
    from benchmarks.latency.models import SPECS, prepare

    info = prepare(SPECS[name], work.parent / "latency" / name, log=log)  # shared with the latency benchmark
    return info["bundle"], info["bundle_head2"]


def bench_model(name: str, videos: list[str], work: Path, swaps: int) -> dict:
    from benchmarks.scale import swap, throughput
    from catsplit.scale.ray_batch import JobConfig

    bundle, edited = bundles_of(name, work)
    res: dict = {"bundle": bundle, "edited": edited, "clips": len(videos)}
    log(f"[{name}] catsplit-run over {len(videos)} clips")
    res["catsplit_run"] = throughput.catsplit_run(bundle, videos)
    log(f"[{name}] Ray Data, one local node")
    res["ray_1_node"] = throughput.ray_local(bundle, videos, work / f"{name}_1.parquet", 2, JobConfig())
    log(f"[{name}] Ray Data, {RAY_NODES} local nodes of one CPU")
    res[f"ray_{RAY_NODES}_nodes"] = throughput.ray_nodes(bundle, videos, work / f"{name}_2.parquet", RAY_NODES,
                                                          JobConfig())
    base = res["catsplit_run"].pop("top1")
    for key in ("ray_1_node", f"ray_{RAY_NODES}_nodes"):
        top1 = res[key].pop("top1")
        res[key]["top1_agreement"] = sum(top1.get(v) == label for v, label in base.items()) / len(base)
    log(f"[{name}] head swap under Ray Serve")
    res["serve_swap"] = swap.serve([bundle, edited], videos[0], swaps)
    log(f"[{name}] head swap on Triton")
    res["triton_swap"] = swap.triton([bundle, edited], videos[0], swaps, work / f"triton_{name}")
    return res


@click.command()
@click.option("--models", default="model_a,vit_s", show_default=True,
              help="Comma-separated: model_a (the shipped bundle) and/or vit_s (the latency benchmark's ViT-S).")
@click.option("--per-label", type=click.IntRange(min=1), default=16, show_default=True,
              help="Val clips per label for model A (16 = the whole val set, 1536 clips).")
@click.option("--vit-clips", type=click.IntRange(min=1), default=96, show_default=True,
              help="Clips for ViT-S: the first val clip of each label, up to this many.")
@click.option("--swaps", type=click.IntRange(min=1), default=5, show_default=True, help="Head swaps timed (median).")
@click.option("--quick", is_flag=True, help="Smoke run: 1 clip per label, 8 ViT-S clips, 1 swap.")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Work folder (default: $CATSPLIT_CACHE/scale).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("benchmarks/results"),
              show_default=True)
def main(models: str, per_label: int, vit_clips: int, swaps: int, quick: bool, work: Path | None, out: Path) -> None:
    """Measure and write scale.md / scale.json."""
    import onnxruntime
    import ray

    from catsplit.compiler.text_encoder import cache_root
    from catsplit.scale.ray_cluster import LocalNode

    os.environ.update(LocalNode.auth_env)  # throwaway clusters: no token written to ~/.ray
    if quick:
        per_label, vit_clips, swaps = 1, 8, 1
    work = work or cache_root() / "scale"
    work.mkdir(parents=True, exist_ok=True)
    names = [m.strip() for m in models.split(",") if m.strip()]
    started, load_before = time.time(), os.getloadavg()
    all_val = world_val(work, per_label)
    first_per_label = world_val(work, 1)
    results = {
        "command": ("python -m benchmarks.scale " + shlex.join(sys.argv[1:])).strip(),
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(),
                    "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "load_before": load_before, "python": platform.python_version(),
                    "ray": ray.__version__, "onnxruntime": onnxruntime.__version__, "tritonserver": "2.51.0"},
        "models": {},
    }
    for name in names:
        videos = all_val if name == "model_a" else first_per_label[:vit_clips]
        results["models"][name] = bench_model(name, videos, work, swaps)
    results["machine"]["load_after"] = os.getloadavg()
    results["machine"]["minutes"] = (time.time() - started) / 60
    write_results(results, out)
    log(f"wrote {out / 'scale.md'} and {out / 'scale.json'}")


if __name__ == "__main__":
    main()
