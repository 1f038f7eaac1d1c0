"""Hostile input for the runtime (issue 10): broken videos, tampered bundles, concurrent use.

Every case states what the user must be told. A broken video is its own one-line error while the other
videos of the same call are classified; a tampered bundle is refused with one line naming the file and
the actual problem, before anything outside the bundle is read; onnxruntime's own log lines never reach
stderr. Needs only the runtime's dependencies (`make test-floor` runs it on the oldest onnxruntime).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

import av
import numpy as np
import pytest
from click.testing import CliRunner

from catsplit.runtime import BundleError, Runtime, VideoError, load_bundle, load_views
from catsplit.runtime.bundle import sha256_file
from catsplit.runtime.errors import printable
from catsplit.runtime.cli import run
from tests.runtime_fixtures import BAD_HEADS, MODEL_A, MODEL_B, SAMPLES

GOOD = [str(SAMPLES / d / "val_000.mp4") for d in ("pushing_something_from_left_to_right",
                                                  "something_falling_like_a_rock")]


# -- videos ---------------------------------------------------------------------------------------------
def _encode(path: Path, codec: str, pix_fmt: str, frames: int = 12, height: int = 48, width: int = 64,
            fmt: str | None = None) -> Path:
    """A small real clip: a horizontal ramp whose red channel rises with the frame index."""
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=25)
        stream.height, stream.width, stream.pix_fmt = height, width, pix_fmt
        for i in range(frames):
            rgb = np.zeros((height, width, 3), np.uint8)
            rgb[..., 0], rgb[..., 1] = 8 * i, np.arange(width, dtype=np.uint8)[None] * 3
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=44100)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 44100
        for i in range(20):
            frame.pts = i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _size_change(path: Path) -> Path:
    """Two H.264 transport streams of different frame sizes, back to back (a spliced broadcast)."""
    a, b = (_encode(path.with_name(f"{path.stem}.{n}.ts"), "libx264", "yuv420p", height=h, width=w, fmt="mpegts")
            for n, (h, w) in enumerate([(48, 64), (72, 96)]))
    path.write_bytes(a.read_bytes() + b.read_bytes())
    return path


def _cut(path: Path, keep: float, faststart: bool) -> Path:
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.height, stream.width, stream.pix_fmt = 72, 96, "yuv420p"
        for i in range(32):
            frame = av.VideoFrame.from_ndarray(np.full((72, 96, 3), 4 * i, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = path.read_bytes()
    path.write_bytes(data[:max(1, int(len(data) * keep))] if keep < 1 else data[:1024])
    return path


def _write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _dir(path: Path) -> Path:
    path.mkdir()
    return path


def _symlink(target: str | Path, path: Path) -> Path:
    os.symlink(target, path)
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _loop(path: Path) -> Path:
    os.symlink(path.with_name(path.name + ".other"), path)
    os.symlink(path, path.with_name(path.name + ".other"))
    return path


# name -> (make the file under a folder, what the error says); problem None = must classify
VIDEOS: dict[str, tuple[Callable[[Path], Path | str], str | None]] = {
    "missing": (lambda d: d / "missing.mp4", "no such file"),
    "empty": (lambda d: _write(d / "empty.mp4", b""), "empty file"),
    "directory": (lambda d: _dir(d / "dir.mp4"), "is a directory, not a file"),
    "symlink_loop": (lambda d: _loop(d / "loop.mp4"), "symbolic link loop"),
    "dangling_symlink": (lambda d: _symlink(d / "gone.mp4", d / "dangling.mp4"), "no such file"),
    "nul_byte": (lambda d: str(d / "a\0b.mp4"), "path contains a NUL byte"),
    "through_a_file": (lambda d: _write(d / "f", "x") / "clip.mp4", "not a directory"),
    "fifo": (lambda d: _fifo(d / "fifo.mp4"), "not a regular file"),
    "char_device": (lambda d: "/dev/zero", "not a regular file"),
    "newline_in_name": (lambda d: d / "two\nlines.mp4", "no such file"),
    "text": (lambda d: _write(d / "text.mp4", "not a video\n" * 40), "cannot decode"),
    "garbage": (lambda d: _write(d / "garbage.mp4", np.random.default_rng(0).bytes(50_000)), "cannot decode"),
    "truncated_with_index": (lambda d: _cut(d / "cut1.mp4", 0.5, True), "truncated"),
    "truncated_without_index": (lambda d: _cut(d / "cut2.mp4", 0.5, False), "cannot decode"),
    "header_only": (lambda d: _cut(d / "cut3.mp4", 1.0, True), "cannot decode"),
    "too_short": (lambda d: _encode(d / "short.mp4", "libx264", "yuv420p", frames=3), "too short"),
    "one_frame": (lambda d: _encode(d / "one.mp4", "libx264", "yuv420p", frames=1), "too short"),
    "audio_only": (lambda d: _audio_only(d / "audio.m4a"), "has no video stream"),
    "size_changes": (lambda d: _size_change(d / "spliced.ts"), "frame size changes within the video (64x48, 96x72)"),
    "side_too_long": (lambda d: _encode(d / "wide.mkv", "ffv1", "yuv420p", frames=10, height=16, width=17_008),
                      "is over the largest this runtime decodes"),
    # odd pixel formats and containers that must simply work
    "yuv420p10le_h264": (lambda d: _encode(d / "p10.mp4", "libx264", "yuv420p10le"), None),
    "yuv422p_h264": (lambda d: _encode(d / "p422.mp4", "libx264", "yuv422p"), None),
    "rgb_h264": (lambda d: _encode(d / "rgb.mkv", "libx264rgb", "bgr24"), None),
    "gray16_ffv1": (lambda d: _encode(d / "g16.mkv", "ffv1", "gray16le"), None),
    "alpha_ffv1": (lambda d: _encode(d / "alpha.mkv", "ffv1", "yuva420p"), None),
    "rgb48_ffv1": (lambda d: _encode(d / "rgb48.mkv", "ffv1", "rgb48le"), None),
    "alpha_vp9": (lambda d: _encode(d / "alpha.webm", "libvpx-vp9", "yuva420p"), None),
    "mjpeg_full_range": (lambda d: _encode(d / "mjpeg.avi", "mjpeg", "yuvj420p"), None),
    "packed_uyvy_raw": (lambda d: _encode(d / "uyvy.mkv", "rawvideo", "uyvy422"), None),
    "argb_qtrle": (lambda d: _encode(d / "argb.mov", "qtrle", "argb"), None),
    "mpeg2": (lambda d: _encode(d / "m2.mpg", "mpeg2video", "yuv420p"), None),
    "odd_size_444": (lambda d: _encode(d / "odd.mp4", "libx264", "yuv444p", height=61, width=97), None),
    "symlink_to_a_clip": (lambda d: _symlink(GOOD[0], d / "link.mp4"), None),
}


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    return Runtime(MODEL_A, provider="cpu")


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("hostile_videos")
    return {name: os.fspath(make(d)) for name, (make, _) in VIDEOS.items()}


@pytest.mark.parametrize("case", sorted(VIDEOS))
def test_hostile_video(runtime, videos, case):
    video, problem = videos[case], VIDEOS[case][1]
    preds = runtime.classify([GOOD[0], video, GOOD[1]], top_k=1)
    assert [p.video for p in preds] == [GOOD[0], video, GOOD[1]]
    assert preds[0].error is None and preds[2].error is None  # the others in the call are classified
    if problem is None:
        assert preds[1].error is None and preds[1].top_k[0][0] in runtime.labels
        return
    assert preds[1].error.startswith(f"{video}: ") and problem in preds[1].error, preds[1].error
    assert "\n" not in preds[1].error.removeprefix(video) and preds[1].top_k == []
    with pytest.raises(VideoError):
        load_views(video, runtime.preprocess)


def test_every_hostile_video_in_one_cli_call(videos):
    """One `catsplit run`: an error line per bad video, a JSON line per good one, exit status 1."""
    order = [k for k in sorted(videos) if "\0" not in videos[k]]  # execve cannot pass a NUL byte
    result = CliRunner().invoke(run, [str(MODEL_A), *[videos[k] for k in order], "--json", "--provider", "cpu"])
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert [json.loads(line)["video"] for line in result.stdout.splitlines()] == \
        [videos[k] for k in order if VIDEOS[k][1] is None]
    bad = [k for k in order if VIDEOS[k][1] is not None]
    assert result.stderr.count("catsplit: error: ") == len(result.stderr.splitlines()) == len(bad)
    for k in bad:  # a name holding a newline is escaped: it cannot forge a second line
        assert f"catsplit: error: {printable(videos[k])}: " in result.stderr


# -- bundles --------------------------------------------------------------------------------------------
def _copy(src: Path, dst: Path) -> Path:
    """A copy of a bundle whose ONNX files are hard links (cheap, and as trustworthy as the source)."""
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (shutil.copyfile if f.name == "bundle.json" else os.link)(f, dst / f.name)
    return dst


def _edit_json(b: Path, change: Callable[[dict], object]) -> None:
    doc = json.loads((b / "bundle.json").read_text())
    change(doc)
    (b / "bundle.json").write_text(json.dumps(doc))


def _replace(b: Path, rel: str, data: bytes | None = None, source: Path | None = None) -> None:
    """Replace file `rel` by `data` or `source`'s bytes and record its sha256, as a careful forger would."""
    (b / rel).unlink()
    (b / rel).write_bytes(data if data is not None else source.read_bytes())
    _edit_json(b, lambda d: d["files"].__setitem__(rel, sha256_file(b / rel)))


def _gone(path: Path) -> Path:
    path.unlink()
    return path


def _moved(path: Path, to: Path) -> Path:
    os.replace(path, to)
    return path


def _link_out(b: Path, rel: str) -> None:
    outside = b.parent / f"{b.name}.outside.{rel}"
    os.replace(b / rel, outside)  # same bytes: its sha256 still matches bundle.json
    os.symlink(outside, b / rel)


def _set(key: str, value) -> Callable[[Path], None]:
    return lambda b: _edit_json(b, lambda d: d.__setitem__(key, value))


def _set_pre(key: str, value) -> Callable[[Path], None]:
    return lambda b: _edit_json(b, lambda d: d["preprocess"].__setitem__(key, value))


def _bad_head(name: str) -> Callable[[Path], None]:
    """runtime_fixtures' bad head `name` (the bundles fixture links its folder beside the bundles)."""
    return lambda b: _replace(b, "head.onnx", source=b.parent / "bad_heads" / f"{name}.onnx")


def _nested(depth: int) -> Callable[[Path], None]:
    return lambda b: _write(b / "bundle.json", "[" * depth + "]" * depth)


# name -> (tamper with a copy of model A, what the error says); problem None = must load
BUNDLES: dict[str, tuple[Callable[[Path], object], str | None]] = {
    "head_symlinked_outside": (lambda b: _link_out(b, "head.onnx"), "head.onnx: lies outside the bundle"),
    "backbone_symlinked_outside": (lambda b: _link_out(b, "backbone.onnx"), "backbone.onnx: lies outside the bundle"),
    "bundle_json_symlinked_outside": (lambda b: _link_out(b, "bundle.json"), "bundle.json: lies outside the bundle"),
    "file_entry_dotdot": (lambda b: _edit_json(b, lambda d: d["files"].__setitem__("../x.onnx", "0" * 64)),
                          "file '../x.onnx' lies outside the bundle"),
    "file_entry_absolute": (lambda b: _edit_json(b, lambda d: d["files"].__setitem__("/etc/passwd", "0" * 64)),
                            "file '/etc/passwd' lies outside the bundle"),
    "file_entry_nul": (lambda b: _edit_json(b, lambda d: d["files"].__setitem__("a\0b", "0" * 64)),
                       "lies outside the bundle"),
    "head_sha_wrong": (lambda b: _edit_json(b, lambda d: d["files"].__setitem__("head.onnx", "0" * 64)),
                       "head.onnx: sha256 does not match bundle.json"),
    "backbone_sha_wrong": (lambda b: _edit_json(b, lambda d: d["files"].__setitem__("backbone.onnx", "f" * 64)),
                           "backbone.onnx: sha256 does not match bundle.json"),
    "sha_not_a_string": (lambda b: _edit_json(b, lambda d: d["files"].__setitem__("head.onnx", 7)),
                         "head.onnx: sha256 does not match bundle.json"),
    "head_missing": (lambda b: _gone(b / "head.onnx"), "head.onnx: missing (listed in bundle.json)"),
    "head_is_a_directory": (lambda b: _dir(_gone(b / "head.onnx")), "head.onnx: is a directory, not a file"),
    "head_is_a_fifo": (lambda b: _fifo(_gone(b / "head.onnx")), "head.onnx: not a regular file"),
    "head_symlink_loop": (lambda b: _loop(_gone(b / "head.onnx")), "head.onnx: symbolic link loop"),
    "head_symlinked_inside": (lambda b: _symlink("h.onnx", _moved(b / "head.onnx", b / "h.onnx")), None),
    "bundle_json_missing": (lambda b: _gone(b / "bundle.json"), "bundle.json: missing"),
    "bundle_json_is_a_directory": (lambda b: _dir(_gone(b / "bundle.json")), "bundle.json: is a directory, not a file"),
    "bundle_json_symlink_loop": (lambda b: _loop(_gone(b / "bundle.json")), "bundle.json: symbolic link loop"),
    "bundle_json_not_json": (lambda b: _write(b / "bundle.json", "{labels: ["), "bundle.json: not valid JSON"),
    "bundle_json_not_utf8": (lambda b: _write(b / "bundle.json", b"\xff\xfe{}"), "bundle.json: not valid JSON"),
    "bundle_json_nested_100k": (_nested(100_000), "bundle.json: not valid JSON"),
    "bundle_json_a_list": (_nested(1), "bundle.json: is not a JSON object"),
    "schema_wrong": (_set("schema", "other"), "schema is 'other'"),
    "schema_version_future": (_set("schema_version", 99), "schema_version 99 is not supported"),
    "labels_empty": (_set("labels", []), "labels must be a non-empty list of strings"),
    "labels_repeat": (lambda b: _edit_json(b, lambda d: d["labels"].__setitem__(1, d["labels"][0])), "labels repeat"),
    "one_label_too_few": (lambda b: _edit_json(b, lambda d: d["labels"].pop()),
                          "head.onnx: gives 64 logits but bundle.json lists 63 labels"),
    "feature_dim_wrong": (_set("feature_dim", 255), "backbone.onnx: output dimension 256 does not match"),
    "feature_dim_bool": (_set("feature_dim", True), "feature_dim must be a positive integer"),
    "preprocess_absurd_resize": (_set_pre("resize", 10 ** 9), "bad preprocess"),
    "preprocess_fractional_frames": (_set_pre("num_frames", 8.5), "bad preprocess"),
    "preprocess_nan_mean": (_set_pre("mean", [float("nan"), 0.5, 0.5]), "bad preprocess"),
    "preprocess_wrong_frames": (_set_pre("num_frames", 4), "preprocess gives [B, 3, 4, 48, 48]"),
    "groups_malformed": (_set("groups", {"a": "not a list"}), "groups must map a group name to a list"),
    "head_of_model_b": (lambda b: _replace(b, "head.onnx", source=MODEL_B / "head.onnx"),
                        "head.onnx: gives 63 logits but bundle.json lists 64 labels"),
    "head_garbage": (lambda b: _replace(b, "head.onnx", data=b"\x08\x07garbage" * 100),
                     "head.onnx: not a valid ONNX protobuf"),
    "backbone_empty": (lambda b: _replace(b, "backbone.onnx", data=b""), "backbone.onnx: onnxruntime"),
    "head_ir_99": (_bad_head("ir_99"), "cannot load it (Unsupported model IR version: 99, max supported IR version: "),
    "head_opset_99": (_bad_head("opset_99"), "cannot load it (opset 99, newer than the opset "),
    "head_type_mismatch": (_bad_head("type_mismatch"), "cannot load it (Type Error: "),
    "head_symbolic_mismatch": (_bad_head("symbolic_mismatch"), "head.onnx: does not accept features of the "
                                                             "backbone's dimension 256"),
}
assert {f"head_{name}" for name in BAD_HEADS} <= set(BUNDLES)  # every bad head of the fixtures is a case
PATHS: dict[str, tuple[Callable[[Path], Path | str], str]] = {
    "bundle_path_missing": (lambda d: d / "nowhere", "not a bundle directory (no such file)"),
    "bundle_path_a_file": (lambda d: _write(d / "file", "x"), "not a bundle directory (a file)"),
    "bundle_path_symlink_loop": (lambda d: _loop(d / "loop"), "not a bundle directory (symbolic link loop"),
    "bundle_path_nul": (lambda d: str(d / "a\0b"), "not a bundle directory (path contains a NUL byte)"),
}


# A head swap never reads the other bundle's backbone (the running one stays), so this one swaps in.
SWAP_ACCEPTS = {"backbone_symlinked_outside"}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, runtime_fixtures) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hostile_bundles")
    os.symlink(runtime_fixtures / "bad_heads", d / "bad_heads")
    made = {}
    for name, (tamper, _) in BUNDLES.items():
        tamper(_copy(MODEL_A, d / name))
        made[name] = d / name
    for name, (make, _) in PATHS.items():
        made[name] = make(d)
    return made


def _one_line(result) -> str:
    assert result.exit_code == 2 and result.stdout == "", result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("catsplit: error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("case", sorted(BUNDLES) + sorted(PATHS))
def test_hostile_bundle(bundles, case, runtime):
    bundle, problem = bundles[case], {**BUNDLES, **PATHS}[case][1]
    if problem is None:
        assert Runtime(bundle, provider="cpu").classify(GOOD[:1])[0].error is None
        assert runtime.swap_head(bundle).labels == load_bundle(MODEL_A).labels
        return
    with pytest.raises(BundleError) as e:
        Runtime(bundle, provider="cpu")
    assert problem in str(e.value) and "\n" not in str(e.value), str(e.value)
    if "\0" not in os.fspath(bundle):  # execve cannot pass a NUL byte: only the API can meet one
        line = _one_line(CliRunner().invoke(run, [os.fspath(bundle), GOOD[0], "--provider", "cpu"]))
        assert problem in line and "unexpected" not in line
    before = runtime.head
    if case in SWAP_ACCEPTS:
        assert runtime.swap_head(bundle).labels == before.labels
        return
    with pytest.raises(BundleError):  # a head swap refuses it as well and keeps the running head
        runtime.swap_head(bundle)
    assert runtime.head is before


def test_a_bundle_through_a_directory_symlink_loads_and_swaps(tmp_path, runtime):
    release = _copy(MODEL_A, tmp_path / "releases" / "1")
    os.symlink(release, tmp_path / "current")
    rt = Runtime(tmp_path / "current", provider="cpu")
    assert rt.classify(GOOD[:1])[0].error is None
    assert runtime.swap_head(tmp_path / "current").bundle.path == tmp_path / "current"


@pytest.mark.parametrize("case, problem", [
    ("other_backbone", "its backbone's sha256 differs from the running backbone's"),
    ("other_preprocess", "preprocess differs from the running bundle's"),
])
def test_swap_head_refuses_another_model(tmp_path, runtime, case, problem):
    b = _copy(MODEL_B if case == "other_backbone" else MODEL_A, tmp_path / case)
    if case == "other_preprocess":
        _set_pre("crop", 40)(b)
    before = runtime.head
    with pytest.raises(BundleError, match=problem):
        runtime.swap_head(b)
    assert runtime.head is before


# -- onnxruntime's own output ---------------------------------------------------------------------------
CLI = "import sys; from catsplit.runtime.cli import run; run(sys.argv[1:], prog_name='catsplit-run')"


@pytest.mark.parametrize("case", ["good", "head_type_mismatch", "head_symbolic_mismatch", "head_ir_99"])
def test_onnxruntime_logs_nothing_of_its_own(bundles, case):
    """The session-creation path and, with --provider auto, the CUDA fallback path (onnxruntime-gpu without
    a GPU or CUDA libraries): stderr holds our line or nothing, never onnxruntime's coloured log."""
    bundle = MODEL_A if case == "good" else bundles[case]
    proc = subprocess.run([sys.executable, "-c", CLI, str(bundle), GOOD[0], "--provider", "auto", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert "\x1b[" not in proc.stderr and "onnxruntime:" not in proc.stderr, proc.stderr
    if case == "good":
        assert proc.returncode == 0 and proc.stderr == ""
    else:
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1
        assert proc.stderr.startswith(f"catsplit: error: {bundle / 'head.onnx'}: ")


# -- concurrent use -------------------------------------------------------------------------------------
def _threads(n: int, work: Callable[[int], object]) -> list:
    results, errors = [None] * n, []

    def body(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    return results


def test_one_runtime_classifies_from_several_threads(runtime):
    serial = runtime.classify(GOOD, top_k=5)
    for preds in _threads(4, lambda i: runtime.classify(GOOD[::-1] if i % 2 else GOOD, top_k=5)):
        by_video = {p.video: p for p in preds}
        for want in serial:
            got = by_video[want.video]
            assert [lab for lab, _ in got.top_k] == [lab for lab, _ in want.top_k]
            np.testing.assert_allclose([p for _, p in got.top_k], [p for _, p in want.top_k], atol=1e-6)


def test_concurrent_swaps_serialise_and_leave_one_consistent_head(runtime_fixtures):
    rt = Runtime(MODEL_A, provider="cpu")
    edited = runtime_fixtures / "edited"
    heads = _threads(6, lambda i: rt.swap_head(edited if i % 2 else MODEL_A))
    assert rt.head in heads
    feats = rt.features(load_views(GOOD[0], rt.preprocess))
    assert rt.head.logits(feats).shape == (1, len(rt.head.labels))


def test_runtimes_built_in_parallel_on_one_bundle():
    rts = _threads(3, lambda i: Runtime(MODEL_A, provider="cpu"))
    tops = [rt.classify(GOOD[:1], top_k=1)[0].top_k for rt in rts]
    assert tops[0] == tops[1] == tops[2]
