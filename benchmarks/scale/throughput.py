"""Clips per second of one bundle over a folder of mp4s: `catsplit-run` (one process, the way a user
runs it), and the Ray Data job on a private local cluster or on local `ray start` nodes.

Each figure is wall time over the clips from the moment the work is asked for to the last answer:
catsplit-run's includes its start-up and model load; the Ray job's includes the actors' start-up
and model load but not starting the cluster, which is measured and reported on its own (a cluster
serves many jobs).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from catsplit.scale.ray_batch import JobConfig, classify
from catsplit.scale.ray_cluster import LocalNode, ray_session


def catsplit_run(bundle: str, videos: list[str]) -> dict:
    """`catsplit-run BUNDLE VIDEOS --json --provider cpu` in a subprocess; top-1 per video kept."""
    cmd = [str(Path(sys.executable).with_name("catsplit-run")), bundle, *videos, "--json", "--provider", "cpu"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"catsplit-run failed: {proc.stderr.strip()[-300:]}")
    top1 = {r["video"]: r["top_k"][0]["label"] for r in map(json.loads, proc.stdout.splitlines())}
    return {"clips": len(top1), "seconds": seconds, "clips_per_s": len(top1) / seconds, "top1": top1}


def _job(bundle: str, videos: list[str], out: Path, config: JobConfig) -> dict:
    import ray

    t0 = time.perf_counter()
    summary = classify(bundle, videos, out, config)
    seconds = time.perf_counter() - t0
    rows = pq.read_table(out).to_pylist()
    top1 = {r["path"]: r["top_k"][0]["label"] for r in rows if not r["error"]}
    return {"clips": summary["videos"], "errors": summary["errors"], "seconds": seconds,
            "clips_per_s": summary["videos"] / seconds, "nodes": len([n for n in ray.nodes() if n["Alive"]]),
            "cpus": ray.cluster_resources().get("CPU", 0), "top1": top1}


def ray_local(bundle: str, videos: list[str], out: Path, num_cpus: int, config: JobConfig) -> dict:
    """The job on a private local cluster of `num_cpus` CPUs (one node, started in this process)."""
    t0 = time.perf_counter()
    with ray_session(num_cpus=num_cpus, object_store_memory=1 << 30):
        start = time.perf_counter() - t0
        return {**_job(bundle, videos, out, config), "cluster_start_s": start}


def ray_nodes(bundle: str, videos: list[str], out: Path, nodes: int, config: JobConfig) -> dict:
    """The job on `nodes` local `ray start` nodes of one CPU each (a head and workers), joined by address."""
    t0 = time.perf_counter()
    head = LocalNode(num_cpus=1, object_store_memory=512 << 20).start()
    workers = []
    try:
        workers = [LocalNode(head.address, num_cpus=1, object_store_memory=512 << 20).start()
                   for _ in range(nodes - 1)]
        with ray_session(head.address):
            import ray

            while ray.cluster_resources().get("CPU", 0) < nodes:  # every worker registered
                time.sleep(0.2)
            start = time.perf_counter() - t0
            return {**_job(bundle, videos, out, config), "cluster_start_s": start}
    finally:
        for node in (*workers, head):
            node.stop()
