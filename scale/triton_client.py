"""`catsplit-run BUNDLE --triton URL`: decode and preprocess here, classify on a Triton server.

The device reads only BUNDLE's bundle.json (the preprocessing, and the backbone's sha256, which must
be the one the server's ensemble serves). Each video's views go to the `video_classifier` ensemble
as one request; the server answers through Triton's classification extension, so the labels are
those of the head the server runs now, including an edit it switched to after the device got its
bundle. The logits travel as text with six decimals (Triton's format), so probabilities agree with
a local `catsplit-run` to about 1e-6. Needs `pip install 'catsplit[triton-client]'`.
"""
from __future__ import annotations

import os
import time
from typing import Iterable, Iterator

import numpy as np

from catsplit.runtime.bundle import BACKBONE, load_bundle
from catsplit.runtime.errors import CatsplitError, first_line
from catsplit.runtime.pipeline import prefetch
from catsplit.runtime.session import Prediction, video_top_k
from catsplit.runtime.video import VideoError, load_views

ENSEMBLE, VIDEO, LOGITS = "video_classifier", "VIDEO", "LOGITS"  # as catsplit.scale.triton_repo writes them


class TritonClientError(CatsplitError):
    """The server cannot classify for this bundle (unreachable, another backbone, a failed request)."""


def _http():
    try:
        import tritonclient.http as http
    except ImportError:
        raise TritonClientError("--triton needs the Triton HTTP client: "
                                "pip install 'catsplit[triton-client]'") from None
    return http


def parse_classes(entries: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Classification entries [V, C] of b"value:index:label" -> logits [V, C] and the labels by index."""
    v, c = entries.shape
    logits = np.empty((v, c), np.float64)
    labels = [""] * c
    for row, view in enumerate(entries):
        for entry in view:
            value, index, label = entry.decode("utf-8").split(":", 2)
            logits[row, int(index)] = float(value)
            labels[int(index)] = label
    return logits, labels


class _Ensemble:
    """The server's `video_classifier`, checked once against the bundle: its classes, batch limit and
    input type come from its config."""

    def __init__(self, http, url: str, backbone_sha256: str, bundle_json: os.PathLike):
        self.http, self.url = http, url
        self.client = http.InferenceServerClient(url.removeprefix("http://"))
        try:
            config = self.client.get_model_config(ENSEMBLE)
        except Exception as e:
            self.client.close()
            raise TritonClientError(f"{url}: cannot read model {ENSEMBLE!r} ({first_line(e)})") from None
        served = config.get("parameters", {}).get("catsplit_backbone_sha256", {}).get("string_value") or "unknown"
        if served != backbone_sha256:
            self.client.close()
            raise TritonClientError(f"{bundle_json}: its backbone ({backbone_sha256[:12]}) is not the one {url} "
                                    f"serves ({served[:12]})")
        self.classes = int(config["output"][0]["dims"][-1])
        self.batch = int(config.get("max_batch_size") or 1)
        self.dtype = config["input"][0]["data_type"].removeprefix("TYPE_")

    def classify(self, x: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Views [V, ...] -> logits [V, C] and labels, in requests of at most the server's batch size."""
        entries = []
        for i in range(0, len(x), self.batch):
            chunk = x[i:i + self.batch]
            inp = self.http.InferInput(VIDEO, list(chunk.shape), self.dtype)
            inp.set_data_from_numpy(np.ascontiguousarray(chunk, np.float16 if self.dtype == "FP16" else np.float32))
            out = self.http.InferRequestedOutput(LOGITS, class_count=self.classes)
            try:
                result = self.client.infer(ENSEMBLE, [inp], outputs=[out])
            except Exception as e:
                raise TritonClientError(f"{self.url}: {ENSEMBLE} failed ({first_line(e)})") from None
            entries.append(result.as_numpy(LOGITS).reshape(len(chunk), self.classes))
        return parse_classes(np.concatenate(entries))


def iter_predictions(bundle: str | os.PathLike, videos: Iterable[str | os.PathLike], url: str, top_k: int = 5,
                     views: tuple[int, int] = (1, 1), decode_threads: int = 2) -> Iterator[Prediction]:
    """`Runtime.iter_classify`'s predictions, scored by the server at `url` (host:port of its HTTP API);
    a video that cannot be used gets a Prediction with `error`, a server problem raises."""
    meta = load_bundle(bundle, verify=False)
    server = _Ensemble(_http(), url, meta.files[BACKBONE], meta.path / "bundle.json")
    provider = f"triton:{url}"

    def load(name: str) -> tuple[np.ndarray | str, float]:
        t0 = time.perf_counter()
        try:
            x: np.ndarray | str = load_views(name, meta.preprocess, *views)
        except VideoError as e:
            x = str(e)
        return x, (time.perf_counter() - t0) * 1e3

    try:
        for name, loaded in prefetch((os.fspath(v) for v in videos), load, decode_threads):
            if isinstance(loaded, BaseException):
                raise loaded
            x, decode_ms = loaded
            if isinstance(x, str):
                yield Prediction(name, [], provider, {}, error=x)
                continue
            t0 = time.perf_counter()
            logits, labels = server.classify(x)
            yield Prediction(name, video_top_k(logits, labels, top_k), provider,
                             {"decode": round(decode_ms, 3), "server": round((time.perf_counter() - t0) * 1e3, 3)})
    finally:
        server.client.close()
