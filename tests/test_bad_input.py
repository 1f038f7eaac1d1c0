"""Issue 2 item 6: every bad input gives one clear stderr line and a non-zero exit; the other videos
of the same call are still processed; ONNX external data is checked before anything is read."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data, uses_external_data

from catsplit.runtime import BundleError, Runtime
from catsplit.runtime import session as session_mod
from catsplit.runtime.cli import run
from catsplit.runtime.onnx_guard import OnnxGuardError, check_external_data, external_locations
from tests import tiny_bundle as T
from tests import videos as V


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    good = T.make_bundle(d / "good")
    vids = {"normal": V.normal_video(d / "normal.mp4"), "gray": V.gray_video(d / "gray.mp4"),
            "odd": V.odd_video(d / "odd.mp4"), "short": V.short_video(d / "short.mp4"),
            "truncated": V.truncated_video(d / "truncated.mp4"), "empty": V.empty_file(d / "empty.mp4"),
            "text": V.non_video(d / "text.mp4"), "missing": d / "missing.mp4"}
    return {"dir": d, "good": good, "backbone": good.backbone_path.read_bytes(),
            "videos": {k: str(v) for k, v in vids.items()}}


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("catsplit: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- videos -----------------------------------------------------------------------------------------
def test_bad_videos_one_line_each_others_processed(world):
    v = world["videos"]
    order = ["normal", "missing", "gray", "empty", "truncated", "odd", "text", "short"]
    res = CliRunner().invoke(run, [str(world["good"].path), *[v[k] for k in order], "--json", "--provider", "cpu"])
    assert res.exit_code == 1
    assert [json.loads(line)["video"] for line in res.stdout.splitlines()] == [v["normal"], v["gray"], v["odd"]]
    errors = res.stderr.strip().splitlines()
    problems = {"missing": "no such file", "empty": "empty file", "truncated": "truncated",
                "text": "cannot decode", "short": "too short"}
    assert len(errors) == len(problems) and "Traceback" not in res.stderr
    for line, key in zip(errors, ["missing", "empty", "truncated", "text", "short"]):
        assert line.startswith(f"catsplit: error: {v[key]}: ") and problems[key] in line


def test_grayscale_and_odd_sized_videos_classify(world):
    res = CliRunner().invoke(run, [str(world["good"].path), world["videos"]["gray"], world["videos"]["odd"],
                                   "--json", "--views", "2x3"])
    assert res.exit_code == 0 and res.stderr == ""
    assert [len(json.loads(line)["top_k"]) for line in res.stdout.splitlines()] == [5, 5]


def test_console_script_subprocess(world):
    script = Path(sys.executable).parent / "catsplit-run"
    v = world["videos"]
    proc = subprocess.run([str(script), str(world["good"].path), v["normal"], v["text"], v["odd"], "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert _one_error_line(proc.stderr).startswith(f"catsplit: error: {v['text']}: ")
    assert [json.loads(line)["video"] for line in proc.stdout.splitlines()] == [v["normal"], v["odd"]]


# -- bundles ----------------------------------------------------------------------------------------
def _bundle(world, name, **kw):
    return T.make_bundle(world["dir"] / name, backbone=world["backbone"], **kw).path


def _refused(world, bundle, *expect):
    res = CliRunner().invoke(run, [str(bundle), world["videos"]["normal"], "--provider", "cpu"])
    assert res.exit_code == 2 and res.stdout == ""
    line = _one_error_line(res.stderr)
    for e in expect:
        assert e in line, line
    return line


def test_bundle_missing_file(world):
    b = _bundle(world, "missing_head")
    os.remove(b / "head.onnx")
    _refused(world, b, str(b / "head.onnx"), "missing")


def test_bundle_wrong_checksum(world):
    b = _bundle(world, "tampered")
    with open(b / "head.onnx", "ab") as f:
        f.write(b"\0")
    _refused(world, b, str(b / "head.onnx"), "sha256 does not match")


def test_head_dim_mismatch(world):
    b = _bundle(world, "bad_head", head=T.head_bytes(len(T.LABELS), dim=7))
    _refused(world, b, str(b / "head.onnx"), "input dimension 7", "feature dimension 8")


def test_head_class_count_mismatch(world):
    b = _bundle(world, "bad_classes", head=T.head_bytes(4))
    _refused(world, b, str(b / "head.onnx"), "4 logits", "5 labels")


def test_backbone_input_does_not_match_preprocess(world):
    from catsplit.runtime import Preprocess

    b = _bundle(world, "bad_pre", pre=Preprocess(num_frames=4, crop=32, resize=36))  # backbone wants T=8
    _refused(world, b, str(b / "backbone.onnx"), "preprocess gives [B, 3, 4, 32, 32]")


def test_symlinked_model_outside_bundle(world):
    b = _bundle(world, "linked_backbone")
    outside = world["dir"] / "outside_backbone.onnx"
    outside.write_bytes(world["backbone"])  # same bytes, so the sha256 would match
    os.remove(b / "backbone.onnx")
    os.symlink(outside, b / "backbone.onnx")
    _refused(world, b, "backbone.onnx", "lies outside the bundle")


def test_missing_bundle_dir(world):
    _refused(world, world["dir"] / "nowhere", "not a bundle directory")


# -- external data ----------------------------------------------------------------------------------
def _externalise(model: onnx.ModelProto, location: str) -> bytes:
    """Move every initializer of `model` to external data at `location`; return the data bytes."""
    blob = bytearray()
    for t in model.graph.initializer:
        raw = numpy_helper.to_array(t).tobytes()
        t.raw_data = raw
        set_external_data(t, location, offset=len(blob), length=len(raw))
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        blob += raw
    return bytes(blob)


def _external_head_bundle(world, name: str, location: str) -> tuple[Path, bytes]:
    head = onnx.load_from_string(T.head_bytes(len(T.LABELS)))
    data = _externalise(head, location)
    b = _bundle(world, name, head=head.SerializeToString())
    return b, data


@pytest.fixture
def sessions_built(monkeypatch):
    """Paths onnxruntime was asked to open: a refused model must never get there."""
    opened = []
    real = session_mod.ort.InferenceSession

    def spy(path, *a, **kw):
        opened.append(Path(path))
        return real(path, *a, **kw)

    monkeypatch.setattr(session_mod.ort, "InferenceSession", spy)
    return opened


def test_external_data_inside_bundle_works(world, sessions_built):
    b, data = _external_head_bundle(world, "ext_ok", "weights/head.data")
    (b / "weights").mkdir()
    (b / "weights" / "head.data").write_bytes(data)
    rt = Runtime(b, provider="cpu")
    ref = Runtime(world["good"].path, provider="cpu")
    x = np.random.default_rng(0).standard_normal((2, T.FEATURE_DIM)).astype(np.float32)
    np.testing.assert_allclose(rt.logits(x), ref.logits(x), atol=1e-6)
    assert b / "head.onnx" in sessions_built


def _escape_cases(world, tmp_root: Path):
    outside = tmp_root / "outside.bin"
    cases = {}
    b, data = _external_head_bundle(world, "ext_dotdot", "../outside.bin")
    outside.write_bytes(data)
    cases["dotdot"] = (b, "leaves the model's folder")
    b, _ = _external_head_bundle(world, "ext_abs", str(outside))
    cases["absolute"] = (b, "absolute path")
    b, _ = _external_head_bundle(world, "ext_link", "head.data")
    os.symlink(outside, b / "head.data")
    cases["symlink"] = (b, "symlink")
    b, _ = _external_head_bundle(world, "ext_dirlink", "sub/head.data")
    (tmp_root / "elsewhere").mkdir()
    (tmp_root / "elsewhere" / "head.data").write_bytes(data)
    os.symlink(tmp_root / "elsewhere", b / "sub")
    cases["dir_symlink"] = (b, "symlink")
    b, _ = _external_head_bundle(world, "ext_missing", "gone.data")
    cases["missing"] = (b, "is missing")
    return cases


@pytest.fixture(scope="module")
def escapes(world):
    return _escape_cases(world, world["dir"])


@pytest.mark.parametrize("case", ["dotdot", "absolute", "symlink", "dir_symlink", "missing"])
def test_external_data_escape_refused_before_reading(world, escapes, sessions_built, case):
    bundle, problem = escapes[case]
    with pytest.raises(BundleError) as e:
        Runtime(bundle, provider="cpu")
    assert str(e.value).startswith(f"{bundle / 'head.onnx'}: tensor ") and problem in str(e.value)
    assert sessions_built == []  # both files are checked before onnxruntime opens either
    _refused(world, bundle, str(bundle / "head.onnx"), problem)


def _nested_model(location: str) -> onnx.ModelProto:
    """External tensors in a subgraph (If), a Constant attribute and a sparse initializer."""
    def ext(name):
        t = numpy_helper.from_array(np.ones(3, np.float32), name)
        set_external_data(t, location, offset=0, length=12)
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        return t

    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])
    then = helper.make_graph([helper.make_node("Identity", ["w_then"], ["y"])], "then", [], [out],
                             [ext("w_then")])
    other = helper.make_graph([helper.make_node("Constant", [], ["y"], value=ext("w_const"))], "else", [], [out])
    sparse = helper.make_sparse_tensor(ext("sp_values"), numpy_helper.from_array(np.array([0, 1, 2]), "sp_idx"), [3])
    graph = helper.make_graph([helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)], "g",
                              [helper.make_tensor_value_info("c", TensorProto.BOOL, [])], [out],
                              sparse_initializer=[sparse])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_scanner_finds_nested_external_tensors(tmp_path):
    model = _nested_model("../x.bin")
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    from onnx.external_data_helper import _get_all_tensors

    found = sorted(name for name, _ in external_locations(path))
    assert found == ["sp_values", "w_const", "w_then"]
    # onnx's own walker skips sparse initializers; everything it sees, we see
    assert {t.name for t in _get_all_tensors(model) if uses_external_data(t)} <= set(found)
    with pytest.raises(OnnxGuardError, match="leaves the model's folder"):
        check_external_data(path)


def test_scanner_accepts_plain_models_and_rejects_garbage(world, tmp_path):
    assert external_locations(world["good"].backbone_path) == []
    check_external_data(world["good"].head_path)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\xff" * 16)
    with pytest.raises(OnnxGuardError, match="not a valid ONNX protobuf"):
        check_external_data(junk)
