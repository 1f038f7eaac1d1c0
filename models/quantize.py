"""Lower-precision bundles: an int8 backbone for CPUs, an fp16 backbone for CUDA.

Only backbone.onnx changes; head.onnx (tiny, and the file edits rewrite) stays float32 and is
hard-linked, and the bundle's inputs and outputs stay float32, so the runtime feeds a lower-precision
bundle exactly like its source. Modes:

- "dynamic": weights int8 per output channel, activations quantised on the fly per tensor
  (MatMulInteger / ConvInteger). No calibration data; best for MatMul-heavy backbones (ViTs).
- "static":  QDQ format, weights int8 per channel, activations uint8 with ranges calibrated on real
  clips (min/max); onnxruntime fuses the QDQ pairs into QLinearConv / QLinearMatMul. Needs clips.
- "fp16":    every float32 weight and op in float16, float32 at the graph's input and output (casts
  inserted there). For the CUDA execution provider; on CPU onnxruntime runs few fp16 kernels.

Before the output is written, the new bundle's top-1 predictions are compared with the source's on
the calibration clips (or on random inputs when no clips are given) and the agreement is recorded in
bundle.json's provenance, next to the mode and the source backbone's sha256.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import onnx

from catsplit.models.onnx_io import cpu_session, load_onnx, save_onnx
from catsplit.runtime.bundle import BACKBONE, BUNDLE_KIND, HEAD, Bundle, fill_bundle, load_bundle
from catsplit.runtime.inputs import MIB, read_text
from catsplit.runtime.output import check_output, staged_output
from catsplit.runtime.errors import CatsplitError, first_line
from catsplit.runtime.video import VIDEO_SUFFIXES, VideoError, load_views

MODES = ("dynamic", "static", "fp16")
PRECISION = {"dynamic": "int8", "static": "int8", "fp16": "fp16"}
# The compute ops to quantise; norms, softmax and activations stay float. Dynamic mode leaves Conv
# float: onnxruntime's ConvInteger is slower than its float Conv (0.24x on R(2+1)D-18, measured).
QUANTIZED_OPS = {"dynamic": ["MatMul", "Gemm"], "static": ["Conv", "MatMul", "Gemm"]}
# Convolutions with fewer input channels per group than this (the stem, on RGB) stay float:
# onnxruntime's int8 convolution is slow there (CatNet-S's 3-channel stem: 10 ms int8 vs < 1 ms
# float, measured), and the first layer is also where quantisation costs the most accuracy.
MIN_INT8_CONV_CHANNELS = 8
RANDOM_CHECK_CLIPS = 8
MAX_CALIB_CSV_BYTES = 16 * MIB


class QuantizeError(CatsplitError, ValueError):
    """A bundle or calibration input that cannot be quantised as asked; the message names the file."""


def calibration_videos(source: str | os.PathLike) -> list[Path]:
    """Video files of a folder (sorted), or those a CSV lists in its first column (relative to it)."""
    source = Path(source)
    if source.is_dir():
        videos = sorted(p for p in source.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    elif source.is_file() and source.suffix.lower() == ".csv":
        text = read_text(source, "calibration CSV", MAX_CALIB_CSV_BYTES)
        try:
            rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r and r[0].strip()]
        except csv.Error as e:
            raise QuantizeError(f"{source}: not a valid CSV ({e})") from None
        if rows and not (source.parent / rows[0][0]).is_file() and rows[0][0].strip().lower() in ("video", "path"):
            rows = rows[1:]  # a header row
        for n, r in enumerate(rows, 1):
            if "\0" in r[0]:
                raise QuantizeError(f"{source}: row {n}: a video path cannot hold a null byte")
        videos = [source.parent / r[0].strip() for r in rows]
    else:
        raise QuantizeError(f"{source}: calibration input must be a folder of videos or a .csv listing them")
    if not videos:
        raise QuantizeError(f"{source}: no videos to calibrate with")
    return videos


def calibration_views(source: str | os.PathLike, bundle: Bundle) -> np.ndarray:
    """The calibration videos decoded and preprocessed as `bundle` says, one view each [N, ...]."""
    views = []
    for video in calibration_videos(source):
        try:
            views.append(load_views(video, bundle.preprocess))
        except VideoError as e:
            raise QuantizeError(str(e)) from None
    return np.concatenate(views)


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over preprocessed views, one clip per batch."""

    def __init__(self, name: str, views: np.ndarray):
        self._name, self._views = name, views
        self._it: Iterator[np.ndarray] = iter(())
        self.rewind()

    def get_next(self) -> dict[str, np.ndarray] | None:
        x = next(self._it, None)
        return None if x is None else {self._name: x[None]}

    def rewind(self) -> None:
        self._it = iter(self._views)


def _quantize_int8(src: Path, dst: Path, mode: str, views: np.ndarray | None, tmp: Path) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = tmp / "prepared.onnx"
    # Fold constants and fuse before quantising, so what gets quantised is what onnxruntime runs.
    quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
    if mode == "dynamic":
        quantize_dynamic(prepared, dst, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=QUANTIZED_OPS[mode])
        return
    model = onnx.load(str(prepared))
    quantize_static(prepared, dst, _Reader(model.graph.input[0].name, views), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                    op_types_to_quantize=QUANTIZED_OPS[mode],
                    nodes_to_exclude=_thin_convs(model) + _activation_products(model))


def _thin_convs(model: onnx.ModelProto) -> list[str]:
    """Names of the Conv nodes with fewer than MIN_INT8_CONV_CHANNELS input channels per group."""
    shapes = {t.name: t.dims for t in model.graph.initializer}
    return [n.name for n in model.graph.node
            if n.op_type == "Conv" and n.input[1] in shapes and shapes[n.input[1]][1] < MIN_INT8_CONV_CHANNELS]


def _activation_products(model: onnx.ModelProto) -> list[str]:
    """MatMul nodes multiplying two activations (attention's QK^T and AV), which stay float: their
    QDQ pairs would make onnxruntime fuse the softmax between them into QLinearSoftmax, slower than
    the float softmax (37% of a static-int8 ViT-S's time, measured)."""
    consts = {t.name for t in model.graph.initializer}
    consts |= {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and not set(n.input[:2]) & consts]


def _int8_ops(path: Path) -> int:
    """Nodes that compute in int8 (or quantise to it) in a quantised graph."""
    ops = {"MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QLinearConv",
           "QLinearMatMul", "QuantizeLinear", "QGemm"}
    return sum(n.op_type in ops for n in onnx.load(str(path)).graph.node)


def _convert_fp16(src: Path, dst: Path) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(load_onnx(src), keep_io_types=True, disable_shape_infer=False)
    save_onnx(model, dst)


def _top1(backbone: Path, head: Path, views: np.ndarray) -> np.ndarray:
    """Top-1 class per view through backbone then head, on the CPU, one clip at a time."""
    b, h = cpu_session(backbone), cpu_session(head)
    bn, hn = b.get_inputs()[0].name, h.get_inputs()[0].name
    return np.array([int(np.argmax(h.run(None, {hn: b.run(None, {bn: v[None]})[0]})[0])) for v in views])


def quantize_bundle(bundle: str | os.PathLike | Bundle, out: str | os.PathLike, mode: str = "dynamic",
                    calib: str | os.PathLike | None = None, force: bool = False,
                    progress: Callable[[str], None] | None = None) -> Bundle:
    """Write `out`: `bundle` with its backbone quantised (int8) or converted (fp16) as `mode` says.

    `calib` (a folder of videos or a CSV listing them) is required for "static" and optional otherwise;
    its clips also measure the top-1 agreement with the source that bundle.json records. The fp16
    agreement check runs on the CPU where onnxruntime has the kernels, else it is recorded as skipped.
    """
    step = progress or (lambda _: None)
    if mode not in MODES:
        raise QuantizeError(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
    src = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    out = Path(out)
    check_output(out, BUNDLE_KIND, force)
    if src.provenance.get("precision", "fp32") != "fp32":
        raise QuantizeError(f"{src.path / 'bundle.json'}: already {src.provenance['precision']}; "
                            "quantise the float32 bundle it came from")
    if mode == "static" and calib is None:
        raise QuantizeError(f"{src.path}: static quantisation needs calibration clips (`calib`)", params=("calib",))
    step("calibration clips")
    if calib is not None:
        views = calibration_views(calib, src)
    else:
        rng = np.random.default_rng(0)
        views = rng.standard_normal((RANDOM_CHECK_CLIPS, *src.preprocess.input_shape(1)[1:])).astype(np.float32)
    with staged_output(out, BUNDLE_KIND, force) as stage:
        tmp = stage.scratch
        backbone = tmp / BACKBONE
        step(f"{mode} backbone")
        try:
            if mode == "fp16":
                _convert_fp16(src.backbone_path, backbone)
            else:
                _quantize_int8(src.backbone_path, backbone, mode, views, tmp)
                save_onnx(onnx.load(str(backbone)), backbone)  # IR capped so onnxruntime loads it
        except Exception as e:  # onnxruntime.quantization raises many types for graphs it cannot handle
            raise QuantizeError(f"{src.backbone_path}: {mode} conversion failed ({first_line(e)})") from None
        if mode != "fp16" and not _int8_ops(backbone):
            takes = {"dynamic": "MatMul and Gemm; try `mode` static",
                     "static": f"Conv on >= {MIN_INT8_CONV_CHANNELS} input channels, MatMul and Gemm"}[mode]
            raise QuantizeError(f"{src.backbone_path}: {mode} mode found nothing to quantise (it takes {takes})",
                                params=("mode",))
        step("agreement check")
        check = {"clips": len(views), "inputs": str(calib) if calib is not None else "random normal"}
        try:
            ref, got = _top1(src.backbone_path, src.head_path, views), _top1(backbone, src.head_path, views)
            check["top1_agreement"] = float(np.mean(ref == got))
        except Exception as e:  # fp16 graphs may need kernels only the CUDA provider has
            if mode != "fp16":
                raise QuantizeError(f"{src.backbone_path}: the {mode} backbone does not run ({e})") from None
            check["skipped"] = "onnxruntime's CPU provider cannot run this fp16 graph; run it on CUDA"
        provenance = {**src.provenance, "precision": PRECISION[mode],
                      "quantization": {"mode": mode, "source": str(src.path),
                                       "source_backbone_sha256": src.files[BACKBONE], "check": check}}
        if mode != "fp16":
            provenance["quantization"].update(weights="int8 per channel",
                                              activations="uint8 calibrated" if mode == "static"
                                              else "uint8 per tensor, on the fly")
        meta = Bundle(**{**src.__dict__, "path": out, "files": {}, "provenance": provenance})
        step("write")
        return fill_bundle(meta, stage, {BACKBONE: backbone, HEAD: src.head_path})
