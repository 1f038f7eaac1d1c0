"""Processes the scale-out code starts on this machine (local Ray nodes, tritonserver): each in a
process group of its own, so that stopping it stops everything it started, and nothing else."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import shutil
import subprocess
import tempfile
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that is free now (the kernel's pick), for a server started on this machine:
    the one helper for the scale-out code, the benchmarks and the tests (stream senders too)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start_group(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start `args` as the leader of a new process group, stdout and stderr to `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop_group(process: subprocess.Popen | None, grace: float) -> None:
    """SIGTERM to the process's group, then SIGKILL to whatever of it is left after `grace` seconds."""
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


class OwnedProcess:
    """A process group this object starts (`start`, which returns self) with a folder for its files:
    a context manager. A clean `stop` ends the group and removes the folder when this object made it;
    a failed start leaves the folder, with its log, for the error message to point at."""

    grace = 5.0  # seconds between SIGTERM and SIGKILL
    process: subprocess.Popen | None = None

    def _make_workdir(self, given: str | os.PathLike | None, prefix: str) -> Path:
        self._own_workdir = given is None
        self.workdir = Path(given) if given else Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        return self.workdir

    def start(self) -> "OwnedProcess":
        raise NotImplementedError

    def stop(self) -> None:
        stop_group(self.process, self.grace)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "OwnedProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
