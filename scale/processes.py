"""Processes the scale-out code starts on this machine (local Ray nodes, tritonserver): each in a
process group of its own, so that stopping it stops everything it started, and nothing else."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
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
