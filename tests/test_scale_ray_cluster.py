"""`catsplit ray classify --address` joins a real cluster: a head and a worker node (one CPU each) that
the test starts with `ray start` on this machine, and stops by their process groups."""
from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from catsplit.runtime.cli import catsplit
from catsplit.scale.ray_cluster import LocalNode
from tests.scale_helpers import MODEL_A, assert_same_top_k, catsplit_run, corrupt_clip, sample_videos

@pytest.fixture
def head(monkeypatch):
    for key, value in LocalNode.auth_env.items():
        monkeypatch.setenv(key, value)
    with LocalNode(num_cpus=1, object_store_memory=128 << 20) as head_node:
        with LocalNode(head_node.address, num_cpus=1, object_store_memory=128 << 20):
            yield head_node


@pytest.mark.slow
def test_classify_joins_a_cluster(head, tmp_path):
    videos = sample_videos(8)
    bad = str(corrupt_clip(tmp_path / "corrupt.mp4"))
    _, want, _ = catsplit_run(MODEL_A, videos)
    out = tmp_path / "out.parquet"
    result = CliRunner().invoke(catsplit, ["ray", "classify", str(MODEL_A), *videos, bad, "-o", str(out),
                                           "--address", head.address])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"wrote {out}: {len(videos) + 1} videos, 1 errors"
    rows = {r["path"]: r for r in pq.read_table(out).to_pylist()}
    assert rows[bad]["error"].startswith(f"{bad}: cannot decode")
    for video in videos:
        assert_same_top_k(rows[video]["top_k"], want[video]["top_k"])


def test_classify_refuses_bad_input_in_one_line(tmp_path):
    out = tmp_path / "out.parquet"
    out.write_bytes(b"keep")
    runner = CliRunner()
    video, new_out = sample_videos(1)[0], str(tmp_path / "x.parquet")
    exists = runner.invoke(catsplit, ["ray", "classify", str(MODEL_A), video, "-o", str(out)])
    no_bundle = runner.invoke(catsplit, ["ray", "classify", str(tmp_path), video, "-o", new_out])
    no_cluster = runner.invoke(catsplit, ["ray", "classify", str(MODEL_A), video, "-o", new_out,
                                          "--address", "127.0.0.2:1"])  # nothing listens there
    for result, problem in ((exists, "already exists"), (no_bundle, "bundle.json: missing"),
                            (no_cluster, "cannot join the Ray cluster")):
        assert result.exit_code == 2
        (line,) = result.stderr.splitlines()
        assert line.startswith("catsplit: error: ") and problem in line, line
    assert out.read_bytes() == b"keep" and not (tmp_path / "x.parquet").exists()
