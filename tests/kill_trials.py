"""Kill -9 trials: compile, edits undo and quantize are killed with SIGKILL at random points.

Each trial runs one command in a child process that replaces an existing bundle (`force`), either a
separate output or, for compile and undo, the input itself, and kills it after a random delay drawn
uniformly from [0, 1.2 x the time the command's work took in an unkilled run]. Then:

- the output path holds the old bundle (byte for byte) or the new one, complete (every sha256 holds);
- a separate input is untouched, byte for byte;
- the next run writing the same output succeeds and leaves nothing behind: afterwards the output's
  folder holds exactly the bundles it held before (no `.catsplit-tmp.` workspace, no `.OUT.old`).

    python -m tests.kill_trials --trials 10          # 10 per scenario; prints a JSON summary

Random kills mostly land in the computation, where nothing is on disk yet; so `crash_points` also
kills each command deterministically at every step that changes the disk (before and after each
rename, link, unlink, mkdir, rmdir, flock and the writer's renameat2), one forked run per step, and
applies the same checks. tests/test_kill_trials.py runs both in the test suite.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from catsplit.runtime.output import WORKSPACE_TAG as WORKSPACE

ROOT = Path(__file__).resolve().parents[1]
ALT = {"split": "Holding something", "into": [{"label": "Holding something up"}, {"label": "Holding something low"}]}


def state(path: Path) -> dict[str, str]:
    """Every file under `path` (relative name -> sha256): a bundle's exact contents."""
    return {p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


# -- the commands, as the child runs them ----------------------------------------------------------
def run_op(op: str, src: Path, out: Path) -> None:
    """One command, importing only what it needs (the child starts faster)."""
    if op == "compile":
        from catsplit.compiler.compile import compile_split
        from catsplit.compiler.options import SplitOptions
        from tests.edit_bundles import SPLIT, HashedBagOfWords

        compile_split(src, SPLIT, out, SplitOptions(method="mr", text_encoder=HashedBagOfWords()), force=True)
    elif op == "undo":
        from catsplit.compiler.edits import undo

        undo(src, out, force=True)
    elif op == "quantize":
        from catsplit.models.quantize import quantize_bundle

        quantize_bundle(src, out, mode="dynamic", force=True)
    else:
        raise ValueError(op)


def _child(op: str, src: str, out: str) -> None:
    import importlib

    importlib.import_module({"compile": "catsplit.compiler.compile", "undo": "catsplit.compiler.edits",
                             "quantize": "catsplit.models.quantize"}[op])  # so the kill lands in the work
    print("go", flush=True)
    run_op(op, Path(src), Path(out))
    print("done", flush=True)


def _spawn(op: str, src: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-m", "tests.kill_trials", "child", op, str(src), str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "go":
        proc.wait()
        raise RuntimeError(f"child {op} did not start: {proc.stderr.read()}")
    return proc


# -- scenarios ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    name: str
    op: str
    in_place: bool
    is_new: Callable[[object], bool]  # the loaded output bundle is the command's result


def templates(root: Path) -> Path:
    """The bundles every trial starts from, made once with the library."""
    import torch

    from catsplit.compiler.compile import compile_split
    from catsplit.compiler.options import SplitOptions
    from catsplit.models.quantize import quantize_bundle
    from tests.edit_bundles import SPLIT, HashedBagOfWords, make_bundle
    from tests.test_quantize import DIM, LABELS, PRE, SmallNet
    from tests.tiny_bundle import head_bytes, make_bundle as make_tiny, onnx_bytes

    t = root / "templates"
    mr = SplitOptions(method="mr", text_encoder=HashedBagOfWords())
    make_bundle(t / "base")
    compile_split(t / "base", ALT, t / "other", mr)  # an unrelated bundle the trials overwrite
    compile_split(t / "base", SPLIT, t / "edited", mr)  # one edit, for undo
    torch.manual_seed(0)
    backbone = onnx_bytes(SmallNet().eval(), torch.zeros(PRE.input_shape(2)))
    make_tiny(t / "fp32", LABELS, PRE, backbone=backbone, head=head_bytes(len(LABELS), DIM, scale=20.0), dim=DIM)
    quantize_bundle(t / "fp32", t / "fp16", mode="fp16")
    return t


def scenarios() -> list[Scenario]:
    from tests.edit_bundles import LABELS, SPLIT

    split_labels = [s["label"] for s in SPLIT["into"]]
    compiled = lambda b: b.labels[-len(split_labels):] == split_labels and len(b.edits) == 1  # noqa: E731
    undone = lambda b: b.labels == LABELS and not b.edits  # noqa: E731
    quantized = lambda b: b.provenance.get("quantization", {}).get("mode") == "dynamic"  # noqa: E731
    return [Scenario("compile", "compile", False, compiled), Scenario("compile in place", "compile", True, compiled),
            Scenario("undo", "undo", False, undone), Scenario("undo in place", "undo", True, undone),
            Scenario("quantize", "quantize", False, quantized)]


def _setup(s: Scenario, t: Path, work: Path) -> tuple[Path, Path]:
    """Fresh copies for one trial: (input, output); the output already holds a bundle."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    src_template = {"compile": "base", "undo": "edited", "quantize": "fp32"}[s.op]
    src = work / "input"
    shutil.copytree(t / src_template, src)
    if s.in_place:
        return src, src
    out = work / "output"
    shutil.copytree(t / ("fp16" if s.op == "quantize" else "other"), out)
    return src, out


def _next_run(s: Scenario, src: Path, out: Path, out_is_new: bool) -> None:
    """The next run writing the same output (for an in-place edit, whichever applies to what is there)."""
    from catsplit.compiler.edits import undo

    if s.in_place and out_is_new:
        if s.op == "compile":
            undo(out, out, force=True)
        else:
            run_op("compile", out, out)
        return
    run_op(s.op, src, out)


def _in_process(fn: Callable[[], None]) -> int:
    fn()
    return 0


def _check(s: Scenario, src: Path, out: Path, before: tuple[dict, dict, list[str]], result: dict,
           run: Callable[[Callable[[], None]], int] = _in_process) -> dict:
    """What a killed (or finished) run left, then the next run on the same output (`run` runs it and
    gives its wait status); problems listed."""
    from catsplit.runtime.bundle import load_bundle

    before_in, before_out, entries = before
    work, problems = out.parent, result.setdefault("problems", [])
    if state(out) == before_out:
        result["output"] = "old"
    else:
        try:
            result["output"] = "new" if s.is_new(load_bundle(out)) else "other"
        except Exception as e:  # a missing or partial bundle: exactly what must never happen
            result["output"] = f"broken: {e}"
        if result["output"] != "new":
            problems.append(f"output is {result['output']}")
    if not s.in_place and state(src) != before_in:
        problems.append("input changed")
    result["leftovers"] = sorted(set(os.listdir(work)) - set(entries))
    if any(WORKSPACE not in name for name in result["leftovers"]):
        problems.append(f"unexpected entries {result['leftovers']}")
    try:
        if run(lambda: _next_run(s, src, out, result["output"] == "new")) != 0:
            problems.append("next run failed")
    except Exception as e:
        problems.append(f"next run failed: {type(e).__name__}: {e}")
    if sorted(os.listdir(work)) != entries:
        problems.append(f"after the next run the folder holds {sorted(os.listdir(work))}, not {entries}")
    return result


def _before(src: Path, out: Path) -> tuple[dict, dict, list[str]]:
    return state(src), state(out), sorted(os.listdir(out.parent))


def trial(s: Scenario, t: Path, work: Path, delay: float | None) -> dict:
    """One run in a child process, killed after `delay` seconds (None: not killed), then checked."""
    src, out = _setup(s, t, work)
    before = _before(src, out)
    proc = _spawn(s.op, src, out)
    t0 = time.perf_counter()  # the child has imported everything: from here on it works
    if delay is not None:
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    else:
        proc.stdout.readline()  # "done": the work is over, the interpreter's exit is not timed
    took = time.perf_counter() - t0
    rc = proc.wait()
    result = {"scenario": s.name, "delay": delay, "rc": rc, "seconds": round(took, 3), "problems": []}
    if delay is None and rc != 0:
        result["problems"].append(f"unkilled run failed: {proc.stderr.read()[-500:]}")
    return _check(s, src, out, before, result)


# -- every crash point, deterministically ------------------------------------------------------------
# Calls that change what is on disk (or take the workspace lock); a process may die before or after each.
STEPS = frozenset({"rename", "replace", "link", "unlink", "remove", "rmdir", "mkdir", "symlink", "flock",
                   "copyfile", "sendfile"})


def _die_at(k: int) -> None:
    """SIGKILL this process at its k-th step: the entry to or the return from a call of STEPS, or of the
    writer's renameat2."""
    from catsplit.runtime import output

    seen = 0

    def profile(frame, event, arg):
        nonlocal seen
        if (event in ("c_call", "c_return") and getattr(arg, "__name__", None) in STEPS) or (
                event in ("call", "return") and frame.f_code is output._renameat2.__code__):
            seen += 1
            if seen == k:
                os.kill(os.getpid(), signal.SIGKILL)

    sys.setprofile(profile)


def _forked(fn: Callable[[], None]) -> int:
    """Run `fn` in a forked child; its wait status (this process starts no threads, so forking is safe)."""
    pid = os.fork()
    if pid == 0:
        try:
            fn()
            os._exit(0)
        except BaseException:
            os._exit(3)
    return os.waitpid(pid, 0)[1]


def crash_points(s: Scenario, t: Path, work: Path, limit: int = 400) -> dict:
    """Kill the command at its 1st, 2nd, ... step until a run finishes before its k-th; check each."""
    results = []
    for k in range(1, limit + 1):
        src, out = _setup(s, t, work)
        before = _before(src, out)
        status = _forked(lambda: (_die_at(k), run_op(s.op, src, out)))
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        if not killed and os.waitstatus_to_exitcode(status) != 0:
            results.append({"scenario": s.name, "step": k, "problems": [f"run failed ({status})"]})
            break
        results.append(_check(s, src, out, before, {"scenario": s.name, "step": k if killed else None}, _forked))
        if not killed:
            break
    return {"scenario": s.name, "points": sum(r["step"] is not None for r in results),
            "passed": sum(not r["problems"] for r in results if r["step"] is not None), "results": results}


def _zygote(root: str, *names: str) -> None:
    """Every crash point of the named scenarios (default all), from this freshly started process; a JSON
    summary on stdout."""
    import catsplit.compiler.compile  # noqa: F401
    import catsplit.models.quantize  # noqa: F401

    t = Path(root) / "templates"
    out = [crash_points(s, t, Path(root) / "work") for s in scenarios() if not names or s.name in names]
    print(json.dumps(out))


def run_crash_points(root: Path, names: tuple[str, ...] = ()) -> list[dict]:
    """`crash_points` of the named scenarios (default all) in a fresh process (forking this one, which may
    hold threads, would not be safe); needs `templates(root)` first."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-m", "tests.kill_trials", "zygote", str(root), *names], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"crash points failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_trials(root: Path, trials: int, seed: int = 0, log: Callable[[str], None] = print) -> dict:
    """`trials` killed runs of every scenario, after one unkilled run each that measures its time."""
    t = templates(root)
    rng = np.random.default_rng(seed)
    results = []
    for s in scenarios():
        calib = trial(s, t, root / "work", None)
        results.append(calib)
        for i in range(trials):
            delay = float(rng.uniform(0, 1.2 * calib["seconds"]))
            r = trial(s, t, root / "work", delay)
            results.append(r)
            log(f"{s.name:17} kill at {delay:6.3f} s -> output {r['output']:4}, leftovers {len(r['leftovers'])}"
                f"{'  PROBLEMS: ' + '; '.join(r['problems']) if r['problems'] else ''}")
    killed = [r for r in results if r["delay"] is not None]
    return {"trials": len(killed), "passed": sum(not r["problems"] for r in killed),
            "unkilled_passed": all(not r["problems"] for r in results if r["delay"] is None),
            "old": sum(r["output"] == "old" for r in killed), "new": sum(r["output"] == "new" for r in killed),
            "left_a_workspace": sum(bool(r["leftovers"]) for r in killed), "seed": seed, "results": results}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("child", "zygote"):
        (_child if argv[0] == "child" else _zygote)(*argv[1:])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10, help="killed runs per scenario")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--root", type=Path, default=None, help="work folder (default: a temporary one)")
    args = ap.parse_args(argv)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        summary = run_trials(args.root or Path(tmp), args.trials, args.seed)
        points = run_crash_points(args.root or Path(tmp))
    summary.pop("results")
    summary["crash_points"] = {p["scenario"]: {"points": p["points"], "passed": p["passed"],
                                               "problems": [r for r in p["results"] if r["problems"]]}
                               for p in points}
    summary["loadavg"] = os.getloadavg()
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
