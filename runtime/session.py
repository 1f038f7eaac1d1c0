"""`Runtime`: a frozen backbone session and a swappable `Head` over one bundle.

The backbone (video -> features [B, D]) and the head (features -> logits [B, C]) are separate
onnxruntime sessions, so `swap_head` replaces only the small head and never rebuilds the backbone.
A `Head` is one immutable unit: the head session together with the bundle (labels, edits, files) it
was checked against, so a caller that takes `rt.head` once can never pair one head's logits with
another head's labels. Both sessions run on the same execution provider: CUDA when it is available and
actually initialises, else CPU; `.provider` is what onnxruntime reports it runs, never what was asked
for. On CUDA the features stay on the GPU between the two sessions (IO binding).

Nothing here changes process-wide state: no module-level caches or flags, and onnxruntime's default
logger is left alone. Sessions log nothing (severity FATAL): every failure becomes our one-line error.
Whether CUDA can start is probed first (`cuda_problem`), so onnxruntime is asked for CUDA only where it
can load, and its own warnings about a missing CUDA library never reach a user's terminal.

A video's probabilities are the softmax of the head's logits averaged over its views (clips x
crops): probabilities are averaged, not logits.
"""
from __future__ import annotations

import copy
import ctypes
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import onnxruntime as ort

from catsplit.runtime.bundle import BACKBONE, HEAD, Bundle, BundleError, load_bundle, verify_files
from catsplit.runtime.errors import CatsplitError, first_line
from catsplit.runtime.onnx_guard import OnnxGuardError, check_external_data
from catsplit.runtime.pipeline import prefetch
from catsplit.runtime.video import VideoError, load_views

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
PROVIDERS = ("auto", "cpu", "cuda")
_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
_SILENT = 4  # onnxruntime's FATAL: nothing it logs on its own reaches stderr; errors come back as exceptions


class ProviderError(CatsplitError, RuntimeError):
    """The requested execution provider cannot run here."""


@dataclass
class Prediction:
    """One video's result. `error` is set (and `top_k` empty) when the video could not be used.

    `edit_id` names the `Head` that scored the video (None for a video that failed before scoring).
    """

    video: str
    top_k: list[tuple[str, float]]
    provider: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    edit_id: str | None = None

    def to_json(self) -> dict:
        """The `--json` line: {"video", "top_k": [{"label", "prob"}], "provider", "timings_ms"}."""
        doc = {"video": self.video, "top_k": top_k_json(self.top_k),
               "provider": self.provider, "timings_ms": self.timings_ms}
        if self.error is not None:
            doc["error"] = self.error
        return doc


def _input(session: ort.InferenceSession) -> tuple[str, type]:
    """(name, numpy dtype) of a session's single input."""
    meta = session.get_inputs()[0]
    return meta.name, _NUMPY_TYPES.get(meta.type, np.float32)


def _ort_problem(e: BaseException) -> str:
    """onnxruntime's message without its status prefix, its echo of the file name and the C++
    source location and signature it puts before the actual reason; its paragraph about an unreleased
    opset comes down to the two numbers."""
    text = first_line(e)
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    text = re.sub(r"^Load model from .* failed:", "", text)
    text = re.sub(r"^/\S+:\d+ .*?\) (?=[A-Z])", "", text)
    opset = re.search(r"Opset (\d+) is under development.* till opset (\d+)", text)
    if opset:
        text = f"opset {opset[1]}, newer than the opset {opset[2]} this onnxruntime runs"
    return text.strip() or type(e).__name__


@dataclass(frozen=True)
class Head:
    """One head session plus the bundle it was checked against: labels and session never part.

    The bundle is a private copy, so changing the `Bundle` a head was built from changes nothing here.
    """

    session: ort.InferenceSession
    bundle: Bundle
    edit_id: str
    _input: tuple[str, type] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_input", _input(self.session))

    @property
    def labels(self) -> list[str]:
        return self.bundle.labels

    def logits(self, feats: np.ndarray) -> np.ndarray:
        """Features [B, D] float32 -> logits [B, C] float32."""
        name, dtype = self._input
        try:
            out = self.session.run(None, {name: np.ascontiguousarray(feats, dtype=dtype)})[0]
        except Exception as e:  # onnxruntime's Fail, InvalidArgument, ...
            raise BundleError(f"{self.bundle.path / HEAD}: onnxruntime failed running it "
                              f"({_ort_problem(e)})") from None
        return out.astype(np.float32, copy=False)


def edit_id(bundle: Bundle) -> str:
    """`<number of edits>-<first 12 hex digits of head.onnx's sha256>`: which head, at a glance."""
    return f"{len(bundle.edits)}-{str(bundle.files.get(HEAD, ''))[:12]}"


def _options(threads: int | None, head: bool = False, spin: bool = True) -> ort.SessionOptions:
    """Session options, chosen rather than defaulted.

    Backbone: every graph optimisation (constant folding, Conv/BN/activation and attention fusions,
    blocked layouts; paid once at load), sequential execution (one inference at a time, the
    parallelism is intra-op), `threads` intra-op threads (None: one per physical core). Head: one
    Gemm on [B, D], microseconds of work with nothing to fuse, so basic optimisation and one thread;
    starting no thread pool makes its session ~10x cheaper to create, and that is what swap_head costs.
    `spin=False` stops idle intra-op threads from spin-waiting between ops: when videos are decoded
    alongside inference, spinning threads take the cores the decoders need (measured on 2 cores:
    folder throughput of a small CatNet 150 -> 220 clips/s), for ~3% batch-1 latency on tiny models.
    Logging is off: what onnxruntime would print (shape-inference warnings, a failing kernel's
    coloured line) either is noise or comes back as the exception we report in one line.
    """
    so = ort.SessionOptions()
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_BASIC if head
                                   else ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = _SILENT
    if not spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if head:
        so.intra_op_num_threads = so.inter_op_num_threads = 1
    elif threads:
        so.intra_op_num_threads = threads
    return so


def _guard(path: Path) -> None:
    """External data must stay inside the file's folder (checked without reading those files)."""
    try:
        check_external_data(path)
    except OnnxGuardError as e:
        raise BundleError(str(e)) from None


def _new_session(path: Path, providers: list[str], options: ort.SessionOptions) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as e:  # onnxruntime raises several unrelated types for a bad model
        raise BundleError(f"{path}: onnxruntime {ort.__version__} cannot load it ({_ort_problem(e)})") from None


def cuda_problem() -> str | None:
    """Why onnxruntime's CUDA execution provider cannot start here, or None when it may.

    Asked before onnxruntime is, because onnxruntime logs a failed CUDA start on its process-wide
    logger (two coloured lines on stderr) before falling back to CPU. The probe loads the very library
    onnxruntime would load (so a missing CUDA or cuDNN dependency shows here, quietly) and asks the
    driver for a device; it configures nothing. Only Linux is probed; elsewhere onnxruntime decides.
    """
    if CUDA not in ort.get_available_providers():
        return "this onnxruntime has no CUDA execution provider (install onnxruntime-gpu)"
    if sys.platform != "linux":
        return None
    library = Path(ort.__file__).parent / "capi" / "libonnxruntime_providers_cuda.so"
    try:
        ctypes.CDLL(str(library))
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError as e:
        return f"{library.name} does not load ({first_line(e)})"
    count = ctypes.c_int(0)
    if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value < 1:
        return "the CUDA driver reports no usable GPU"
    return None


def _no_cuda(why: str) -> ProviderError:
    return ProviderError(f"the CUDA execution provider does not start here ({why}); use --provider auto or cpu")


def _last_dim(shape: Sequence) -> int | None:
    d = shape[-1] if shape else None
    return d if isinstance(d, int) else None


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def top_k(probs: np.ndarray, labels: Sequence[str], k: int) -> list[tuple[str, float]]:
    """The `k` most probable (label, probability) of one probability vector, ties in label order: the
    one ranking behind every output (a video, a stream window, its smoothed average)."""
    best = np.argsort(-probs, kind="stable")[:k]
    return [(labels[i], float(probs[i])) for i in best]


def top_k_json(top: Sequence[tuple[str, float]]) -> list[dict[str, Any]]:
    """A top-k as every output writes it (catsplit-run --json, stream windows, Ray rows and answers):
    [{"label", "prob"}, ...]."""
    return [{"label": label, "prob": prob} for label, prob in top]


def video_top_k(logits: np.ndarray, labels: Sequence[str], k: int) -> list[tuple[str, float]]:
    """One video's top-k (label, probability) from its views' logits [V, C]: the softmax of each view,
    averaged over the views. Every path that scores a video (this runtime, the scale-out adapters)
    goes through here, so they agree on what a prediction is."""
    return top_k(softmax(logits).mean(axis=0), labels, k)


class Runtime:
    """Run a bundle: `classify` videos, or call `features` and `head.logits` on arrays yourself.

    `bundle` is a directory (loaded and sha256-verified here) or a `Bundle` already loaded (used
    as is). Before either session exists, both ONNX files pass `check_external_data`; then the
    backbone's input must fit bundle.json's preprocess, its output `feature_dim`, and the head must
    map `feature_dim` to one logit per label. `views` = (temporal clips, spatial crops 1 or 3) per
    video; `batch_size` = views per backbone run; `decode_threads` = threads decoding the next videos
    while the backbone runs (`classify`), 0 = decode inline (the backbone's threads then spin-wait
    between ops, which suits pure `features` latency work). With `provider="auto"` CUDA is tried once,
    here; if it does not start, both sessions run on CPU and `.provider` says so.

    Thread safety: `features`, `Head.logits`, `classify` and `iter_classify` may run concurrently
    from several threads (onnxruntime sessions are safe to run concurrently; each call keeps its own
    buffers). `swap_head` may run while they do: it builds and checks the complete new `Head` first,
    then replaces one reference (swaps serialise on a lock); a failed swap changes nothing. A unit of
    work that took `rt.head` once sees one consistent head and label list; `classify` takes the head
    once per backbone batch, so each video is scored by exactly one head and `Prediction.edit_id`
    names it. `rt.bundle`, `rt.labels` and `rt.logits` read the current head at each access: do not
    combine two such reads while another thread swaps (take `rt.head` instead).
    """

    def __init__(self, bundle: str | os.PathLike | Bundle, provider: str = "auto", threads: int | None = None,
                 views: tuple[int, int] = (1, 1), batch_size: int = 8, decode_threads: int = 2):
        clips, crops = views
        if clips < 1 or crops not in (1, 3):
            raise ValueError(f"views must be (clips >= 1, crops in 1 or 3), got {views}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if provider not in PROVIDERS:
            raise ProviderError(f"unknown provider {provider!r} (choose from {', '.join(PROVIDERS)})")
        self.views, self.batch_size, self.threads = (clips, crops), batch_size, threads
        self.decode_threads = decode_threads  # videos decoded ahead while the backbone runs; 0 = inline
        self._swap_lock = threading.Lock()
        first = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        # What the backbone fixes for every head it will ever serve.
        self.preprocess, self.feature_dim = first.preprocess, first.feature_dim
        self._backbone_sha = first.files[BACKBONE]
        self._backbone_path = first.backbone_path
        providers = [CPU]
        if provider != "cpu":
            why = cuda_problem()
            if why is None:
                providers = [CUDA, CPU]
            elif provider == "cuda":
                raise _no_cuda(why)
        for path in (self._backbone_path, first.head_path):  # both files, before onnxruntime opens either
            _guard(path)
        # Threads spin between ops only when no decoder shares the cores with them.
        self._backbone = _new_session(self._backbone_path, providers, _options(threads, spin=decode_threads == 0))
        self.provider = self._backbone.get_providers()[0]
        if provider == "cuda" and self.provider != CUDA:
            raise _no_cuda("onnxruntime fell back to CPU")
        self._providers = [self.provider] if self.provider == CPU else providers
        self._backbone_input = _input(self._backbone)
        self._check_backbone()
        self._head = self._build_head(first)

    # -- the head -------------------------------------------------------------------------------
    @property
    def head(self) -> Head:
        """The current head: one reference read. Take it once per unit of work."""
        return self._head

    @property
    def bundle(self) -> Bundle:
        return self._head.bundle

    @property
    def labels(self) -> list[str]:
        return self._head.labels

    def logits(self, feats: np.ndarray) -> np.ndarray:
        """The current head on features [B, D] -> float32 logits [B, C] (`rt.head.logits`)."""
        return self._head.logits(feats)

    def stream(self, sources: Sequence[str], **options: Any) -> Iterator[dict[str, Any]]:
        """Classify live sources (URLs, `-`, devices, files) in windows of stream time, yielding one
        JSON-ready document per window and event; `catsplit.runtime.stream` and docs/streaming.md
        describe the sources, the options and the documents."""
        from catsplit.runtime.stream.runner import stream

        return stream(self, sources, **options)

    def swap_head(self, bundle: str | os.PathLike | Bundle) -> Head:
        """Use the head and labels of another bundle of the same backbone; return the new `Head`.

        The new head is loaded and fully checked first (containment, sha256, same backbone sha256,
        same preprocess, feature dimension, one logit per label); only then is the reference replaced.
        On any problem BundleError is raised and the old head keeps running. The backbone is never
        reloaded, nor its file read: only bundle.json and head.onnx of the new bundle are.
        """
        new = bundle if isinstance(bundle, Bundle) else load_bundle(bundle, verify=False)
        with self._swap_lock:
            head = self._build_head(new)
            self._head = head
        return head

    def _build_head(self, bundle: Bundle) -> Head:
        """A checked `Head` for `bundle` (private copy), or BundleError; changes nothing on self."""
        bundle = copy.deepcopy(bundle)
        meta = bundle.path / "bundle.json"
        if bundle.files.get(BACKBONE) != self._backbone_sha:
            raise BundleError(f"{meta}: its backbone's sha256 differs from the running backbone's "
                              f"({self._backbone_path}); a head swap needs a bundle of the same backbone")
        if bundle.preprocess != self.preprocess:
            raise BundleError(f"{meta}: preprocess differs from the running bundle's")
        if bundle.feature_dim != self.feature_dim:
            raise BundleError(f"{meta}: feature_dim {bundle.feature_dim} differs from the backbone's "
                              f"{self.feature_dim}")
        verify_files(bundle, [HEAD])  # containment and sha256 of the one file that is read
        path = bundle.head_path
        _guard(path)
        session = _new_session(path, self._providers, _options(self.threads, head=True))
        self._check_head(session, path, len(bundle.labels))
        return Head(session, bundle, edit_id(bundle))

    # -- checks ---------------------------------------------------------------------------------
    def _check_backbone(self) -> None:
        path, pre = self._backbone_path, self.preprocess
        inp, out = self._backbone.get_inputs(), self._backbone.get_outputs()
        if len(inp) != 1 or len(out) != 1:
            raise BundleError(f"{path}: a backbone has one input and one output, this has "
                              f"{len(inp)} and {len(out)}")
        want = pre.input_shape(1)[1:]
        got = inp[0].shape[1:]
        if len(got) != len(want) or any(isinstance(g, int) and g != w for g, w in zip(got, want)):
            raise BundleError(f"{path}: input {inp[0].name!r} has shape {inp[0].shape}, but bundle.json's "
                              f"preprocess gives [B, {', '.join(map(str, want))}] ({pre.layout})")
        batch = inp[0].shape[0]
        # Some exporters bake the example's batch size into the graph (torch.export with batch 1):
        # such a backbone is fed in chunks of exactly that size.
        self._fixed_batch = batch if isinstance(batch, int) and batch > 0 else None
        d = _last_dim(out[0].shape)
        if d is not None and d != self.feature_dim:
            raise BundleError(f"{path}: output dimension {d} does not match bundle.json feature_dim "
                              f"{self.feature_dim}")

    def _check_head(self, head: ort.InferenceSession, path: Path, num_labels: int) -> None:
        """The head must take [B, D] with D = the backbone's features and give one logit per label."""
        inp, out = head.get_inputs(), head.get_outputs()
        if len(inp) != 1 or len(out) != 1:
            raise BundleError(f"{path}: a head has one input and one output, this has {len(inp)} and {len(out)}")
        d_in, c = _last_dim(inp[0].shape), _last_dim(out[0].shape)
        if d_in is None or c is None:  # symbolic sizes: ask the session itself
            name, dtype = _input(head)
            try:
                probe = head.run(None, {name: np.zeros((1, self.feature_dim), dtype)})[0]
                d_in, c = self.feature_dim, probe.shape[-1]
            except Exception:
                raise BundleError(f"{path}: does not accept features of the backbone's dimension "
                                  f"{self.feature_dim}") from None
        if d_in != self.feature_dim:
            raise BundleError(f"{path}: input dimension {d_in} does not match the backbone's feature "
                              f"dimension {self.feature_dim}")
        if c != num_labels:
            raise BundleError(f"{path}: gives {c} logits but bundle.json lists {num_labels} labels")

    # -- the backbone ---------------------------------------------------------------------------
    def features(self, x: np.ndarray) -> np.ndarray:
        """Backbone on a preprocessed batch [B, *input shape] -> float32 features [B, D]."""
        n = self._fixed_batch
        if n is not None and len(x) != n:
            chunks = [x[i:i + n] for i in range(0, len(x), n)]
            chunks[-1] = np.concatenate([chunks[-1], np.zeros((n - len(chunks[-1]),) + x.shape[1:], x.dtype)])
            return np.concatenate([self.features(c) for c in chunks])[:len(x)]
        name, dtype = self._backbone_input
        try:
            feats = self._backbone.run(None, {name: np.ascontiguousarray(x, dtype=dtype)})[0]
        except Exception as e:
            raise BundleError(f"{self._backbone_path}: onnxruntime failed running it ({_ort_problem(e)})") from None
        if feats.ndim != 2 or feats.shape[1] != self.feature_dim:
            raise BundleError(f"{self._backbone_path}: gives features of shape {list(feats.shape)}, "
                              f"bundle.json says [B, {self.feature_dim}]")
        return feats.astype(np.float32, copy=False)

    def _logits_of_views(self, x: np.ndarray, head: Head) -> tuple[np.ndarray, float, float]:
        """Backbone then `head` on one batch; (logits, backbone ms, head ms)."""
        if self.provider != CUDA or self._fixed_batch is not None:
            t0 = time.perf_counter()
            feats = self.features(x)
            t1 = time.perf_counter()
            logits = head.logits(feats)
            return logits, (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3
        # CUDA: the features never leave the GPU between the two sessions.
        t0 = time.perf_counter()
        name, dtype = self._backbone_input
        bb = self._backbone.io_binding()
        bb.bind_cpu_input(name, np.ascontiguousarray(x, dtype=dtype))
        bb.bind_output(self._backbone.get_outputs()[0].name, "cuda")
        self._backbone.run_with_iobinding(bb)
        feats = bb.get_outputs()[0]
        t1 = time.perf_counter()
        hb = head.session.io_binding()
        hb.bind_ortvalue_input(head.session.get_inputs()[0].name, feats)
        hb.bind_output(head.session.get_outputs()[0].name, "cpu")
        head.session.run_with_iobinding(hb)
        logits = hb.copy_outputs_to_cpu()[0].astype(np.float32, copy=False)
        return logits, (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3

    # -- videos ---------------------------------------------------------------------------------
    def classify(self, videos: Sequence[str | os.PathLike], top_k: int = 5) -> list[Prediction]:
        """Top-k labels of each video; a video that cannot be used gets a Prediction with `error`."""
        return list(self.iter_classify(videos, top_k))

    def iter_classify(self, videos: Iterable[str | os.PathLike], top_k: int = 5) -> Iterator[Prediction]:
        """`classify`, yielding each video's Prediction in input order as soon as it is known.

        Views of several videos are batched together, up to `batch_size` views per backbone run; a
        video's backbone and head timings are its share (by views) of the runs it was part of. One
        video's failure (unreadable, corrupt, too large, out of memory) is its own Prediction.error.
        """
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        pending: list[tuple[str, np.ndarray | str, float]] = []  # (video, views or error, decode ms)
        buffer: list[np.ndarray] = []  # this call's batch array, reused across its flushes
        names = (os.fspath(video) for video in videos)
        for name, loaded in prefetch(names, self._load, self.decode_threads):
            if isinstance(loaded, BaseException):  # not a VideoError: a bug, raised here, in order
                raise loaded
            pending.append((name, *loaded))
            if sum(len(v) for _, v, _ in pending if isinstance(v, np.ndarray)) >= self.batch_size:
                yield from self._flush(pending, top_k, buffer)
        yield from self._flush(pending, top_k, buffer)

    def _load(self, name: str) -> tuple[np.ndarray | str, float]:
        """(views or why the video cannot be used, decode + preprocess ms); runs in a decode thread."""
        t0 = time.perf_counter()
        try:
            views: np.ndarray | str = load_views(name, self.preprocess, *self.views)
        except VideoError as e:
            views = str(e)
        except MemoryError:  # numpy's or PyAV's: this video alone does not fit; the others go on
            views = f"{name}: out of memory while decoding or preprocessing it"
        return views, (time.perf_counter() - t0) * 1e3

    def _flush(self, pending: list[tuple[str, np.ndarray | str, float]], top_k: int,
               buffer: list[np.ndarray]) -> Iterator[Prediction]:
        """Run the backbone and the current head over the pending videos' views, in chunks of
        `batch_size`; `buffer` holds the call's batch array (grown when a flush needs more)."""
        batch = [v for _, v, _ in pending if isinstance(v, np.ndarray)]
        n = sum(len(v) for v in batch)
        if not buffer or len(buffer[0]) < n:
            buffer[:] = [np.empty(self.preprocess.input_shape(max(n, self.batch_size)), np.float32)]
        x = buffer[0][:n]
        if batch:
            np.concatenate(batch, out=x)
        head = self._head  # one head for every video of this flush
        logits, backbone_ms, head_ms = [], 0.0, 0.0
        for start in range(0, len(x), self.batch_size):
            lg, b_ms, h_ms = self._logits_of_views(x[start:start + self.batch_size], head)
            logits.append(lg)
            backbone_ms, head_ms = backbone_ms + b_ms, head_ms + h_ms
        all_logits = np.concatenate(logits) if logits else None
        start = 0
        for name, views, decode_ms in pending:
            if isinstance(views, str):
                yield Prediction(name, [], self.provider, {}, error=views)
                continue
            share = len(views) / len(x)
            top = video_top_k(all_logits[start:start + len(views)], head.labels, top_k)
            start += len(views)
            yield Prediction(name, top, self.provider,
                             {"decode": round(decode_ms, 3), "backbone": round(backbone_ms * share, 3),
                              "head": round(head_ms * share, 3)}, edit_id=head.edit_id)
        pending.clear()
