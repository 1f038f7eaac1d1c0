"""One streaming run in a fresh process: `python -m benchmarks.streaming.worker JOB_JSON` prints a JSON line.

A job runs `N` sources of one file through one StreamRunner, as a camera box would: `realtime` files
are paced at their frame rate (live sources: stale windows are dropped), otherwise read as fast as
they decode (nothing dropped). Live streams start `stride / N` apart, so their windows fall due at
different times, as independent cameras' do. With `swap`, a thread deploys the two heads in turn to a
`current` link every `swap.every` seconds and the runner's watcher (polling) swaps them in.
`start_at` (time.time()) lets several workers start together.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path


def main(job: dict) -> dict:
    from benchmarks.latency.worker import rss_mib
    from catsplit.runtime.session import Runtime
    from catsplit.runtime.stream import Source, StreamOptions, StreamRunner
    from catsplit.runtime.stream.deploy import deploy

    tmp = Path(tempfile.mkdtemp(prefix="catsplit-stream-bench-"))
    bundle = job["bundle"]
    swap = job.get("swap")
    if swap:
        bundle = tmp / "current"
        deploy(swap["heads"][0], bundle)
    rt = Runtime(bundle, provider=job.get("provider", "cpu"), threads=job["threads"])
    n = job["streams"]
    sources = [Source(f"cam{i}", job["file"], realtime=job["realtime"]) for i in range(n)]
    options = StreamOptions(window=job.get("window"), stride=job["stride"], top_k=1, max_pending=job["max_pending"],
                            batch_size=job["batch"], watch=bundle if swap else None, poll=swap["poll"] if swap else 1.0)
    runner = StreamRunner(rt, sources, options)
    if job.get("start_at"):
        time.sleep(max(0.0, job["start_at"] - time.time()))
    t0, cpu0 = time.time(), resource.getrusage(resource.RUSAGE_SELF)
    runner.started = True  # started here instead of runner.start(), to stagger the readers
    if runner.watcher is not None:
        runner.watcher.start()
    stagger = job["stride"] / n if job["realtime"] else 0.0
    for i, reader in enumerate(runner.readers):
        threading.Timer(i * stagger, reader.start).start()
    swapper = _swapper(swap, bundle) if swap else None
    docs = []
    for doc in runner:
        if doc["type"] == "window":
            docs.append({"s": doc["stream"], "i": doc["index"], "lat": doc["latency_ms"], "t": time.time(),
                         "b": doc["batch"], "e": doc["edit_id"], "start": doc["start"], "end": doc["end"],
                         "ws": doc["wall_start"], "we": doc["wall_end"]})
        elif doc["type"] in ("reload", "error", "head"):
            docs.append({"type": doc["type"], "t": time.time(), **{k: doc.get(k) for k in ("edit_id", "error")}})
        elif doc["type"] == "summary":
            summary = doc
    t1, cpu1 = time.time(), resource.getrusage(resource.RUSAGE_SELF)
    if swapper:
        swapper.set()
    cutter = runner.readers[0].cutter
    return {"window": str(cutter.window), "stride": str(cutter.stride), "rate": str(runner.readers[0].rate),
            "t0": t0, "t1": t1, "wall_s": t1 - t0,
            "cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
            "rss_mib": rss_mib(), "docs": docs, "summary": summary}


def _swapper(swap: dict, link: Path) -> threading.Event:
    """Deploy the heads in turn every `every` seconds until the returned event is set."""
    from catsplit.runtime.stream.deploy import deploy

    done = threading.Event()

    def run() -> None:
        k = 1
        while not done.wait(swap["every"]):
            deploy(swap["heads"][k % 2], link)
            k += 1
    threading.Thread(target=run, daemon=True).start()
    return done


if __name__ == "__main__":
    job = json.loads(sys.argv[1])
    os.environ.setdefault("OMP_NUM_THREADS", str(job["threads"]))
    print(json.dumps(main(job)))
