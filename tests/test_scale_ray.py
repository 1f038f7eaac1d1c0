"""Ray on a private local cluster (`ray.init(num_cpus=2)`, started by the test): the Ray Data job gives
`catsplit-run`'s answers and error rows for bad files; Ray Serve answers POSTs with `catsplit-run`'s
JSON, and a redeploy with an edit swaps the running replicas' head (reconfigure)."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pyarrow.parquet as pq
import pytest
import ray
from click.testing import CliRunner

from catsplit.runtime.bundle import load_bundle
from catsplit.runtime.cli import catsplit
from catsplit.runtime.output import WORKSPACE_TAG, check_output
from catsplit.runtime.session import edit_id
from catsplit.scale.ray_batch import RESULTS_KIND, SCHEMA, JobConfig, classify
from catsplit.scale.processes import free_port
from catsplit.scale.ray_cluster import LocalNode, ray_session
from catsplit.scale.ray_serve import EDIT_HEADER, REPLICA_HEADER, ServeConfig, deploy
from tests.kill_trials import state
from tests.scale_helpers import (MODEL_A, SAMPLES, TARGET, assert_same_top_k, catsplit_run, corrupt_clip,
                                 edit_model_a, sample_videos)


def test_classify_replaces_only_its_own_result_file(tmp_path):
    """Refused in one line before any cluster is started: OUT exists without --force; with --force, a file
    that is not parquet, a parquet file of other columns, a symbolic link to a result file."""
    result = tmp_path / "result.parquet"
    pq.write_table(SCHEMA.empty_table(), result)
    assert check_output(result, RESULTS_KIND, force=True) == result  # what --force may replace
    (tmp_path / "notes.txt").write_text("mine")
    pq.write_table(pq.read_table(result).rename_columns(["a", "b", "c", "d"]), tmp_path / "other.parquet")
    (tmp_path / "link.parquet").symlink_to(result)
    before = state(tmp_path)
    for out, force, problem in (("result.parquet", (), "already exists (pass --force to replace it)"),
                                ("notes.txt", ("--force",), "not a readable parquet file"),
                                ("other.parquet", ("--force",), "its columns are ['a', 'b', 'c', 'd']"),
                                ("link.parquet", ("--force",), "is a symbolic link")):
        got = CliRunner().invoke(catsplit, ["ray", "classify", str(MODEL_A), str(SAMPLES), "-o",
                                            str(tmp_path / out), *force])
        assert got.exit_code == 2
        (line,) = got.stderr.splitlines()
        assert line.startswith(f"catsplit: error: {tmp_path / out}: ") and problem in line, line
    assert state(tmp_path) == before


@pytest.mark.slow
def test_ray_data_and_serve_on_a_local_cluster(tmp_path, monkeypatch):
    """One local cluster for both (starting Ray is the expensive part)."""
    for key, value in LocalNode.auth_env.items():  # no token written to ~/.ray for a throwaway cluster
        monkeypatch.setenv(key, value)
    with ray_session(num_cpus=2, object_store_memory=256 << 20):
        check_batch_job_matches_catsplit_run(tmp_path / "batch")
        check_serve_answers_and_swaps_head(tmp_path / "serve")


def check_batch_job_matches_catsplit_run(tmp_path) -> None:
    tmp_path.mkdir()
    videos = sample_videos()
    bad = str(corrupt_clip(tmp_path / "corrupt.mp4"))
    missing = str(tmp_path / "missing.mp4")
    code, want, stderr = catsplit_run(MODEL_A, videos + [bad, missing], "--views", "2x1")

    def interrupted(rows: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as stopped:  # the job stopped after its first rows: no file, no workspace
        classify(MODEL_A, [str(SAMPLES)], tmp_path / "out.parquet", JobConfig(views=(2, 1)), interrupted)
    assert not (tmp_path / "out.parquet").exists() and not list(tmp_path.glob(f"*{WORKSPACE_TAG}*"))
    # ... and gave its CPUs back while the traceback (which holds classify's frame) is still alive
    deadline = time.monotonic() + 60
    while ray.available_resources().get("CPU", 0) < ray.cluster_resources()["CPU"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ray.available_resources().get("CPU", 0) == ray.cluster_resources()["CPU"], stopped.traceback
    summary = classify(MODEL_A, [str(SAMPLES), bad, missing], tmp_path / "out.parquet", JobConfig(views=(2, 1)))
    assert summary == {"out": str(tmp_path / "out.parquet"), "videos": len(videos) + 2, "errors": 2}
    rows = {r["path"]: r for r in pq.read_table(tmp_path / "out.parquet").to_pylist()}
    assert sorted(rows) == sorted(videos + [bad, missing])
    for video in videos:
        assert rows[video]["error"] is None and rows[video]["edit_id"] == edit_id(load_bundle(MODEL_A))
        assert_same_top_k(rows[video]["top_k"], want[video]["top_k"])
    errors = {f"catsplit: error: {rows[p]['error']}" for p in (bad, missing)}
    assert code == 1 and errors == set(stderr.splitlines())  # the messages catsplit-run gives those files
    assert not rows[bad]["top_k"] and rows[bad]["edit_id"] is None


def _post(url: str, video: str) -> tuple[int, dict, str | None, str | None]:
    """(status, JSON, edit id, replica id) of a POST of `video`'s bytes."""
    with open(video, "rb") as f:
        req = urllib.request.Request(f"{url}?video={video}", data=f.read(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read()), r.headers.get(EDIT_HEADER), r.headers.get(REPLICA_HEADER)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), None, None


def check_serve_answers_and_swaps_head(tmp_path) -> None:
    from ray import serve

    tmp_path.mkdir()
    videos = sample_videos(4)
    bad = str(corrupt_clip(tmp_path / "corrupt.mp4"))
    _, want, _ = catsplit_run(MODEL_A, videos)
    url = deploy(MODEL_A, ServeConfig(max_batch_size=4), port=free_port())
    try:
        replicas = set()
        for video in videos:
            status, got, edit, replica = _post(url, video)
            replicas.add(replica)
            assert status == 200 and edit == edit_id(load_bundle(MODEL_A))
            assert got.keys() == want[video].keys() and got["video"] == video
            assert got["provider"] == want[video]["provider"]
            assert_same_top_k(got["top_k"], want[video]["top_k"])
        status, got, _, _ = _post(url, bad)
        assert status == 422 and got["error"].startswith(f"{bad}: cannot decode")

        edited = edit_model_a(tmp_path / "edited")
        assert deploy(edited, ServeConfig(max_batch_size=4), port=int(url.split(":")[2].split("/")[0])) == url
        _, want_edited, _ = catsplit_run(edited, videos, "--top-k", str(len(load_bundle(edited).labels)))
        for video in videos:
            status, got, edit, replica = _post(url, video)
            assert status == 200 and edit == edit_id(load_bundle(edited))
            assert replica in replicas  # the same replica, reconfigured in place: not restarted
            labels = {t["label"] for t in got["top_k"]}
            assert TARGET not in labels and labels <= {t["label"] for t in want_edited[video]["top_k"]}
            assert_same_top_k(got["top_k"], want_edited[video]["top_k"][:5])
    finally:
        serve.shutdown()
