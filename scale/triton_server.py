"""A real Triton Inference Server on this machine, for tests, benchmarks and trying a repository out.

It is the `tritonserver` binary (server 2.51, python backend only) that the PyPI package
`nvidia-pytriton` ships. Three things make it run outside NVIDIA's container, as pytriton itself does:
the wheel's `nvidia_pytriton.libs` on LD_LIBRARY_PATH; the python backend stub built for the
interpreter's X.Y copied into the backend directory; and that interpreter first on PATH, because the
stub starts the Python it finds there as `python3`, whose site-packages is what `model.py` imports
from. The stub of server 2.51 is built against numpy 1's ABI (a numpy 2 interpreter hands back empty
tensors), so the interpreter needs numpy<2, onnxruntime and nvidia-pytriton; `make install` builds
one in `.venv/triton-server`, kept apart so that the project itself runs numpy 2.

The server listens on 127.0.0.1 only (HTTP; gRPC and metrics off), in explicit model-control mode,
and runs in its own process group, which `stop` ends (SIGTERM, then SIGKILL). Before it starts, the
repository's model.py files are compiled with the stub's Python (see `start`).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from catsplit.runtime.errors import CatsplitError
from catsplit.scale.processes import OwnedProcess, free_port, start_group, stop_group

PYTHON_ENV = "CATSPLIT_TRITON_PYTHON"
_PROBE = """
import importlib.util, json, sys, sysconfig
spec = importlib.util.find_spec("pytriton")
import numpy as np
print(json.dumps({"pytriton": spec and spec.submodule_search_locations[0], "numpy": np.__version__,
                  "onnxruntime": importlib.util.find_spec("onnxruntime") is not None,
                  "version": "%d.%d" % sys.version_info[:2], "libdir": sysconfig.get_config_var("LIBDIR")}))
"""


class TritonServerError(CatsplitError):
    """The server cannot start here; the message says what is missing or names its log."""


def default_python() -> Path:
    """$CATSPLIT_TRITON_PYTHON, else the interpreter `make install` builds beside the project's venv."""
    if os.environ.get(PYTHON_ENV):
        return Path(os.environ[PYTHON_ENV])
    return Path(sys.prefix) / "triton-server" / "bin" / "python"


def _probe(python: Path) -> dict:
    if not python.is_file():
        raise TritonServerError(f"{python}: no such interpreter (set {PYTHON_ENV}, or run `make install`)")
    done = subprocess.run([str(python), "-c", _PROBE], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise TritonServerError(f"{python}: cannot import numpy ({done.stderr.strip().splitlines()[-1:]})")
    found = json.loads(done.stdout)
    if not found["pytriton"]:
        raise TritonServerError(f"{python}: nvidia-pytriton is not installed there")
    if int(found["numpy"].split(".")[0]) >= 2 or not found["onnxruntime"]:
        ort = "found" if found["onnxruntime"] else "missing"
        raise TritonServerError(f"{python}: the python backend stub needs numpy<2 and onnxruntime there "
                                f"(numpy {found['numpy']}, onnxruntime {ort})")
    return found


class TritonServer(OwnedProcess):
    """`tritonserver` over `repo`; use as a context manager, or `start()` / `stop()`."""

    grace = 15.0  # tritonserver waits for in-flight requests (--exit-timeout-secs) and its stubs

    def __init__(self, repo: str | os.PathLike, python: str | os.PathLike | None = None, http_port: int | None = None,
                 load: Sequence[str] = (), workdir: str | os.PathLike | None = None):
        self.repo = Path(repo).resolve()
        self.python = Path(python) if python else default_python()
        self.http_port = http_port or free_port()
        self.url = f"127.0.0.1:{self.http_port}"
        self.load = list(load)
        self._work = self._make_workdir(workdir, "tritonserver-")
        self.log = self._work / "tritonserver.log"

    def _backends(self, dist: Path, version: str) -> Path:
        """The wheel's backend folder with the python backend stub for `version` beside the backend."""
        backends = self._work / "backends"
        shutil.copytree(dist / "backends", backends, dirs_exist_ok=True)
        stub = dist / "python_backend_stubs" / version / "triton_python_backend_stub"
        if not stub.is_file():
            raise TritonServerError(f"{stub}: nvidia-pytriton has no python backend stub for Python {version}")
        shutil.copy2(stub, backends / "python" / stub.name)
        return backends

    def start(self, timeout: float = 120.0) -> "TritonServer":
        found = _probe(self.python)
        dist = Path(found["pytriton"]) / "tritonserver"
        libs = Path(found["pytriton"]).parent / "nvidia_pytriton.libs"
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(libs), found["libdir"] or "",
                                                            env.get("LD_LIBRARY_PATH", "")) if p)
        env["PATH"] = os.pathsep.join((str(self.python.parent), env.get("PATH", "")))
        # The stub's import of a model.py would write __pycache__ into its version folder; Triton then
        # sees the model modified and reloads it (the backbone too) at the next load of the ensemble.
        # Compiled beforehand by the same Python, the import writes nothing.
        subprocess.run([str(self.python), "-m", "compileall", "-q", str(self.repo)], check=True, env=env,
                       capture_output=True)
        args = [str(dist / "bin" / "tritonserver"), f"--model-repository={self.repo}",
                f"--backend-directory={self._backends(dist, found['version'])}", "--model-control-mode=explicit",
                "--http-address=127.0.0.1", f"--http-port={self.http_port}", "--allow-grpc=false",
                "--allow-metrics=false", "--exit-on-error=true", "--exit-timeout-secs=5",
                *(f"--load-model={m}" for m in self.load)]
        self.process = start_group(args, self.log, env)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        import tritonclient.http as http

        client = http.InferenceServerClient(self.url)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise TritonServerError(f"{self.log}: tritonserver exited with status {self.process.returncode}")
                with contextlib.suppress(Exception):
                    if client.is_server_ready():
                        return
                time.sleep(0.25)
        finally:
            client.close()
        stop_group(self.process, self.grace)
        raise TritonServerError(f"{self.log}: tritonserver was not ready within {timeout:.0f} s")
