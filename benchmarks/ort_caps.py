"""Which ONNX IR version and default-domain opset each onnxruntime release loads.

For each version: `pip download` its CPU wheel (the IR/opset support is the core's, the same in
onnxruntime-gpu), unpack it, and in a child process load one-node probe models (Relu) stamped with IR
7..14 (at opset 17) and opsets 13..27 (at the highest IR that loads). The bundle writers' caps
(models/onnx_io.py) must not exceed what the runtime's floor (pyproject.toml) loads.

    python -m benchmarks.ort_caps [--versions 1.20.0 1.21.0 ...] [--out benchmarks/results/ort_caps.md]
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from catsplit.models.onnx_io import MAX_IR_VERSION, MAX_OPSET

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = ["1.20.0", "1.21.0", "1.22.0", "1.23.0", "1.24.1", "1.25.0", "1.26.0", "1.27.0", "1.28.0", "1.29.0",
            "1.30.0", "1.31.1"]
IRS, OPSETS = range(7, 15), range(13, 28)
CHILD = """
import json, sys
import numpy as np, onnxruntime as ort
def loads(path):
    so = ort.SessionOptions(); so.log_severity_level = 4
    try:
        s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        return bool((s.run(None, {"x": -np.ones((1, 4), np.float32)})[0] == 0).all())
    except Exception:
        return False
probes = sys.argv[1]
ir = max((i for i in range(7, 15) if loads(f"{probes}/ir{i}_op17.onnx")), default=None)
opset = max((o for o in range(13, 28) if loads(f"{probes}/ir{ir}_op{o}.onnx")), default=None)
print(json.dumps({"version": ort.__version__, "ir": ir, "opset": opset}))
"""


def probes(into: Path) -> Path:
    into.mkdir()
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    for ir in IRS:
        for opset in OPSETS:
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
            model.ir_version = ir
            onnx.save(model, str(into / f"ir{ir}_op{opset}.onnx"))
    return into


def measure(version: str, tmp: Path, probe_dir: Path) -> dict:
    wheels = tmp / f"wheel-{version}"
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    f"onnxruntime=={version}", "-d", str(wheels)], check=True)
    site = tmp / f"site-{version}"
    with zipfile.ZipFile(next(wheels.glob("*.whl"))) as whl:
        whl.extractall(site)
    out = subprocess.run([sys.executable, "-c", CHILD, str(probe_dir)], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--versions", nargs="+", default=VERSIONS)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ort_caps.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        probe_dir = probes(tmp / "probes")
        rows = []
        for version in args.versions:
            m = measure(version, tmp, probe_dir)
            rows.append(f"| {m['version']} | {m['ir']} | {m['opset']} |")
            print(rows[-1], flush=True)
    args.out.write_text("\n".join([
        "# ONNX IR version and opset each onnxruntime loads",
        "",
        f"- command: `python -m benchmarks.ort_caps{' --versions ' + ' '.join(args.versions) if args.versions != VERSIONS else ''}`",
        f"- date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
        f"- machine: {platform.machine()}, python {platform.python_version()}; CPU wheels from PyPI "
        "(the same core as onnxruntime-gpu of that version)",
        f"- probe: one Relu node; highest IR version in {IRS.start}..{IRS.stop - 1} that loads at opset 17, then "
        f"highest opset in {OPSETS.start}..{OPSETS.stop - 1} that loads at that IR",
        f"- the bundle writers' caps (models/onnx_io.py): IR {MAX_IR_VERSION}, opset {MAX_OPSET}",
        "",
        "| onnxruntime | highest IR version | highest opset (ai.onnx) |",
        "|---|---|---|",
        *rows,
        "",
    ]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
