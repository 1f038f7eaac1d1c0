"""The runtime runs with only its own dependencies (numpy, onnxruntime, av, click).

A child interpreter gets an import hook that refuses torch, onnx, tokenizers, transformers and their
kin, and the scale-out engines (ray, tritonclient, pyarrow), then runs `catsplit run` end to end on a
real bundle and mp4: neither the compiler's packages nor catsplit.scale are imported.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests import tiny_bundle as T
from tests.runtime_fixtures import provider_here
from tests import videos as V

BLOCKED = ("torch", "torchvision", "onnx", "onnxscript", "tokenizers", "transformers", "tqdm", "ray",
           "tritonclient", "pyarrow")

CHILD = textwrap.dedent("""
    import importlib.abc, json, sys

    BLOCKED = {blocked!r}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked: the runtime must not need it")
            return None

    sys.meta_path.insert(0, Block())
    from catsplit.runtime.cli import catsplit
    try:
        catsplit.main(sys.argv[1:], prog_name="catsplit")
    except SystemExit as e:
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED or m.startswith(
            ("catsplit.compiler", "catsplit.models", "catsplit.scale")))
        print(json.dumps({{"exit": e.code, "loaded": loaded}}), file=sys.stderr)
        raise
""").format(blocked=BLOCKED)


def _child(*args: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=120)
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    return proc, report


def test_runtime_runs_without_compiler_dependencies(tmp_path):
    bundle = T.make_bundle(tmp_path / "bundle")
    video = V.normal_video(tmp_path / "v.mp4")
    proc, report = _child("run", str(bundle.path), str(video), "--json", "--views", "2x3")
    assert proc.returncode == 0 and report == {"exit": 0, "loaded": []}, proc.stderr
    (line,) = proc.stdout.splitlines()
    pred = json.loads(line)
    assert pred["video"] == str(video) and pred["top_k"][0]["label"] in T.LABELS
    assert pred["provider"] == provider_here()


def test_blocked_compiler_subcommand_says_not_installed():
    proc, report = _child("import", "model.onnx")
    assert proc.returncode == 2
    first = proc.stderr.splitlines()[0]
    assert first.startswith("catsplit: error: subcommand import is not installed (needs catsplit[compiler]")
    assert "Traceback" not in proc.stderr


def test_blocked_scale_subcommand_says_not_installed():
    proc, report = _child("ray", "classify", "bundle", "clip.mp4", "-o", "out.parquet")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first.startswith("catsplit: error: subcommand ray is not installed (needs catsplit[scale]")


def test_triton_client_without_tritonclient_is_one_line(tmp_path):
    bundle = T.make_bundle(tmp_path / "bundle")
    video = V.normal_video(tmp_path / "v.mp4")
    proc, report = _child("run", str(bundle.path), str(video), "--triton", "127.0.0.1:1")
    assert proc.returncode == 2 and report["loaded"] == ["catsplit.scale", "catsplit.scale.triton_client"]
    (line,) = proc.stderr.splitlines()[:-1]  # the last line is the child's report
    assert line == "catsplit: error: --triton needs the Triton HTTP client: pip install 'catsplit[triton-client]'"
