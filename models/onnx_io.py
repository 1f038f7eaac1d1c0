"""Reading and writing ONNX files the way every part of catsplit must.

onnx 1.23 stamps models with IR version 14, newer than any onnxruntime loads. A bundle must load on the
oldest onnxruntime the runtime declares (pyproject.toml: 1.20, which loads IR <= 10 and opset <= 21;
docs/runtime.md says why that floor), so `save_onnx` lowers the IR version to that (never raises it)
and refuses newer opsets: a written file loads on every onnxruntime the runtime accepts. Everything is
kept in one file: a bundle never depends on side files.

`load_onnx` runs the runtime's external-data guard first, so a model whose external data points
outside its folder, through a symlink or at a missing file is refused before anything is read there.
"""
from __future__ import annotations

import os
from pathlib import Path

import onnx
import onnxruntime as ort
from onnx.external_data_helper import convert_model_from_external_data

from catsplit.runtime.errors import CatsplitError, first_line
from catsplit.runtime.onnx_guard import check_external_data

# The newest versions onnxruntime 1.20, the runtime's floor, loads (found by loading probe models in
# onnxruntime 1.20.0: IR 11 and opset 22 fail). `make test-floor` runs the runtime tests on that version.
MAX_IR_VERSION = 10
MAX_OPSET = 21
_PROTOBUF_LIMIT = 2**31 - 1


class OnnxFileError(CatsplitError, ValueError):
    """An ONNX file that cannot be read or written as asked; the message names the file."""


def default_opset(model: onnx.ModelProto) -> int:
    """The model's opset of the default ONNX domain (1 when it imports none)."""
    return next((op.version for op in model.opset_import if op.domain in ("", "ai.onnx")), 1)


def onnx_bytes(model: onnx.ModelProto, name: str | os.PathLike) -> bytes:
    """`model` serialised as one self-contained file that every supported onnxruntime (1.20 up) loads (`name` is for errors).

    The model is modified in place: IR version capped at MAX_IR_VERSION, external tensors inlined.
    """
    for op in model.opset_import:
        if op.domain in ("", "ai.onnx") and op.version > MAX_OPSET:
            raise OnnxFileError(f"{name}: opset {op.version} is newer than the runtime's oldest onnxruntime "
                                f"(1.20) runs (max {MAX_OPSET})")
    model.ir_version = min(model.ir_version, MAX_IR_VERSION)
    convert_model_from_external_data(model)  # data must already be loaded (onnx.load does that)
    size = model.ByteSize()
    if size > _PROTOBUF_LIMIT:
        raise OnnxFileError(f"{name}: model is {size / 2**30:.1f} GiB, over protobuf's 2 GiB single-file limit")
    return model.SerializeToString()


def save_onnx(model: onnx.ModelProto, path: str | os.PathLike) -> Path:
    """Write `model` to `path` as `onnx_bytes` makes it."""
    path = Path(path)
    path.write_bytes(onnx_bytes(model, path))
    return path


def load_onnx(path: str | os.PathLike) -> onnx.ModelProto:
    """Load a model and its external data after checking that data stays inside the model's folder."""
    path = Path(path)
    if not path.is_file():
        raise OnnxFileError(f"{path}: no such file")
    check_external_data(path)
    try:
        return onnx.load(str(path))
    except Exception as e:  # protobuf DecodeError, OSError, onnx's own errors
        raise OnnxFileError(f"{path}: not a readable ONNX model ({first_line(e)})") from None


def cpu_session(model: str | os.PathLike | bytes) -> ort.InferenceSession:
    """A quiet onnxruntime CPU session (a path or serialised bytes), for checking a model just written
    against its source and for the compiler's own small graphs (the runtime builds its own sessions).
    Silent below FATAL: a model onnxruntime refuses raises, and the caller's one error line says so;
    onnxruntime's own log line must not come first."""
    so = ort.SessionOptions()
    so.log_severity_level = 4
    return ort.InferenceSession(model if isinstance(model, bytes) else str(model), so,
                                providers=["CPUExecutionProvider"])
