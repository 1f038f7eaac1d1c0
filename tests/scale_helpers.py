"""Shared by the scale-out tests: the shipped model A and its sample clips, catsplit-run's answers for
them, an edit of model A made with the real compiler, and a corrupt clip."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from benchmarks.world.write_mp4 import read_index
from catsplit.compiler.compile import compile_split
from catsplit.compiler.options import SplitOptions
from catsplit.runtime.bundle import load_bundle
from catsplit.runtime.cli import run
from tests.edit_bundles import HashedBagOfWords

BUNDLES = Path(__file__).resolve().parents[1] / "models" / "bundles"
MODEL_A, MODEL_B = BUNDLES / "ssv2_split_A_synth", BUNDLES / "ssv2_split_B_synth"
SAMPLES = BUNDLES / "samples"
TARGET = "Showing something with spatial relation"


def sample_videos(n: int | None = None) -> list[str]:
    return [str(SAMPLES / r["path"]) for r in read_index(SAMPLES / "clips.csv")][:n]


def catsplit_run(bundle: Path, videos: list[str], *args: str) -> tuple[int, dict[str, dict], str]:
    """(exit code, `catsplit-run --json` objects by video, stderr)."""
    result = CliRunner().invoke(run, [str(bundle), *videos, "--json", "--provider", "cpu", *args])
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, {r["video"]: r for r in rows}, result.stderr


def assert_same_top_k(got: list[dict], want: list[dict], tol: float = 1e-5) -> None:
    """Same labels in the same order, probabilities within `tol` (batching changes float rounding)."""
    assert [t["label"] for t in got] == [t["label"] for t in want]
    for g, w in zip(got, want):
        assert abs(g["prob"] - w["prob"]) <= tol, (g, w)


def edit_model_a(out: Path) -> Path:
    """Model A with TARGET split into its three subcategories (MR, flat): a new head, same backbone."""
    subs = load_bundle(MODEL_A).groups[TARGET]
    compile_split(MODEL_A, {"split": TARGET, "into": [{"label": s} for s in subs]}, out,
                  SplitOptions(method="mr", text_encoder=HashedBagOfWords()))
    return out


def corrupt_clip(path: Path) -> Path:
    """The first 5000 bytes of a real mp4: a file PyAV opens and cannot decode."""
    path.write_bytes((SAMPLES / sample_videos()[0]).read_bytes()[:5000])
    return path
