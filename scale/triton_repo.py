"""`catsplit triton export`: a bundle as a Triton Inference Server model repository.

    MODEL_REPO/
      catsplit.json                 backbone sha256, preprocess, backend, and every head version's edit
      backbone/config.pbtxt         one input [B, *view shape] -> features [B, D]; dynamic batching
      backbone/1/model.onnx         the bundle's backbone: version 1, for good
      head/config.pbtxt             features [B, D] -> logits [B, C]; the newest version is served
      head/<v>/model.onnx           one version per exported or updated bundle
      head/<v>/labels.txt           that version's labels (a record; Triton does not read it)
      video_classifier/config.pbtxt ensemble: VIDEO -> backbone -> FEATURES -> head -> LOGITS, whose
                                    output names labels.txt, so the classification extension answers
                                    with label names
      video_classifier/labels.txt   the labels of the head version served
      video_classifier/1/           (an ensemble's empty version directory)

backbone and head run on Triton's onnxruntime backend (`platform: "onnxruntime_onnx"`), or with
`backend="python"` on its python backend, each version then also holding a `model.py` that runs its
model.onnx with onnxruntime. Every config is built as Triton's own `ModelConfig` protobuf message
(tritonclient's model_config schema) and written in its text format.

Everything is written by runtime/output.py's staged writer. `export_repository` assembles the whole
repository in a private workspace and publishes it in one rename; with `force` it replaces only a
repository this module wrote (`TRITON_REPO_KIND`). `update_repository` adds the head of an edited
bundle of the same backbone as the next head version, which appears whole or not at all, then
replaces the files that say which head is served (head config, ensemble labels and config, the
manifest last), each in one rename. The backbone folder is never touched: Triton takes any changed
time under a model folder for a changed model and would reload it. An update that fails part-way
leaves at most a head version the manifest does not list; running it again replaces that version.
A server in explicit model-control mode switches when told `load_model("video_classifier")` (which
reloads the changed head too); one that polls the repository switches by itself.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from catsplit.runtime.bundle import BACKBONE, Bundle, Preprocess, load_bundle
from catsplit.runtime.errors import CatsplitError, first_line
from catsplit.runtime.onnx_guard import OnnxGuardError, check_external_data
from catsplit.runtime.output import WORKSPACE_TAG, Kind, check_output, staged_output
from catsplit.runtime.session import edit_id

MANIFEST = "catsplit.json"
SCHEMA = "catsplit.triton_repository"
BACKBONE_MODEL, HEAD_MODEL, ENSEMBLE = "backbone", "head", "video_classifier"
VIDEO, FEATURES, LOGITS = "VIDEO", "FEATURES", "LOGITS"
LABELS = "labels.txt"
CONFIG = "config.pbtxt"
MODEL_ONNX, MODEL_PY = "model.onnx", "model.py"
BACKENDS = ("onnxruntime", "python")
KINDS = {"cpu": mc.ModelInstanceGroup.KIND_CPU, "gpu": mc.ModelInstanceGroup.KIND_GPU}
PYTHON_MODEL = Path(__file__).with_name("triton_python_model.py")
_TYPES = {"tensor(float)": mc.TYPE_FP32, "tensor(float16)": mc.TYPE_FP16}


class TritonRepoError(CatsplitError):
    """A bundle or repository that cannot be exported or updated; the message names the file."""


@dataclass(frozen=True)
class RepoOptions:
    """How the server runs the models: `backend`, instance `kind` (cpu or gpu) and `instances` per
    model, `max_batch_size` views per batch, how long the dynamic batcher waits to fill a batch, and
    the backbone's intra-op threads (None: the backend's default)."""

    backend: str = "onnxruntime"
    kind: str = "cpu"
    instances: int = 1
    max_batch_size: int = 32
    max_queue_delay_us: int = 2000
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise TritonRepoError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.kind not in KINDS:
            raise TritonRepoError(f"instance kind must be one of {tuple(KINDS)}, got {self.kind!r}")
        if self.instances < 1 or self.max_batch_size < 1 or self.max_queue_delay_us < 0:
            raise TritonRepoError("instances and max_batch_size must be >= 1, the queue delay >= 0")


@dataclass(frozen=True)
class _IO:
    """A model's one input and one output: names, element type, dims without the batch axis."""

    input: str
    output: str
    dtype: int
    input_dims: tuple[int, ...]
    output_dims: tuple[int, ...]


def _io(path: Path, input_dims: tuple[int, ...], output_dims: tuple[int, ...]) -> _IO:
    """Names and element type as the ONNX file has them; a batch axis fixed in the graph is refused,
    since Triton's dynamic batcher hands a model any batch size up to max_batch_size."""
    try:
        check_external_data(path)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except OnnxGuardError as e:
        raise TritonRepoError(str(e)) from None
    except Exception as e:  # onnxruntime raises several unrelated types for a bad model
        raise TritonRepoError(f"{path}: onnxruntime cannot load it ({first_line(e)})") from None
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    if isinstance(inp.shape[0], int):
        raise TritonRepoError(f"{path}: input {inp.name!r} has a fixed batch size {inp.shape[0]}; Triton's "
                              "dynamic batching needs a dynamic batch axis (re-export the model with one)")
    if inp.type not in _TYPES or out.type != inp.type:
        raise TritonRepoError(f"{path}: input {inp.type} / output {out.type}: only float32 or float16 in and out")
    return _IO(inp.name, out.name, _TYPES[inp.type], input_dims, output_dims)


def _tensor(cls: type, name: str, dtype: int, dims: tuple[int, ...], labels: str | None = None) -> Any:
    t = cls(name=name, data_type=dtype, dims=list(dims))
    if labels:
        t.label_filename = labels
    return t


def model_config(name: str, io: _IO, options: RepoOptions, threads: int | None) -> mc.ModelConfig:
    """backbone or head: the ONNX file's own tensor names, dynamic batching, `instances` per device."""
    batching = mc.ModelDynamicBatching(max_queue_delay_microseconds=options.max_queue_delay_us)
    cfg = mc.ModelConfig(name=name, max_batch_size=options.max_batch_size,
                         input=[_tensor(mc.ModelInput, io.input, io.dtype, io.input_dims)],
                         output=[_tensor(mc.ModelOutput, io.output, io.dtype, io.output_dims)],
                         dynamic_batching=batching,
                         instance_group=[mc.ModelInstanceGroup(kind=KINDS[options.kind], count=options.instances)])
    if options.backend == "python":
        cfg.backend = "python"
    else:
        cfg.platform = "onnxruntime_onnx"
    if threads:
        cfg.parameters["intra_op_thread_count"].string_value = str(threads)
    return cfg


def ensemble_config(backbone: _IO, head: _IO, options: RepoOptions, manifest: dict[str, Any]) -> mc.ModelConfig:
    """VIDEO -> backbone -> FEATURES -> head -> LOGITS (labelled); the manifest's facts a client checks
    ride along as parameters (backbone sha256, edit id and version of the head served)."""
    steps = [mc.ModelEnsembling.Step(model_name=BACKBONE_MODEL, model_version=-1,
                                     input_map={backbone.input: VIDEO}, output_map={backbone.output: FEATURES}),
             mc.ModelEnsembling.Step(model_name=HEAD_MODEL, model_version=-1,
                                     input_map={head.input: FEATURES}, output_map={head.output: LOGITS})]
    cfg = mc.ModelConfig(name=ENSEMBLE, platform="ensemble", max_batch_size=options.max_batch_size,
                         input=[_tensor(mc.ModelInput, VIDEO, backbone.dtype, backbone.input_dims)],
                         output=[_tensor(mc.ModelOutput, LOGITS, head.dtype, head.output_dims, LABELS)],
                         ensemble_scheduling=mc.ModelEnsembling(step=steps))
    latest = manifest["versions"][-1]
    for key, value in (("catsplit_backbone_sha256", manifest["backbone_sha256"]),
                       ("catsplit_edit_id", latest["edit_id"]), ("catsplit_head_version", str(latest["version"]))):
        cfg.parameters[key].string_value = value
    return cfg


def _fill_version(folder: Path, onnx: Path, options: RepoOptions, labels: list[str] | None) -> None:
    """A model version's files in the (staged) folder: model.onnx, model.py for the python backend,
    and the labels of a head version.

    model.onnx is a copy, never a hard link to the bundle's file: every edit hard-links the bundle's
    backbone once more, which changes the shared inode's ctime, and Triton takes a changed time
    under a model folder for a changed model and reloads it."""
    shutil.copyfile(onnx, folder / MODEL_ONNX)
    if options.backend == "python":
        shutil.copyfile(PYTHON_MODEL, folder / MODEL_PY)
    if labels is not None:
        (folder / LABELS).write_text("\n".join(labels) + "\n", encoding="utf-8")


def _bundle_ios(bundle: Bundle) -> tuple[_IO, _IO]:
    view = bundle.preprocess.input_shape(1)[1:]
    backbone = _io(bundle.backbone_path, view, (bundle.feature_dim,))
    head = _io(bundle.head_path, (bundle.feature_dim,), (bundle.num_classes,))
    if head.dtype != backbone.dtype:
        raise TritonRepoError(f"{bundle.head_path}: takes {head.dtype}, the backbone gives {backbone.dtype}")
    return backbone, head


def _version_record(bundle: Bundle, version: int) -> dict[str, Any]:
    return {"version": version, "edit_id": edit_id(bundle), "bundle": str(bundle.path.resolve()),
            "num_classes": bundle.num_classes}


def _served_files(bundle: Bundle, backbone: _IO, head: _IO, options: RepoOptions, manifest: dict[str, Any]
                  ) -> dict[str, str]:
    """The files that say which head version is served, repository-relative name -> text; the
    manifest last, so that it lists a head version only once everything serves it."""
    return {f"{HEAD_MODEL}/{CONFIG}": text_format.MessageToString(model_config(HEAD_MODEL, head, options, threads=1)),
            f"{ENSEMBLE}/{LABELS}": "\n".join(bundle.labels) + "\n",
            f"{ENSEMBLE}/{CONFIG}": text_format.MessageToString(ensemble_config(backbone, head, options, manifest)),
            MANIFEST: json.dumps(manifest, indent=2) + "\n"}


def _plain_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _plain_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _workspace(path: Path) -> bool:
    """runtime/output.py's workspace of a write into the repository (a killed update's, or a live one's)."""
    return path.name.startswith(".") and WORKSPACE_TAG in path.name


def _version_problem(folder: Path) -> str | None:
    """None when `folder` holds only what `_fill_version` writes (and the python backend's
    __pycache__), else the first thing it also holds."""
    for entry in sorted(folder.iterdir()):
        if not (_plain_file(entry) and entry.name in (MODEL_ONNX, MODEL_PY, LABELS)
                or _plain_dir(entry) and entry.name == "__pycache__"):
            return f"it also holds {entry.name!r}, which is not part of a model version"
    return None


def _manifest_problem(repo: Path) -> str | None:
    try:
        doc = json.loads((repo / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return f"it has no readable {MANIFEST}"
    return None if isinstance(doc, dict) and doc.get("schema") == SCHEMA else f"its {MANIFEST} is not catsplit's"


def repository_problem(repo: Path) -> str | None:
    """None when folder `repo` is a model repository this module wrote and nothing else (so replacing
    it loses nothing the user made by hand), else what it is instead."""
    problem = _manifest_problem(repo)
    if problem is not None:
        return problem
    for top in sorted(repo.iterdir()):
        if _workspace(top) or top.name == MANIFEST and _plain_file(top):
            continue
        if top.name not in (BACKBONE_MODEL, HEAD_MODEL, ENSEMBLE) or not _plain_dir(top):
            return f"it also holds {top.name!r}, which is not part of the repository"
        for entry in sorted(top.iterdir()):
            rel = f"{top.name}/{entry.name}"
            if _workspace(entry) or entry.name in (CONFIG, LABELS) and _plain_file(entry):
                continue
            if not (entry.name.isdigit() and _plain_dir(entry)):
                return f"it also holds {rel!r}, which is not part of the repository"
            problem = _version_problem(entry)
            if problem is not None:
                return f"{rel}: {problem}"
    return None


def _served_file_problem(path: Path) -> str | None:
    """None when `path` is one of `_served_files` of a repository this module wrote."""
    repo = path.parent if path.name == MANIFEST else path.parent.parent
    if path.relative_to(repo).as_posix() not in (MANIFEST, f"{HEAD_MODEL}/{CONFIG}", f"{ENSEMBLE}/{LABELS}",
                                                 f"{ENSEMBLE}/{CONFIG}"):
        return "catsplit writes no such file in a model repository"
    return _manifest_problem(repo)


TRITON_REPO_KIND = Kind("catsplit Triton model repository", True, repository_problem)
HEAD_VERSION_KIND = Kind("head version of a catsplit Triton model repository", True, _version_problem)
SERVED_FILE_KIND = Kind("file of a catsplit Triton model repository", False, _served_file_problem)


def export_repository(bundle: str | os.PathLike | Bundle, out: str | os.PathLike, options: RepoOptions = RepoOptions(),
                      force: bool = False) -> dict[str, Any]:
    """Write a new model repository for `bundle` at `out` (runtime/output.py: refused unless `out` is
    new, or `force` and `out` is a repository written here; published in one rename); returns its
    manifest."""
    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    check_output(out, TRITON_REPO_KIND, force)  # before the models are inspected
    backbone, head = _bundle_ios(bundle)
    manifest = {"schema": SCHEMA, "backbone_sha256": bundle.files[BACKBONE],
                "preprocess": bundle.preprocess.to_dict(), "feature_dim": bundle.feature_dim,
                "options": asdict(options), "versions": [_version_record(bundle, 1)]}
    with staged_output(out, TRITON_REPO_KIND, force) as stage:
        root = stage.path
        for model, onnx, labels in ((BACKBONE_MODEL, bundle.backbone_path, None),
                                    (HEAD_MODEL, bundle.head_path, bundle.labels), (ENSEMBLE, None, None)):
            (root / model / "1").mkdir(parents=True)
            if onnx is not None:
                _fill_version(root / model / "1", onnx, options, labels)
        (root / BACKBONE_MODEL / CONFIG).write_text(
            text_format.MessageToString(model_config(BACKBONE_MODEL, backbone, options, options.threads)),
            encoding="utf-8")
        for rel, text in _served_files(bundle, backbone, head, options, manifest).items():
            (root / rel).write_text(text, encoding="utf-8")
    return manifest


def read_manifest(repo: str | os.PathLike) -> dict[str, Any]:
    path = Path(repo) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TritonRepoError(f"{path}: missing (not a model repository written by catsplit triton export)") from None
    except (OSError, ValueError) as e:
        raise TritonRepoError(f"{path}: cannot read it ({e})") from None


def update_repository(bundle: str | os.PathLike | Bundle, repo: str | os.PathLike) -> dict[str, Any]:
    """Add `bundle`'s head as the next head version of `repo`; returns the manifest.

    The bundle must have the repository's backbone (sha256), preprocessing and feature dimension,
    as `Runtime.swap_head` demands. A head already served (same edit id) is left as it is.
    """
    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    repo = Path(repo)
    manifest = read_manifest(repo)
    meta = bundle.path / "bundle.json"
    if bundle.files[BACKBONE] != manifest["backbone_sha256"]:
        raise TritonRepoError(f"{meta}: its backbone (sha256 {bundle.files[BACKBONE][:12]}) is not the one "
                              f"{repo} serves ({manifest['backbone_sha256'][:12]}); export a new repository")
    if bundle.preprocess != Preprocess.from_dict(manifest["preprocess"]):
        raise TritonRepoError(f"{meta}: preprocess differs from the repository's")
    if manifest["versions"][-1]["edit_id"] == edit_id(bundle):
        return manifest
    options = RepoOptions(**manifest["options"])
    backbone, head = _bundle_ios(bundle)
    version = manifest["versions"][-1]["version"] + 1
    manifest["versions"].append(_version_record(bundle, version))
    folder = repo / HEAD_MODEL / str(version)
    # A folder of that version exists only when an update failed before its manifest was written.
    with staged_output(folder, HEAD_VERSION_KIND, force=os.path.lexists(folder)) as stage:
        _fill_version(stage.path, bundle.head_path, options, bundle.labels)
    for rel, text in _served_files(bundle, backbone, head, options, manifest).items():
        with staged_output(repo / rel, SERVED_FILE_KIND, force=True) as stage:
            stage.path.write_text(text, encoding="utf-8")
    return manifest


def load_on_server(url: str, model: str = ENSEMBLE) -> None:
    """Make the server at `url` (explicit model control) load `model` again. For the ensemble Triton
    reloads the composing models whose files changed too, so after `update_repository` the new head
    version and its labels are served together."""
    import tritonclient.http as http

    client = http.InferenceServerClient(url.removeprefix("http://"))
    try:
        client.load_model(model)
    except Exception as e:
        raise TritonRepoError(f"{url}: cannot load {model} ({first_line(e)})") from None
    finally:
        client.close()
