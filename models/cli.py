"""`catsplit import`, `export` and `quantize`: thin shells over `import_onnx`, `export_bundle` and
`quantize_bundle`.

Bad input is one line on stderr, `catsplit: error: <file>: <problem>`, exit status 2, and nothing
written (the library functions write through runtime/output.py: assembled beside OUT, published in
one rename, and `--force` replaces only a bundle).
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Callable, Iterator

import click

from catsplit.runtime.bundle import Bundle, Preprocess, label_problem
from catsplit.runtime.cli import one_line_errors
from catsplit.runtime.errors import InputError
from catsplit.runtime.inputs import MIB, parse_json, read_text

_HELP = {"help_option_names": ["-h", "--help"]}


@contextlib.contextmanager
def _steps_bar(desc: str, steps: list[str]) -> Iterator[Callable[[str], None]]:
    """A tqdm bar on stderr over a library function's named steps; yields its `progress` callback."""
    from tqdm import tqdm

    with tqdm(total=len(steps), desc=desc, file=sys.stderr, leave=False, disable=None) as bar:
        def progress(step: str) -> None:
            bar.set_postfix_str(step)
            bar.update(1)
        yield progress


MAX_LABELS_FILE = 16 * MIB


def read_labels(path: str) -> list[str]:
    """One label per line; blank lines and surrounding spaces are ignored; labels must be unique and
    pass the bundle's label rule (no control characters, at most MAX_TEXT characters)."""
    text = read_text(path, "labels file", MAX_LABELS_FILE)
    labels = []
    for n, line in enumerate(text.split("\n"), 1):
        label = line.strip(" \t\r")
        if not label:
            continue
        problem = label_problem(label)
        if problem is not None:
            raise InputError(f"{path}: line {n}: the label {label[:80]!r} {problem}")
        labels.append(label)
    if not labels:
        raise InputError(f"{path}: no labels")
    repeated = sorted({s for s in labels if labels.count(s) > 1})
    if repeated:
        raise InputError(f"{path}: labels repeat: {', '.join(repeated)}")
    return labels


def read_preprocess(value: str, base: Preprocess | None = None) -> Preprocess:
    """--preprocess: inline JSON object or a JSON file; its fields override `base` (when there is one)."""
    where = "--preprocess"
    if value.lstrip().startswith("{"):
        doc = parse_json(value, where)
    else:
        where = value
        doc = parse_json(read_text(value, "preprocessing file", MIB), value)
    try:
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        return Preprocess.from_dict({**(base.to_dict() if base else {}), **doc})
    except (ValueError, TypeError) as e:
        raise InputError(f"{where}: bad preprocessing ({e})") from None


def _report(bundle: Bundle, as_json: bool, what: str) -> None:
    if as_json:
        click.echo(json.dumps(bundle.to_json() | {"path": str(bundle.path)}))
    else:
        click.echo(f"{what} {bundle.path}: {len(bundle.labels)} labels, features D={bundle.feature_dim}, "
                   f"verified (max abs diff {bundle.provenance['verify']['max_abs_diff']:.2g})")


@click.command("import", context_settings=_HELP)
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--labels", "labels_file", required=True, type=click.Path(dir_okay=False),
              help="LABELS.txt: one label per line, in the order of the model's outputs.")
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False), help="Bundle directory to write.")
@click.option("--preprocess", help="JSON object (inline or a file) with Preprocess fields: num_frames, crop, "
              "resize, mean, std, layout (NCTHW|NTCHW), sampling (uniform|stride), stride. Fields not given "
              "come from the defaults below.")
@click.option("--force", is_flag=True, help="Replace OUT if it is a bundle (atomically; anything else is refused).")
@click.option("--json", "as_json", is_flag=True, help="Print the written bundle.json (plus its path) as JSON.")
@one_line_errors
def import_cmd(model: str, labels_file: str, out: str, preprocess: str | None, force: bool, as_json: bool) -> None:
    """Cut the ONNX video classifier MODEL into a bundle (backbone + canonical linear head).

    The final linear layer (Gemm, MatMul+Add or a 1x1 Conv, optionally followed by Softmax, reshapes
    or a mean over positions) becomes head.onnx; everything before it becomes backbone.onnx. The cut
    is checked in onnxruntime against MODEL on random input (max abs diff <= 1e-4) before writing.

    Default preprocessing, from MODEL's input shape: the axis of size 3 is the channel axis (NCTHW
    or NTCHW), num_frames and crop are the input's sizes, resize = crop / 0.875 (256 for 224),
    ImageNet mean/std, uniform frame sampling. Give --preprocess for anything else (e.g. Kinetics
    mean/std); its fields override these defaults.
    """
    from catsplit.models.importer import OnnxImportError, default_preprocess, import_onnx
    from catsplit.models.onnx_io import load_onnx

    labels = read_labels(labels_file)
    try:
        base = default_preprocess(load_onnx(model), model)
    except OnnxImportError:
        if preprocess is None:
            raise
        base = None
    pre = read_preprocess(preprocess, base) if preprocess is not None else base
    with _steps_bar("import", ["load", "find head", "cut", "verify", "write"]) as progress:
        bundle = import_onnx(model, labels, out, pre, force=force, progress=progress)
    _report(bundle, as_json, "imported")


@click.command("export", context_settings=_HELP)
@click.option("--model", "name", required=True,
              help="A model of catsplit.models.registry (e.g. catnet_s) or module:factory.")
@click.option("--weights", type=click.Path(dir_okay=False, exists=True), help="Checkpoint for the factory.")
@click.option("--labels", "labels_file", required=True, type=click.Path(dir_okay=False),
              help="LABELS.txt: one label per line, in the order of the head's outputs.")
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False), help="Bundle directory to write.")
@click.option("--preprocess", help="JSON object (inline or a file) with Preprocess fields; overrides the "
              "model's defaults, required when it has none.")
@click.option("--force", is_flag=True, help="Replace OUT if it is a bundle (atomically; anything else is refused).")
@click.option("--json", "as_json", is_flag=True, help="Print the written bundle.json (plus its path) as JSON.")
@one_line_errors
def export_cmd(name: str, weights: str | None, labels_file: str, out: str, preprocess: str | None, force: bool,
               as_json: bool) -> None:
    """Export a PyTorch model of ours straight to a bundle (TorchScript exporter, dynamic batch).

    The backbone and head are checked in onnxruntime against the torch modules (max abs diff <= 1e-4)
    before anything is written.
    """
    from catsplit.models.export import export_bundle
    from catsplit.models.registry import resolve

    labels = read_labels(labels_file)
    factory = resolve(name)
    backbone, head, default = factory(len(labels), weights)
    if preprocess is None and default is None:
        raise InputError(f"{name}: the model has no default preprocessing; give --preprocess")
    pre = read_preprocess(preprocess, default) if preprocess is not None else default
    bundle = export_bundle(backbone, head, labels, pre, out, force=force,
                           provenance={"model": name, "weights": os.path.basename(weights) if weights else None})
    _report(bundle, as_json, "exported")


@click.command("quantize", context_settings=_HELP)
@click.argument("bundle", type=click.Path(file_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False), help="Bundle directory to write.")
@click.option("--mode", type=click.Choice(["dynamic", "static", "fp16"]), default="dynamic", show_default=True,
              help="dynamic: int8 weights, activations quantised on the fly (MatMul/Gemm; best for ViTs). "
              "static: int8 QDQ with activation ranges calibrated on --calib clips (Conv too; best for CNNs). "
              "fp16: half-precision backbone for the CUDA provider.")
@click.option("--calib", type=click.Path(exists=True), help="Folder of videos, or a CSV listing them (first "
              "column, relative to the CSV): calibration clips for static, agreement check for every mode.")
@click.option("--force", is_flag=True, help="Replace OUT if it is a bundle (atomically; anything else is refused).")
@click.option("--json", "as_json", is_flag=True, help="Print the written bundle.json (plus its path) as JSON.")
@one_line_errors
def quantize_cmd(bundle: str, out: str, mode: str, calib: str | None, force: bool, as_json: bool) -> None:
    """Write OUT: BUNDLE with an int8 (dynamic/static) or fp16 backbone; the head stays float32.

    Inputs and outputs stay float32, so the runtime runs OUT like BUNDLE. Before writing, OUT's top-1
    predictions are compared with BUNDLE's on the --calib clips (random inputs without them); the
    agreement, the mode and the source backbone's sha256 are recorded in bundle.json's provenance.
    """
    from catsplit.models.quantize import quantize_bundle

    with _steps_bar("quantize", ["calibration clips", f"{mode} backbone", "agreement check", "write"]) as progress:
        written = quantize_bundle(bundle, out, mode=mode, calib=calib, force=force, progress=progress)
    if as_json:
        click.echo(json.dumps(written.to_json() | {"path": str(written.path)}))
    else:
        check = written.provenance["quantization"]["check"]
        agree = (f"top-1 agreement {check['top1_agreement']:.1%} on {check['clips']} clips ({check['inputs']})"
                 if "top1_agreement" in check else check.get("skipped", ""))
        click.echo(f"quantized {written.path}: {mode} backbone ({written.provenance['precision']}); {agree}")
