"""Micro benchmark: how long one split edit takes with MR and with MA on a 174-class head (CPU).

The head has the 174 SSv2 labels as rows (D = 384, ViT-S width; rows drawn from a seeded normal
distribution, so the numbers measure the compiler, not a particular model) and bundle.json carries the
SSv2-Split group scheme. The text encoder (built-in minilm) is loaded once before timing, as in a
long-running compile service. Each method runs `--repeats` times with the embedding cache off (every
text encoded again: the worst case) and with it on and warm (the common case). Each compile is the full library call: checks,
dictionary, method, splice, verification and the atomic write.

    python -m benchmarks.compile_speed [--repeats 3] [--out benchmarks/results/compile_speed.md]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from catsplit.compiler.compile import compile_split
from catsplit.compiler.options import SplitOptions
from catsplit.compiler.text_encoder import load_text_encoder
from catsplit.models.head import make_head
from catsplit.models.onnx_io import save_onnx
from catsplit.runtime.bundle import Bundle, Preprocess, write_bundle

DATA = Path(__file__).resolve().parent / "world" / "data"
DIM = 384
SPEC = {"split": "Hitting something with something",
        "into": [{"label": "Hitting something with something so that it moves"},
                 {"label": "Hitting something with something so that it breaks"},
                 {"label": "Hitting something with something without any effect"}]}


def head_bundle(root: Path) -> Bundle:
    """A 174-class bundle; the backbone file is a placeholder copy of the head (never run here)."""
    labels = (DATA / "ssv2_labels.txt").read_text().splitlines()
    groups = json.loads((DATA / "ssv2_split_group_scheme.json").read_text())["group_scheme"]
    rng = np.random.default_rng(0)
    head = root / "head.onnx"
    save_onnx(make_head(rng.standard_normal((len(labels), DIM)) / np.sqrt(DIM), rng.standard_normal(len(labels))),
              head)
    bundle = Bundle(path=root / "b", labels=labels, feature_dim=DIM, files={}, groups=groups,
                    preprocess=Preprocess(num_frames=16, crop=224, resize=256))
    return write_bundle(bundle, root / "b", {"backbone.onnx": head, "head.onnx": head})


def run(repeats: int) -> dict[str, dict]:
    encoders = {"uncached": load_text_encoder("minilm", cache=False), "cached": load_text_encoder("minilm")}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = head_bundle(Path(tmp))
        for method in ("mr", "ma"):
            r: dict = {}
            for kind, encoder in encoders.items():
                walls, steps = [], []
                for i in range(repeats):
                    t = time.perf_counter()
                    rep = compile_split(src.path, SPEC, Path(tmp) / f"{method}-{kind}-{i}",
                                        SplitOptions(method=method, text_encoder=encoder))
                    walls.append(time.perf_counter() - t)
                    steps.append(rep.record.timings[method])
                r[kind] = (statistics.median(walls), max(walls))
                r["method_s"] = statistics.median(steps)
                r["epochs"] = rep.record.alignment.epochs if rep.record.alignment else None
            results[method] = r
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/compile_speed.md"))
    args = ap.parse_args(argv)
    load = os.getloadavg()[0]
    res = run(args.repeats)
    lines = [
        "# Compile speed (one split edit, 174-class head, D = 384)",
        "",
        f"- command: `python -m benchmarks.compile_speed --repeats {args.repeats}`",
        f"- date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
        f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores visible, "
        f"torch {torch.__version__} (MA/low-shot training on 1 torch thread), python {platform.python_version()}, "
        f"load average before the run {load:.1f} (shared machine)",
        "- text encoder: minilm (loaded before timing); split into 3 subcategories; limits: MR < 2 s, MA < 30 s",
        "",
        "| method | no embedding cache: median / max (s) | embedding cache warm: median / max (s) "
        "| MR or MA step alone (s) | MA epochs |",
        "|---|---|---|---|---|",
    ]
    for m, r in res.items():
        lines.append(f"| {m.upper()} | {r['uncached'][0]:.2f} / {r['uncached'][1]:.2f} | "
                     f"{r['cached'][0]:.2f} / {r['cached'][1]:.2f} | {r['method_s']:.2f} | {r['epochs'] or '-'} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if res["mr"]["cached"][1] >= 2 or res["ma"]["cached"][1] >= 30:  # the uncached MR time is the encoder's
        sys.exit("compile_speed: over the limit")


if __name__ == "__main__":
    main()
