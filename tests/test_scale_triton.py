"""Triton Inference Server: the model repository writer (configs checked with Triton's own protobuf
schema), and the python-backend repository end to end on a real `tritonserver` (nvidia-pytriton's
server 2.51, started here on 127.0.0.1 in explicit model-control mode): the ensemble computes what the
Runtime computes, `catsplit-run --triton` prints what `catsplit-run` prints, and `--update --load`
switches the running server to an edit."""
from __future__ import annotations

import errno
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as http
from click.testing import CliRunner
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from catsplit.runtime.bundle import load_bundle
from catsplit.runtime.session import Runtime
from catsplit.runtime.video import load_views
from catsplit.runtime.cli import catsplit
from catsplit.runtime.errors import CatsplitError
from catsplit.runtime.output import WORKSPACE_TAG
from catsplit.scale.triton_repo import RepoOptions, export_repository, read_manifest, update_repository
from catsplit.scale.triton_server import TritonServer
from tests.kill_trials import state
from tests.scale_helpers import (MODEL_A, MODEL_B, TARGET, assert_same_top_k, catsplit_run, corrupt_clip,
                                 edit_model_a, sample_videos)

VIDEOS = sample_videos(6)


def _config(path) -> mc.ModelConfig:
    return text_format.Parse(path.read_text(), mc.ModelConfig())


def test_onnxruntime_repository_configs(tmp_path):
    repo = tmp_path / "repo"
    result = CliRunner().invoke(catsplit, ["triton", "export", str(MODEL_A), "-o", str(repo), "--kind", "gpu",
                                           "--instances", "2", "--max-batch-size", "16", "--json"])
    assert result.exit_code == 0, result.output
    bundle = load_bundle(MODEL_A)
    backbone, head, ens = (_config(repo / m / "config.pbtxt") for m in ("backbone", "head", "video_classifier"))
    for cfg, path in ((backbone, bundle.backbone_path), (head, bundle.head_path)):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert cfg.platform == "onnxruntime_onnx" and not cfg.backend
        assert cfg.max_batch_size == 16 and cfg.HasField("dynamic_batching")
        assert [(g.kind, g.count) for g in cfg.instance_group] == [(mc.ModelInstanceGroup.KIND_GPU, 2)]
        assert cfg.input[0].name == session.get_inputs()[0].name and cfg.output[0].name == session.get_outputs()[0].name
        assert cfg.input[0].data_type == cfg.output[0].data_type == mc.TYPE_FP32
    assert list(backbone.input[0].dims) == list(bundle.preprocess.input_shape(1)[1:])
    assert list(backbone.output[0].dims) == list(head.input[0].dims) == [bundle.feature_dim]
    assert list(head.output[0].dims) == list(ens.output[0].dims) == [bundle.num_classes]
    assert ens.platform == "ensemble" and ens.input[0].name == "VIDEO" and ens.output[0].name == "LOGITS"
    steps = ens.ensemble_scheduling.step
    assert [s.model_name for s in steps] == ["backbone", "head"]
    assert steps[0].input_map[backbone.input[0].name] == "VIDEO"
    assert steps[0].output_map[backbone.output[0].name] == steps[1].input_map[head.input[0].name]
    assert steps[1].output_map[head.output[0].name] == "LOGITS"
    assert (repo / "video_classifier" / ens.output[0].label_filename).read_text().splitlines() == bundle.labels
    assert ens.parameters["catsplit_backbone_sha256"].string_value == bundle.files["backbone.onnx"]
    assert sorted(p.name for p in (repo / "backbone").iterdir() if p.is_dir()) == ["1"]
    assert (repo / "backbone" / "1" / "model.onnx").read_bytes() == bundle.backbone_path.read_bytes()

    edited = edit_model_a(tmp_path / "edited")
    result = CliRunner().invoke(catsplit, ["triton", "export", str(edited), "-o", str(repo), "--update"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (repo / "backbone").iterdir() if p.is_dir()) == ["1"]
    assert sorted(p.name for p in (repo / "head").iterdir() if p.is_dir()) == ["1", "2"]
    head2, ens2 = _config(repo / "head" / "config.pbtxt"), _config(repo / "video_classifier" / "config.pbtxt")
    new_labels = load_bundle(edited).labels
    assert list(head2.output[0].dims) == list(ens2.output[0].dims) == [len(new_labels)]
    assert head2.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU  # the repository's options are kept
    assert (repo / "video_classifier" / "labels.txt").read_text().splitlines() == new_labels
    assert (repo / "head" / "2" / "labels.txt").read_text().splitlines() == new_labels
    assert [v["version"] for v in read_manifest(repo)["versions"]] == [1, 2]


def test_export_refuses_bad_input(tmp_path):
    repo = tmp_path / "repo"
    export_repository(MODEL_A, repo)
    runner = CliRunner()
    again = runner.invoke(catsplit, ["triton", "export", str(MODEL_A), "-o", str(repo)])
    other = runner.invoke(catsplit, ["triton", "export", str(MODEL_B), "-o", str(repo), "--update"])
    for result, problem in ((again, "already exists"), (other, "is not the one")):
        assert result.exit_code == 2
        (line,) = result.stderr.splitlines()
        assert line.startswith("catsplit: error: ") and problem in line
    assert [v["version"] for v in read_manifest(repo)["versions"]] == [1]
    assert not (repo / "head" / "2").exists()


def test_force_replaces_only_a_repository_it_wrote(tmp_path):
    repo = tmp_path / "repo"
    export_repository(MODEL_A, repo)
    inode = repo.stat().st_ino
    export_repository(MODEL_A, repo, RepoOptions(max_batch_size=4), force=True)
    assert repo.stat().st_ino != inode and read_manifest(repo)["options"]["max_batch_size"] == 4
    (repo / "head" / "1" / "notes.txt").write_text("mine")
    link = tmp_path / "link"
    link.symlink_to(repo)
    other = tmp_path / "other"
    other.mkdir()
    (other / "data.csv").write_text("x")
    before = state(tmp_path)
    for target, problem in ((repo, "head/1: it also holds 'notes.txt'"), (link, "is a symbolic link"),
                            (other, "not a catsplit Triton model repository (it has no readable catsplit.json)")):
        result = CliRunner().invoke(catsplit, ["triton", "export", str(MODEL_A), "-o", str(target), "--force"])
        assert result.exit_code == 2
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"catsplit: error: {target}: ") and problem in line
    assert state(tmp_path) == before and link.is_symlink()
    with pytest.raises(CatsplitError, match="is a file, not a catsplit Triton model repository"):
        export_repository(MODEL_A, other / "data.csv", force=True)


@contextmanager
def _failing_write(monkeypatch, k: int):
    """The k-th file write (shutil.copyfile or Path.write_text) fails as on a full disk."""
    calls = 0

    def failing(write, target: int):
        def wrapper(*args, **kwargs):
            nonlocal calls
            calls += 1
            if calls == k:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(args[target]))
            return write(*args, **kwargs)
        return wrapper

    with monkeypatch.context() as m:
        m.setattr(shutil, "copyfile", failing(shutil.copyfile, 1))
        m.setattr(Path, "write_text", failing(Path.write_text, 0))
        yield


def _workspaces(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if WORKSPACE_TAG in p.name]


def test_a_failed_export_leaves_nothing(tmp_path, monkeypatch):
    """Each write of an export fails in turn: no repository, no folder made for it, the one being
    replaced untouched, no workspace left behind."""
    repo = tmp_path / "repo"
    export_repository(MODEL_A, repo)
    before = state(tmp_path)
    for k in range(1, 9):  # backbone and head versions, head labels, backbone config, 4 served files
        for out, force in ((tmp_path / "new" / "repo", False), (repo, True)):
            with _failing_write(monkeypatch, k), pytest.raises(CatsplitError, match="No space left"):
                export_repository(MODEL_A, out, RepoOptions(max_batch_size=4), force=force)
            assert sorted(os.listdir(tmp_path)) == ["repo"] and state(tmp_path) == before


def test_a_failed_update_is_finished_by_running_it_again(tmp_path, monkeypatch):
    """Each write of an update fails in turn: the head version appears whole or not at all, the manifest
    still lists only the old head, and the same update run again gives the repository an update that
    never failed gives."""
    repo, done = tmp_path / "repo", tmp_path / "done"
    export_repository(MODEL_A, repo)
    shutil.copytree(repo, done)
    edited = edit_model_a(tmp_path / "edited")
    update_repository(edited, done)
    before, want = state(repo), state(done)
    for k in range(1, 7):  # the head version's model.onnx and labels, then the 4 served files
        with _failing_write(monkeypatch, k), pytest.raises(CatsplitError, match="No space left"):
            update_repository(edited, repo)
        assert [v["version"] for v in read_manifest(repo)["versions"]] == [1] and not _workspaces(tmp_path)
        now = state(repo)
        version = {rel: h for rel, h in now.items() if rel.startswith("head/2/")}
        assert version == ({} if k <= 2 else {rel: h for rel, h in want.items() if rel.startswith("head/2/")})
        if k <= 3:  # nothing served changed
            assert {rel: h for rel, h in now.items() if rel not in version} == before
    update_repository(edited, repo)
    assert state(repo) == want and [v["version"] for v in read_manifest(repo)["versions"]] == [1, 2]


@pytest.mark.slow
def test_python_backend_on_a_real_server(tmp_path):
    """One server for every check (starting one is the expensive part): the python-backend repository
    of model A, then the same repository updated to an edit."""
    repo = tmp_path / "repo"
    export_repository(MODEL_A, repo, RepoOptions(backend="python", max_batch_size=8))
    assert (repo / "backbone" / "1" / "model.py").is_file() and (repo / "head" / "1" / "model.py").is_file()
    with TritonServer(repo, load=["video_classifier"]) as server:
        check_ensemble_equals_runtime(server)
        check_client_prints_catsplit_runs_json(server, tmp_path)
        check_update_and_load_switch_the_server(server, tmp_path)


def _infer(url: str, x: np.ndarray, class_count: int = 0) -> np.ndarray:
    client = http.InferenceServerClient(url)
    try:
        inp = http.InferInput("VIDEO", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        out = http.InferRequestedOutput("LOGITS", class_count=class_count)
        return client.infer("video_classifier", [inp], outputs=[out]).as_numpy("LOGITS")
    finally:
        client.close()


def check_ensemble_equals_runtime(server: TritonServer) -> None:
    rt = Runtime(MODEL_A, provider="cpu")
    x = np.concatenate([load_views(v, rt.bundle.preprocess) for v in VIDEOS[:3]])
    want = rt.logits(rt.features(x))
    np.testing.assert_allclose(_infer(server.url, x), want, atol=1e-4, rtol=1e-5)
    top = _infer(server.url, x[:1], class_count=2)[0]  # the classification extension: "logit:index:label"
    value, index, label = top[0].decode().split(":", 2)
    assert int(index) == int(np.argmax(want[0])) and label == rt.labels[int(index)]
    assert abs(float(value) - want[0].max()) < 1e-5


def check_client_prints_catsplit_runs_json(server: TritonServer, tmp_path) -> None:
    bad = str(corrupt_clip(tmp_path / "corrupt.mp4"))
    code, local, local_err = catsplit_run(MODEL_A, VIDEOS + [bad], "--top-k", "3", "--views", "2x1")
    remote_code, remote, remote_err = catsplit_run(MODEL_A, VIDEOS + [bad], "--top-k", "3", "--views", "2x1",
                                                   "--triton", server.url)
    assert code == remote_code == 1 and local_err == remote_err  # the corrupt clip: the same one error line
    assert sorted(remote) == sorted(local) == sorted(VIDEOS)
    for video in VIDEOS:
        assert remote[video]["provider"] == f"triton:{server.url}"
        assert_same_top_k(remote[video]["top_k"], local[video]["top_k"])

    code, rows, err = catsplit_run(MODEL_B, VIDEOS[:1], "--triton", server.url)
    assert code == 2 and not rows
    (line,) = err.splitlines()
    assert line.startswith("catsplit: error: ") and "is not the one" in line


def _backbone_runs(url: str) -> int:
    """Inferences the loaded backbone has run (Triton's statistics restart when a model reloads)."""
    client = http.InferenceServerClient(url)
    try:
        (stats,) = client.get_inference_statistics("backbone")["model_stats"]
        return stats["inference_stats"]["success"]["count"]
    finally:
        client.close()


def check_update_and_load_switch_the_server(server: TritonServer, tmp_path) -> None:
    edited = edit_model_a(tmp_path / "edited")
    runs = _backbone_runs(server.url)
    assert runs > 0
    result = CliRunner().invoke(catsplit, ["triton", "export", str(edited), "-o", str(server.repo), "--update",
                                           "--load", server.url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["versions"][-1]["version"] == 2

    rt = Runtime(edited, provider="cpu")
    x = load_views(VIDEOS[0], rt.bundle.preprocess)
    np.testing.assert_allclose(_infer(server.url, x), rt.logits(rt.features(x)), atol=1e-4, rtol=1e-5)
    assert _backbone_runs(server.url) == runs + 1  # the same backbone instance: it was not reloaded
    client = http.InferenceServerClient(server.url)
    try:
        assert client.get_model_metadata("backbone")["versions"] == ["1"]
        assert client.get_model_metadata("head")["versions"] == ["2"]
    finally:
        client.close()

    every = str(len(rt.labels))
    code, local, _ = catsplit_run(edited, VIDEOS, "--top-k", every)
    code, remote, _ = catsplit_run(MODEL_A, VIDEOS, "--top-k", every, "--triton", server.url)  # the device's old bundle
    assert code == 0
    for video in VIDEOS:  # the server's labels now: the edit's, whatever bundle the device holds
        got = {t["label"]: t["prob"] for t in remote[video]["top_k"]}
        want = {t["label"]: t["prob"] for t in local[video]["top_k"]}
        assert got.keys() == want.keys() == set(rt.labels) and TARGET not in got
        assert max(abs(got[k] - want[k]) for k in got) < 1e-5
        assert_same_top_k(remote[video]["top_k"][:3], local[video]["top_k"][:3])
