"""Refuse ONNX files whose external data would make onnxruntime read outside the model's folder.

An ONNX tensor may keep its bytes in another file (`data_location = EXTERNAL`, `external_data`
entry `location`), which onnxruntime opens relative to the model's folder. A crafted bundle could
point that at `../../etc/shadow`, an absolute path or a symlink and leak or crash. Before any
session is built we walk the model's protobuf wire format ourselves (the runtime cannot import
`onnx`) and check every external location, using only `lstat` on the candidate path: nothing is
opened or read there.

Accepted: a relative location without `..`, every component of which is a plain directory or (last)
a regular file inside the model's folder, no symlinks along the way. The model file itself is not
checked for being a symlink here: where it may live is the bundle's rule (`load_bundle` refuses
files resolving outside the bundle); external data is resolved from the folder of the path given.

Messages recurse into every place a TensorProto can sit: graph initializers and sparse initializers,
node attributes (tensor, tensors, sparse tensor(s), subgraphs of If/Loop/Scan), functions, and
training-info graphs.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path, PurePath
from typing import Iterator

from catsplit.runtime.errors import CatsplitError


class OnnxGuardError(CatsplitError):
    """An ONNX file that refers to data it must not; the message names the file and the tensor."""


# Field numbers from onnx.proto (onnx 1.23). Only length-delimited fields that lead to tensors.
_MODEL = {7: "graph", 20: "training", 25: "function"}
_TRAINING = {1: "graph", 2: "graph"}  # TrainingInfoProto.initialization, .algorithm
_FUNCTION = {7: "node", 11: "attribute"}  # FunctionProto.node, .attribute_proto
_GRAPH = {1: "node", 5: "tensor", 15: "sparse"}  # GraphProto.node, .initializer, .sparse_initializer
_NODE = {5: "attribute"}
_ATTRIBUTE = {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"}
_SPARSE = {1: "tensor", 2: "tensor"}  # SparseTensorProto.values, .indices
_CHILDREN = {"model": _MODEL, "graph": _GRAPH, "training": _TRAINING, "function": _FUNCTION, "node": _NODE,
             "attribute": _ATTRIBUTE, "sparse": _SPARSE}
_TENSOR_NAME, _TENSOR_EXTERNAL, _TENSOR_LOCATION = 8, 13, 14
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
_MAX_DEPTH = 64


class _WireError(ValueError):
    pass


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of one message; value is an int or the bytes' view."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = 0, pos + 8
        elif wire == 5:
            value, pos = 0, pos + 4
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        else:
            raise _WireError(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise _WireError("message runs past its end")
        yield number, wire, value


def _tensors(buf: memoryview, kind: str, depth: int = 0) -> Iterator[memoryview]:
    """Every serialized TensorProto reachable from a message of `kind`."""
    if depth > _MAX_DEPTH:
        raise _WireError("messages nested too deeply")
    children = _CHILDREN[kind]
    for number, wire, value in _fields(buf):
        child = children.get(number)
        if child is None or wire != 2:
            continue
        if child == "tensor":
            yield value
        else:
            yield from _tensors(value, child, depth + 1)


def _external_location(tensor: memoryview) -> tuple[str, str | None] | None:
    """(tensor name, location) when the tensor keeps its data outside the model; else None."""
    name, location, external, entries = "?", None, False, 0
    for number, wire, value in _fields(tensor):
        if number == _TENSOR_NAME and wire == 2:
            name = bytes(value).decode("utf-8", "replace")
        elif number == _TENSOR_LOCATION and wire == 0:
            external = value == _EXTERNAL
        elif number == _TENSOR_EXTERNAL and wire == 2:
            entries += 1
            entry = {k: bytes(v).decode("utf-8", "replace") for k, w, v in _fields(value) if w == 2}
            if entry.get(1) == "location":
                location = entry.get(2, "")
    if not external and not entries:
        return None
    return name, location


def _check_location(model: Path, name: str, location: str | None) -> None:
    def refuse(problem: str) -> OnnxGuardError:
        return OnnxGuardError(f"{model}: tensor {name!r}: external data {problem}")

    if not location:
        raise refuse("has no location")
    if "\0" in location:
        raise refuse(f"location {location!r} contains a NUL byte")
    rel = PurePath(location)
    if rel.is_absolute() or os.path.isabs(location) or location.startswith(("/", "\\")):
        raise refuse(f"location {location!r} is an absolute path, outside the model's folder")
    if ".." in rel.parts or ".." in location.replace("\\", "/").split("/"):
        raise refuse(f"location {location!r} leaves the model's folder")
    here = model.parent
    parts = [p for p in rel.parts if p != "."]
    if not parts:
        raise refuse(f"location {location!r} names the model's folder, not a file")
    for i, part in enumerate(parts):
        here = here / part
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            raise refuse(f"file {location!r} is missing") from None
        except OSError as e:
            raise refuse(f"file {location!r} cannot be checked ({e.strerror})") from None
        if stat.S_ISLNK(st.st_mode):
            raise refuse(f"location {location!r} goes through a symlink ({here})")
        last = i == len(parts) - 1
        if last and not stat.S_ISREG(st.st_mode):
            raise refuse(f"location {location!r} is not a regular file")
        if not last and not stat.S_ISDIR(st.st_mode):
            raise refuse(f"location {location!r} goes through {here}, which is not a folder")


def external_locations(path: str | os.PathLike) -> list[tuple[str, str | None]]:
    """(tensor name, location) of every tensor in the ONNX file at `path` with external data."""
    path = Path(path)
    try:
        data = memoryview(path.read_bytes())
    except OSError as e:
        raise OnnxGuardError(f"{path}: cannot read ({e.strerror})") from None
    try:
        return [loc for t in _tensors(data, "model") if (loc := _external_location(t)) is not None]
    except _WireError as e:
        raise OnnxGuardError(f"{path}: not a valid ONNX protobuf ({e})") from None


def check_external_data(path: str | os.PathLike) -> None:
    """Raise OnnxGuardError unless every external-data file of the model is safe to open."""
    path = Path(path)
    for name, location in external_locations(path):
        _check_location(path, name, location)
