"""`Runtime`: a frozen backbone session and a swappable head session over one bundle.

The backbone (video -> features [B, D]) and the head (features -> logits [B, C]) are separate
onnxruntime sessions, so `swap_head` replaces only the small head and never rebuilds the backbone.
Both run on the same execution provider: CUDA when it is available and actually initialises, else
CPU; `.provider` is what onnxruntime reports it runs, never what was asked for. On CUDA the
features stay on the GPU between the two sessions (IO binding).

A video's probabilities are the softmax of the head's logits averaged over its views (clips x
crops): probabilities are averaged, not logits.
"""
from __future__ import annotations

import os
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import onnxruntime as ort

from catsplit.runtime.bundle import BACKBONE, HEAD, Bundle, BundleError, load_bundle, sha256_file
from catsplit.runtime.errors import CatsplitError, first_line
from catsplit.runtime.onnx_guard import OnnxGuardError, check_external_data
from catsplit.runtime.pipeline import prefetch
from catsplit.runtime.video import VideoError, load_views

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
PROVIDERS = ("auto", "cpu", "cuda")
_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
_cuda_may_work = True  # cleared once CUDA failed to start in this process, so it is not retried
_NO_CUDA = ("the CUDA execution provider does not start here (no GPU, or onnxruntime-gpu without its "
            "CUDA/cuDNN libraries); use --provider auto or cpu")


class ProviderError(CatsplitError, RuntimeError):
    """The requested execution provider cannot run here."""


@dataclass
class Prediction:
    """One video's result. `error` is set (and `top_k` empty) when the video could not be used."""

    video: str
    top_k: list[tuple[str, float]]
    provider: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict:
        """The `--json` line: {"video", "top_k": [{"label", "prob"}], "provider", "timings_ms"}."""
        doc = {"video": self.video, "top_k": [{"label": lab, "prob": p} for lab, p in self.top_k],
               "provider": self.provider, "timings_ms": self.timings_ms}
        if self.error is not None:
            doc["error"] = self.error
        return doc


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
    """
    so = ort.SessionOptions()
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_BASIC if head
                                   else ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3  # shape-inference warnings are noise for an end user
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


def _new_session(path: Path, providers: list[str], threads: int | None, head: bool = False,
                 spin: bool = True) -> ort.InferenceSession:
    quiet = CUDA in providers  # a CUDA EP without its libraries logs loudly, then falls back to CPU
    if quiet:
        ort.set_default_logger_severity(4)
    try:
        return ort.InferenceSession(str(path), _options(threads, head, spin), providers=providers)
    except Exception as e:  # onnxruntime raises several unrelated types for a bad model
        raise BundleError(f"{path}: onnxruntime cannot load it ({first_line(e)})") from None
    finally:
        if quiet:
            ort.set_default_logger_severity(2)  # onnxruntime's default, WARNING


def _load_head_bundle(path: str | os.PathLike) -> Bundle:
    """bundle.json of `path`, with head.onnx checked against its sha256 (the backbone is not read)."""
    new = load_bundle(path, verify=False)
    if not new.head_path.is_file():
        raise BundleError(f"{new.head_path}: missing (listed in bundle.json)")
    if sha256_file(new.head_path) != new.files.get(HEAD):
        raise BundleError(f"{new.head_path}: sha256 does not match bundle.json (file changed or corrupt)")
    return new


def _cuda_failed() -> None:
    global _cuda_may_work
    _cuda_may_work = False


def _providers_for(provider: str) -> list[str]:
    """The provider list to try: CUDA first unless CPU was asked for or CUDA already failed here."""
    if provider not in PROVIDERS:
        raise ProviderError(f"unknown provider {provider!r} (choose from {', '.join(PROVIDERS)})")
    if provider == "cpu" or not _cuda_may_work or CUDA not in ort.get_available_providers():
        if provider == "cuda":
            raise ProviderError(_NO_CUDA)
        return [CPU]
    return [CUDA, CPU]


_INPUTS: "weakref.WeakKeyDictionary[ort.InferenceSession, tuple[str, type]]" = weakref.WeakKeyDictionary()


def _input_of(session: ort.InferenceSession) -> tuple[str, type]:
    """(name, numpy dtype) of a session's input, looked up once per session, not once per call."""
    found = _INPUTS.get(session)
    if found is None:
        meta = session.get_inputs()[0]
        found = _INPUTS[session] = (meta.name, _NUMPY_TYPES.get(meta.type, np.float32))
    return found


def _last_dim(shape: Sequence) -> int | None:
    d = shape[-1] if shape else None
    return d if isinstance(d, int) else None


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def video_top_k(logits: np.ndarray, labels: Sequence[str], k: int) -> list[tuple[str, float]]:
    """One video's top-k (label, probability) from its views' logits [V, C]: the softmax of each view,
    averaged over the views; ties keep label order. Every path that scores a video (this runtime, the
    scale-out adapters) goes through here, so they agree on what a prediction is."""
    p = _softmax(logits).mean(axis=0)
    best = np.argsort(-p, kind="stable")[:k]
    return [(labels[i], float(p[i])) for i in best]


class Runtime:
    """Run a bundle: `classify` videos, or call `features` / `logits` on arrays yourself.

    `bundle` is a directory (loaded and sha256-verified here) or a `Bundle` already loaded (used
    as is). Before either session exists, both ONNX files pass `check_external_data`; then the
    backbone's input must fit bundle.json's preprocess, its output `feature_dim`, and the head must
    map `feature_dim` to one logit per label. `views` = (temporal clips, spatial crops 1 or 3) per
    video; `batch_size` = views per backbone run; `decode_threads` = threads decoding the next videos
    while the backbone runs (`classify`), 0 = decode inline (the backbone's threads then spin-wait
    between ops, which suits pure `features` latency work).
    """

    def __init__(self, bundle: str | os.PathLike | Bundle, provider: str = "auto", threads: int | None = None,
                 views: tuple[int, int] = (1, 1), batch_size: int = 8, decode_threads: int = 2):
        clips, crops = views
        if clips < 1 or crops not in (1, 3):
            raise ValueError(f"views must be (clips >= 1, crops in 1 or 3), got {views}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.views, self.batch_size, self.threads = (clips, crops), batch_size, threads
        self.decode_threads = decode_threads  # videos decoded ahead while the backbone runs; 0 = inline
        self._batch: np.ndarray | None = None  # the views of one flush, reused across flushes
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self._providers = _providers_for(provider)
        for path in (self.bundle.backbone_path, self.bundle.head_path):
            _guard(path)  # both files, before onnxruntime opens either
        # Threads spin between ops only when no decoder shares the cores with them.
        self._backbone = _new_session(self.bundle.backbone_path, self._providers, threads, spin=decode_threads == 0)
        self.provider = self._backbone.get_providers()[0]
        if self._providers[0] == CUDA and self.provider != CUDA:
            _cuda_failed()
            if provider == "cuda":
                raise ProviderError(_NO_CUDA)
            self._providers = [CPU]
        self._check_backbone()
        self._head = _new_session(self.bundle.head_path, self._providers, threads, head=True)
        self._check_head(self._head, self.bundle)

    # -- sessions and their checks ------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        return self.bundle.labels

    @property
    def feature_dim(self) -> int:
        return self.bundle.feature_dim

    def _check_backbone(self) -> None:
        path, pre = self.bundle.backbone_path, self.bundle.preprocess
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

    def _check_head(self, head: ort.InferenceSession, bundle: Bundle) -> None:
        """The head must take [B, D] with D = the backbone's features and give one logit per label."""
        path = bundle.head_path
        inp, out = head.get_inputs(), head.get_outputs()
        if len(inp) != 1 or len(out) != 1:
            raise BundleError(f"{path}: a head has one input and one output, this has {len(inp)} and {len(out)}")
        d_in, c = _last_dim(inp[0].shape), _last_dim(out[0].shape)
        if d_in is None or c is None:  # symbolic sizes: ask the session itself
            try:
                probe = head.run(None, {inp[0].name: np.zeros((1, self.feature_dim), _NUMPY_TYPES.get(
                    inp[0].type, np.float32))})[0]
                d_in, c = self.feature_dim, probe.shape[-1]
            except Exception:
                raise BundleError(f"{path}: does not accept features of the backbone's dimension "
                                  f"{self.feature_dim}") from None
        if d_in != self.feature_dim:
            raise BundleError(f"{path}: input dimension {d_in} does not match the backbone's feature "
                              f"dimension {self.feature_dim}")
        if c != len(bundle.labels):
            raise BundleError(f"{path}: gives {c} logits but bundle.json lists {len(bundle.labels)} labels")

    # -- the two stages -----------------------------------------------------------------------
    @staticmethod
    def _feed(session: ort.InferenceSession, x: np.ndarray) -> dict[str, np.ndarray]:
        name, dtype = _input_of(session)
        return {name: np.ascontiguousarray(x, dtype=dtype)}

    def features(self, x: np.ndarray) -> np.ndarray:
        """Backbone on a preprocessed batch [B, *input shape] -> float32 features [B, D]."""
        n = self._fixed_batch
        if n is not None and len(x) != n:
            chunks = [x[i:i + n] for i in range(0, len(x), n)]
            chunks[-1] = np.concatenate([chunks[-1], np.zeros((n - len(chunks[-1]),) + x.shape[1:], x.dtype)])
            return np.concatenate([self.features(c) for c in chunks])[:len(x)]
        feats = self._backbone.run(None, self._feed(self._backbone, x))[0]
        if feats.ndim != 2 or feats.shape[1] != self.feature_dim:
            raise BundleError(f"{self.bundle.backbone_path}: gives features of shape {list(feats.shape)}, "
                              f"bundle.json says [B, {self.feature_dim}]")
        return feats.astype(np.float32, copy=False)

    def logits(self, feats: np.ndarray) -> np.ndarray:
        """Head on features [B, D] -> float32 logits [B, C]."""
        return self._head.run(None, self._feed(self._head, feats))[0].astype(np.float32, copy=False)

    def _logits_of_views(self, x: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Backbone then head on one batch; (logits, backbone ms, head ms)."""
        if self.provider != CUDA or self._fixed_batch is not None:
            t0 = time.perf_counter()
            feats = self.features(x)
            t1 = time.perf_counter()
            logits = self.logits(feats)
            return logits, (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3
        # CUDA: the features never leave the GPU between the two sessions.
        t0 = time.perf_counter()
        bb = self._backbone.io_binding()
        name, arr = next(iter(self._feed(self._backbone, x).items()))
        bb.bind_cpu_input(name, arr)
        bb.bind_output(self._backbone.get_outputs()[0].name, "cuda")
        self._backbone.run_with_iobinding(bb)
        feats = bb.get_outputs()[0]
        t1 = time.perf_counter()
        hb = self._head.io_binding()
        hb.bind_ortvalue_input(self._head.get_inputs()[0].name, feats)
        hb.bind_output(self._head.get_outputs()[0].name, "cpu")
        self._head.run_with_iobinding(hb)
        logits = hb.copy_outputs_to_cpu()[0].astype(np.float32, copy=False)
        return logits, (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3

    # -- heads ----------------------------------------------------------------------------------
    def swap_head(self, bundle: str | os.PathLike | Bundle) -> None:
        """Use the head and labels of another bundle of the same backbone; the backbone stays loaded."""
        # Only the new head is read, so only its checksum is checked (hashing a large backbone that
        # is never opened would cost more than the whole swap).
        new = bundle if isinstance(bundle, Bundle) else _load_head_bundle(bundle)
        if new.files.get(BACKBONE) != self.bundle.files.get(BACKBONE):
            raise BundleError(f"{new.backbone_path}: sha256 differs from the running backbone's "
                              f"({self.bundle.backbone_path}); swap_head needs a bundle of the same backbone")
        if new.preprocess != self.bundle.preprocess:
            raise BundleError(f"{new.path / 'bundle.json'}: preprocess differs from the running bundle's")
        if new.feature_dim != self.feature_dim:
            raise BundleError(f"{new.path / 'bundle.json'}: feature_dim {new.feature_dim} differs from the "
                              f"backbone's {self.feature_dim}")
        _guard(new.head_path)
        head = _new_session(new.head_path, self._providers, self.threads, head=True)
        self._check_head(head, new)
        self._head, self.bundle = head, new

    # -- videos ---------------------------------------------------------------------------------
    def classify(self, videos: Sequence[str | os.PathLike], top_k: int = 5) -> list[Prediction]:
        """Top-k labels of each video; a video that cannot be used gets a Prediction with `error`."""
        return list(self.iter_classify(videos, top_k))

    def iter_classify(self, videos: Iterable[str | os.PathLike], top_k: int = 5) -> Iterator[Prediction]:
        """`classify`, yielding each video's Prediction in input order as soon as it is known.

        Views of several videos are batched together, up to `batch_size` views per backbone run; a
        video's backbone and head timings are its share (by views) of the runs it was part of.
        """
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        pending: list[tuple[str, np.ndarray | str, float]] = []  # (video, views or error, decode ms)
        names = (os.fspath(video) for video in videos)
        for name, loaded in prefetch(names, self._load, self.decode_threads):
            if isinstance(loaded, BaseException):  # not a VideoError: a bug, raised here, in order
                raise loaded
            pending.append((name, *loaded))
            if sum(len(v) for _, v, _ in pending if isinstance(v, np.ndarray)) >= self.batch_size:
                yield from self._flush(pending, top_k)
        yield from self._flush(pending, top_k)

    def _load(self, name: str) -> tuple[np.ndarray | str, float]:
        """(views or the VideoError's message, decode + preprocess ms); runs in a decode thread."""
        t0 = time.perf_counter()
        try:
            views: np.ndarray | str = load_views(name, self.bundle.preprocess, *self.views)
        except VideoError as e:
            views = str(e)
        return views, (time.perf_counter() - t0) * 1e3

    def _flush(self, pending: list[tuple[str, np.ndarray | str, float]], top_k: int) -> Iterator[Prediction]:
        """Run the backbone and head over the pending videos' views, in chunks of `batch_size`."""
        batch = [v for _, v, _ in pending if isinstance(v, np.ndarray)]
        n = sum(len(v) for v in batch)
        if self._batch is None or len(self._batch) < n:
            self._batch = np.empty(self.bundle.preprocess.input_shape(max(n, self.batch_size)), np.float32)
        x = self._batch[:n]
        if batch:
            np.concatenate(batch, out=x)
        logits, backbone_ms, head_ms = [], 0.0, 0.0
        for start in range(0, len(x), self.batch_size):
            lg, b_ms, h_ms = self._logits_of_views(x[start:start + self.batch_size])
            logits.append(lg)
            backbone_ms, head_ms = backbone_ms + b_ms, head_ms + h_ms
        all_logits = np.concatenate(logits) if logits else None
        start = 0
        for name, views, decode_ms in pending:
            if isinstance(views, str):
                yield Prediction(name, [], self.provider, {}, error=views)
                continue
            share = len(views) / len(x)
            top = video_top_k(all_logits[start:start + len(views)], self.labels, top_k)
            start += len(views)
            yield Prediction(name, top, self.provider,
                             {"decode": round(decode_ms, 3), "backbone": round(backbone_ms * share, 3),
                              "head": round(head_ms * share, 3)})
        pending.clear()
