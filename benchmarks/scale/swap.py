"""How long a head swap takes to reach a running service: Ray Serve (redeploy with the edited bundle:
the replicas' reconfigure swaps the head) and Triton (a new head version, then load_model of the
ensemble). Timed from the call that starts the swap to the first answer that carries the new head."""
from __future__ import annotations

import statistics
import time
import urllib.request
from pathlib import Path

import numpy as np

from catsplit.runtime.bundle import load_bundle
from catsplit.runtime.session import edit_id
from catsplit.runtime.video import load_views
from catsplit.scale.processes import free_port
from catsplit.scale.ray_cluster import ray_session
from catsplit.scale.ray_serve import EDIT_HEADER, ServeConfig, deploy
from catsplit.scale.triton_repo import RepoOptions, export_repository, load_on_server, update_repository
from catsplit.scale.triton_server import TritonServer


def _post_edit(url: str, video: str) -> str:
    with open(video, "rb") as f:
        req = urllib.request.Request(f"{url}?video={video}", data=f.read(), method="POST")
    with urllib.request.urlopen(req, timeout=300) as r:
        return r.headers[EDIT_HEADER]


def serve(bundles: list[str], video: str, swaps: int) -> dict:
    """Deploy bundles[0], then redeploy bundles[1], bundles[0], ... `swaps` times."""
    from ray import serve as ray_serve

    with ray_session(num_cpus=2, object_store_memory=512 << 20):
        port = free_port()
        url = deploy(bundles[0], ServeConfig(), port=port)
        _post_edit(url, video)
        deploy_s, reach_s = [], []
        for k in range(1, swaps + 1):
            target = bundles[k % 2]
            want = edit_id(load_bundle(target))
            t0 = time.perf_counter()
            deploy(target, ServeConfig(), port=port)
            deploy_s.append(time.perf_counter() - t0)
            while _post_edit(url, video) != want:
                time.sleep(0.01)
            reach_s.append(time.perf_counter() - t0)
        ray_serve.shutdown()
    return {"swaps": swaps, "deploy_s": statistics.median(deploy_s), "reach_s": statistics.median(reach_s),
            "reach_all_s": reach_s}


def _answer(url: str, x: np.ndarray) -> tuple[list[str], str]:
    """(top-1 label of each view, edit id of the ensemble the server has loaded)."""
    import tritonclient.http as http

    client = http.InferenceServerClient(url)
    try:
        inp = http.InferInput("VIDEO", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        out = http.InferRequestedOutput("LOGITS", class_count=1)
        result = client.infer("video_classifier", [inp], outputs=[out]).as_numpy("LOGITS").ravel()
        edit = client.get_model_config("video_classifier")["parameters"]["catsplit_edit_id"]["string_value"]
        return [e.decode().split(":", 2)[2] for e in result], edit
    finally:
        client.close()


def triton(bundles: list[str], video: str, swaps: int, work: Path) -> dict:
    """A python-backend repository of bundles[0] on a local tritonserver; each swap adds the other
    bundle's head as a new version and loads the ensemble."""
    repo = work / "triton_repo"
    export_repository(bundles[0], repo, RepoOptions(backend="python"), force=True)
    x = load_views(video, load_bundle(bundles[0], verify=False).preprocess)
    with TritonServer(repo, load=["video_classifier"], workdir=work / "tritonserver") as server:
        _answer(server.url, x)
        update_s, load_s, reach_s = [], [], []
        for k in range(1, swaps + 1):
            target = load_bundle(bundles[k % 2])
            t0 = time.perf_counter()
            update_repository(target, repo)
            t1 = time.perf_counter()
            load_on_server(server.url)
            t2 = time.perf_counter()
            labels, edit = _answer(server.url, x)
            if edit != edit_id(target) or not set(labels) <= set(target.labels):
                raise RuntimeError(f"triton answered {labels} (edit {edit}) after the swap to {target.path}")
            update_s.append(t1 - t0)
            load_s.append(t2 - t1)
            reach_s.append(time.perf_counter() - t0)
    return {"swaps": swaps, "update_s": statistics.median(update_s), "load_s": statistics.median(load_s),
            "reach_s": statistics.median(reach_s), "reach_all_s": reach_s}
