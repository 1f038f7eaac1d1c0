"""`catsplit ray serve`: a bundle behind HTTP on Ray Serve.

POST a video file's bytes to the route (`?video=NAME` names it in the answer); the answer is the JSON
object `catsplit-run --json` prints for that video, status 200, or 422 with its `error` when the
video cannot be used. The edit id of the head that answered is in the `X-Catsplit-Edit` header.
Each replica holds one Runtime; requests are decoded in threads and their views batched through
the backbone (`@serve.batch`, up to `max_batch_size` videos).

An edit reaches a running deployment without a restart: `deploy` it again with the edited bundle
and the same `ServeConfig`. The app is deployed from a config, as `serve run CONFIG` and `serve deploy`
do, so only the deployment's user config (the bundle path) differs between the two: Serve calls each
running replica's `reconfigure`, which swaps the head (`Runtime.swap_head`, backbone kept). (The
imperative `serve.run(app)` would give every call a new code version and replace the replicas.)
A bundle of another backbone fails `swap_head`; Serve then replaces the replica, which loads the new
bundle whole. The `X-Catsplit-Replica` header names the replica that answered.
"""
from __future__ import annotations

import asyncio
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ray import serve
from ray.serve import Application
from ray.serve._private import api as serve_api
from ray.serve.schema import ServeDeploySchema
from starlette.requests import Request
from starlette.responses import JSONResponse

from catsplit.runtime.bundle import Bundle
from catsplit.runtime.errors import CatsplitError, first_line
from catsplit.runtime.session import Prediction, Runtime
from catsplit.runtime.video import VideoError
from catsplit.scale.views import Scored, decode_bytes, score

APP = "catsplit"
EDIT_HEADER, REPLICA_HEADER = "X-Catsplit-Edit", "X-Catsplit-Replica"


class ServeDeployError(CatsplitError):
    """The deployment did not come up; the message says why."""


@dataclass(frozen=True)
class ServeConfig:
    """The deployment's shape; everything here but the bundle is fixed for its lifetime."""

    replicas: int = 1
    replica_cpus: float = 1.0
    max_batch_size: int = 8  # videos per backbone batch
    batch_wait_ms: float = 10.0  # how long a batch waits to fill
    top_k: int = 5
    views: tuple[int, int] = (1, 1)
    threads: int | None = None
    provider: str = "auto"


@serve.deployment
class VideoClassifier:
    """One Runtime per replica; the bundle arrives through the user config (`reconfigure`)."""

    def __init__(self, config: dict[str, Any]):
        self.config = ServeConfig(**{**config, "views": tuple(config["views"])})
        self.rt: Runtime | None = None
        self.replica = serve.get_replica_context().replica_id.unique_id
        self._infer.set_max_batch_size(self.config.max_batch_size)
        self._infer.set_batch_wait_timeout_s(self.config.batch_wait_ms / 1e3)

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """First call: load the bundle. Later calls: swap its head for the new bundle's."""
        if self.rt is None:
            c = self.config
            views = c.views[0] * c.views[1]
            # Requests decode in threads beside it: made as for decoding alongside (no spin-waiting).
            self.rt = Runtime(user_config["bundle"], provider=c.provider, threads=c.threads, views=c.views,
                              batch_size=c.max_batch_size * views)
        else:
            self.rt.swap_head(user_config["bundle"])

    async def __call__(self, request: Request) -> JSONResponse:
        name = request.query_params.get("video", "upload")
        data = await request.body()
        t0 = time.perf_counter()
        try:
            views = await asyncio.to_thread(decode_bytes, data, name, self.rt.bundle.preprocess, self.config.views)
        except VideoError as e:
            return JSONResponse(Prediction(name, [], self.rt.provider, error=str(e)).to_json(), status_code=422)
        decode_ms = (time.perf_counter() - t0) * 1e3
        scored, edit = await self._infer(views)
        timings = {"decode": round(decode_ms, 3), "backbone": round(scored.backbone_ms, 3),
                   "head": round(scored.head_ms, 3)}
        return JSONResponse(Prediction(name, scored.top_k, self.rt.provider, timings).to_json(),
                            headers={EDIT_HEADER: edit, REPLICA_HEADER: self.replica})

    @serve.batch
    async def _infer(self, videos: list[np.ndarray]) -> list[tuple[Scored, str]]:
        head = self.rt.head  # one head for the whole batch
        c = self.config
        scored = await asyncio.to_thread(score, self.rt, head, videos, c.top_k, self.rt.batch_size)
        return [(s, head.edit_id) for s in scored]


def build_app(args: dict[str, Any]) -> Application:
    """The application builder the deploy config names (`args`: {"config": ServeConfig as a dict})."""
    return VideoClassifier.bind(args["config"])


def deploy_config(bundle: str | os.PathLike, config: ServeConfig, host: str, port: int, route: str
                  ) -> ServeDeploySchema:
    """The Serve config of the app: everything fixed but the replicas' user config, the bundle."""
    return ServeDeploySchema.model_validate({
        "http_options": {"host": host, "port": port},
        "applications": [{
            "name": APP, "route_prefix": route, "import_path": f"{__name__}:build_app",
            "args": {"config": asdict(config)},
            "deployments": [{
                "name": VideoClassifier.name, "num_replicas": config.replicas,
                # Requests queued per replica: a full batch waiting while the previous one runs.
                "max_ongoing_requests": 2 * config.max_batch_size,
                "ray_actor_options": {"num_cpus": config.replica_cpus},
                "user_config": {"bundle": str(Path(bundle).resolve())},
            }],
        }],
    })


def deploy(bundle: str | os.PathLike | Bundle, config: ServeConfig = ServeConfig(), host: str = "127.0.0.1",
           port: int = 8000, route: str = "/classify", timeout: float = 300.0) -> str:
    """Deploy (or update) the app on the connected Ray cluster; returns its URL once every replica
    runs `bundle`.

    A second call with another bundle of the same backbone and the same `config` is an in-place
    update: Serve only reconfigures the running replicas, which swap their heads.
    """
    path = bundle.path if isinstance(bundle, Bundle) else bundle
    schema = deploy_config(path, config, host, port, route)
    client = serve_api.serve_start(http_options=schema.http_options.model_dump())  # as `serve run CONFIG`
    client.deploy_apps(schema)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app = serve.status().applications.get(APP)
        if app is not None and app.status == "RUNNING":
            break
        if app is not None and app.status == "DEPLOY_FAILED":
            raise ServeDeployError(f"{path}: Serve could not deploy it ({first_line(RuntimeError(app.message))})")
        time.sleep(0.1)
    else:
        raise ServeDeployError(f"{path}: the deployment was not running after {timeout:.0f} s")
    return f"http://{host}:{port}{route}"
