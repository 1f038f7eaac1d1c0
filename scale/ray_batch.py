"""`catsplit ray classify`: a bundle over an archive of videos as a Ray Data job.

Ray Data reads the files (local paths or any filesystem pyarrow reads), CPU tasks decode and
preprocess them as bundle.json says, and an actor pool runs backbone + head (one `Runtime` per actor,
its sessions loaded once). Each video becomes one row: path, top-k, the edit id of the head that
scored it, and the error when it could not be used; a bad file is an error row, never a failed job.
Rows stream back to the driver, which writes one parquet file through runtime/output.py's staged
writer (a failed job leaves nothing half-written; `force` replaces only such a result file).
"""
from __future__ import annotations

import os
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from catsplit.runtime.bundle import Bundle, Preprocess, load_bundle
from catsplit.runtime.output import Kind, staged_output
from catsplit.runtime.video import VideoError
from catsplit.scale.inputs import Inputs, expand

DECODE_WORKER_BYTES = 256 << 20
SCHEMA = pa.schema([
    ("path", pa.string()),
    ("top_k", pa.list_(pa.struct([("label", pa.string()), ("prob", pa.float64())]))),
    ("edit_id", pa.string()),
    ("error", pa.string()),
])



def _results_problem(path: Path) -> str | None:
    """None when `path` is a parquet file with the columns `classify` writes (what `force` may replace)."""
    try:
        names = pq.read_schema(path).names
    except Exception:  # pyarrow raises several unrelated types for a file that is not parquet
        return "not a readable parquet file"
    return None if names == SCHEMA.names else f"its columns are {names}, not {SCHEMA.names}"


RESULTS_KIND = Kind("catsplit ray classify result", False, _results_problem)


@dataclass(frozen=True)
class JobConfig:
    """How the job runs. `actors`: inference actors (one Runtime each), each reserving `actor_cpus`
    CPUs of the cluster; `threads`: onnxruntime intra-op threads per actor (None: onnxruntime's
    choice, one per core of its node); `batch_size`: views per backbone run, as in catsplit-run."""

    top_k: int = 5
    views: tuple[int, int] = (1, 1)
    batch_size: int = 8
    actors: int = 1
    actor_cpus: float = 1.0
    threads: int | None = None
    provider: str = "auto"

    @property
    def videos_per_call(self) -> int:
        return max(1, self.batch_size // (self.views[0] * self.views[1]))


def _error_row(path: str, error: str) -> dict[str, Any]:
    return {"path": path, "top_k": [], "edit_id": None, "error": error}


def _decode(row: dict[str, Any], preprocess: dict, views: tuple[int, int]) -> dict[str, Any]:
    """A Ray Data task: the file's bytes -> its views, or no views and its error ("" when none: a
    column of None would not survive Ray's conversion to numpy batches)."""
    from catsplit.scale.views import decode_bytes

    pre = Preprocess.from_dict(preprocess)
    try:
        x, error = decode_bytes(row["bytes"], row["path"], pre, views), ""
    except VideoError as e:
        x, error = np.zeros((0, *pre.input_shape(1)[1:]), np.float32), str(e)
    return {"path": row["path"], "views": x, "error": error}


class _Classifier:
    """A Ray Data actor: one Runtime, loaded once; each call scores a batch of decoded videos with
    one head."""

    def __init__(self, bundle: str, config: dict):
        from catsplit.runtime.session import Runtime

        self.config = JobConfig(**config)
        # Decoding tasks share the node's cores, so the Runtime is made as for decoding alongside
        # (decode_threads > 0): its intra-op threads do not spin-wait between ops.
        self.rt = Runtime(bundle, provider=self.config.provider, threads=self.config.threads,
                          views=self.config.views, batch_size=self.config.batch_size)

    def __call__(self, batch: dict[str, np.ndarray]) -> pa.Table:
        from catsplit.runtime.session import top_k_json
        from catsplit.scale.views import score

        head = self.rt.head
        ok = [i for i, error in enumerate(batch["error"]) if not error]
        tops = iter(score(self.rt, head, [batch["views"][i] for i in ok], self.config.top_k, self.config.batch_size))
        rows = []
        for i, (path, error) in enumerate(zip(batch["path"], batch["error"])):
            if error:
                rows.append(_error_row(str(path), str(error)))
            else:
                rows.append({"path": str(path), "top_k": top_k_json(next(tops).top_k), "edit_id": head.edit_id,
                             "error": None})
        return pa.Table.from_pylist(rows, schema=SCHEMA)


def iter_results(bundle: str | os.PathLike | Bundle, inputs: Sequence[str] | Inputs, config: JobConfig = JobConfig()
                 ) -> Iterator[pa.Table]:
    """Run the job on the connected Ray cluster (see `ray_cluster.ray_session`); yield result rows
    as they arrive, in no particular order (inputs that name no file come first)."""
    import ray

    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)  # a bad bundle fails here, not in Ray
    found = inputs if isinstance(inputs, Inputs) else expand(inputs)
    if found.missing:
        yield pa.Table.from_pylist([_error_row(p, f"{p}: no such file") for p in found.missing], schema=SCHEMA)
    if not found.files:
        return
    datasets = [ray.data.read_binary_files(paths, include_paths=True, filesystem=fs) for fs, paths in found.files]
    ds = datasets[0].union(*datasets[1:]) if len(datasets) > 1 else datasets[0]
    # A decoding task reserves one CPU and its memory: the worker (Python, PyAV, numpy; Ray Data's issue
    # detector measured up to 161 MiB) plus the views it returns. Asking for memory also keeps decoding
    # in tasks of its own: Ray Data fuses a map into the next one when their resource requests are
    # equal, which would decode inside the inference actors, one video at a time.
    views_bytes = 4 * int(np.prod(bundle.preprocess.input_shape(config.views[0] * config.views[1])))
    ds = ds.map(_decode, fn_kwargs={"preprocess": bundle.preprocess.to_dict(), "views": config.views},
                num_cpus=1, memory=DECODE_WORKER_BYTES + views_bytes)
    ds = ds.map_batches(_Classifier, fn_constructor_kwargs={"bundle": str(bundle.path), "config": asdict(config)},
                        compute=ray.data.ActorPoolStrategy(size=config.actors), num_cpus=config.actor_cpus,
                        batch_size=config.videos_per_call, batch_format="numpy")
    for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        yield batch.select(SCHEMA.names).cast(SCHEMA)


def classify(bundle: str | os.PathLike | Bundle, inputs: Sequence[str] | Inputs, out: str | os.PathLike,
             config: JobConfig = JobConfig(), progress: Callable[[int], None] | None = None,
             force: bool = False) -> dict[str, Any]:
    """Write the job's rows to the parquet file `out`; returns {"out", "videos", "errors"}.

    `out` appears when the job has finished, complete, or not at all (runtime/output.py; with
    `force` it replaces only a result file of this kind). `progress(rows)` is called each time rows
    arrive.
    """
    found = inputs if isinstance(inputs, Inputs) else expand(inputs)
    videos = errors = 0
    # closing: an exception (Ctrl-C, a failed write) stops the Ray job at once and frees its CPUs, even
    # while a traceback that holds this frame is still alive
    with staged_output(out, RESULTS_KIND, force) as stage, closing(iter_results(bundle, found, config)) as results:
        with pq.ParquetWriter(stage.path, SCHEMA) as writer:
            for table in results:
                writer.write_table(table)
                videos += table.num_rows
                errors += table.num_rows - table.column("error").null_count
                if progress:
                    progress(table.num_rows)
    return {"out": str(out), "videos": videos, "errors": errors}
