"""Peak memory of decoding large clips: this tree, and optionally an older commit for comparison.

Each measurement is a fresh child process; its peak resident set size is VmHWM of /proc/self/status
(ru_maxrss would carry over the parent's peak across fork and exec), and it includes the interpreter,
numpy, PyAV and onnxruntime: about 60 MB for a small clip. The clips are written here with
PyAV (libx264, default preset, 10 frames of a smooth gradient that moves, so frames really differ):
4K UHD, 8K UHD and 8192 x 8192. For each clip: `load_views` of model A's preprocessing, and
`Runtime.classify` of two copies of it in one call (two decode threads, the CLI's default).

    python -m benchmarks.decode_memory [--baseline ae87351] [--out benchmarks/results/decode_memory.md]

`--baseline COMMIT` also measures that commit's runtime (exported with `git archive` to a temporary
folder and imported from there), so before and after come from one command.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL_A = ROOT / "models" / "bundles" / "ssv2_split_A_synth"
SIZES = {"4K UHD 3840x2160": (2160, 3840), "8K UHD 7680x4320": (4320, 7680), "8192x8192": (8192, 8192)}
FRAMES = 10
CHILD = """
import json, re, sys
from catsplit.runtime import Runtime, load_views, VideoError
from catsplit.runtime.bundle import load_bundle
what, bundle, clip = sys.argv[1:4]
try:
    if what == "load_views":
        load_views(clip, load_bundle(bundle).preprocess)
        result = "ok"
    else:
        preds = Runtime(bundle, provider="cpu").classify([clip, clip])
        result = "; ".join(p.error or "ok" for p in preds)
except (VideoError, MemoryError) as e:
    result = f"{type(e).__name__}: {e}"
peak_kib = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
print(json.dumps({"result": result, "peak_mib": peak_kib / 1024}))
"""


def write_clip(path: Path, height: int, width: int) -> Path:
    y = np.linspace(0, 160, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 80, width, dtype=np.float32)[None, :]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
        for i in range(FRAMES):
            luma = (y + x + 6 * i).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.stack([luma, luma[::-1], luma[:, ::-1]], axis=-1), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def exported(commit: str, into: Path) -> dict[str, str]:
    """Environment that imports `commit`'s catsplit packages (from `git archive`) instead of this tree's."""
    tree, shim = into / "tree", into / "shim" / "catsplit"
    tree.mkdir(parents=True)
    shim.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    for package in ("runtime", "compiler", "models"):
        (shim / package).symlink_to(tree / package)
    return {**os.environ, "PYTHONPATH": f"{shim.parent}{os.pathsep}{tree}"}


def measure(env: dict[str, str] | None, what: str, clip: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, what, str(MODEL_A), str(clip)], capture_output=True,
                          text=True, env=env, timeout=600)
    if proc.returncode != 0:
        return {"result": f"child exited {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}", "peak_mib": None}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", help="also measure this commit (e.g. ae87351)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "decode_memory.md")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    head = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                          text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = {name: write_clip(tmp / f"{h}x{w}.mp4", h, w) for name, (h, w) in SIZES.items()}
        trees = {f"this tree ({head})": None}
        if args.baseline:
            trees[f"{args.baseline} (before)"] = exported(args.baseline, tmp / "baseline")
        rows = []
        for name, clip in clips.items():
            for what in ("load_views", "classify x2"):
                for tree, env in trees.items():
                    m = measure(env, what, clip)
                    peak = f"{m['peak_mib']:.0f}" if m["peak_mib"] is not None else "-"
                    rows.append(f"| {name} ({clip.stat().st_size / 1e6:.2f} MB file) | {what} | {tree} | {peak} | "
                                f"{m['result'][:160]} |")
                    print(rows[-1], flush=True)
    text = "\n".join([
        "# Peak memory of decoding large clips",
        "",
        f"- command: `python -m benchmarks.decode_memory{' --baseline ' + args.baseline if args.baseline else ''}`",
        f"- date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores visible, python {platform.python_version()}, "
        f"PyAV {av.__version__}, load average before the run {load:.1f} (shared machine; memory figures do not "
        "depend on load)",
        f"- clips: {FRAMES} frames, libx264 default preset; preprocessing of model A (8 frames, resize 56, crop 48); "
        "threads: PyAV's choice per clip, 2 decode threads in classify",
        "- peak = the child process's VmHWM (MiB), whole process",
        "",
        "| clip | call | runtime | peak MiB | result |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ])
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
