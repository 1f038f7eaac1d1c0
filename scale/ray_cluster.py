"""Where a Ray job runs: a cluster joined by address, a local one started for the job, or local
`ray start` nodes (a head and workers on this machine) for tests and benchmarks.

Local nodes advertise 127.0.0.2: Ray rewrites 127.0.0.1 and `localhost` to the machine's routable
address (so that other machines can reach a head), but any other loopback address is kept, so a
cluster of nodes on one machine talks over the loopback only.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

from catsplit.runtime.errors import CatsplitError, first_line
from catsplit.scale.processes import OwnedProcess, free_port, start_group, stop_group

LOOPBACK = "127.0.0.2"


class RayClusterError(CatsplitError):
    """A cluster that cannot be joined or a local node that did not start; the message says which."""


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None,
                object_store_memory: int | None = None) -> Iterator[None]:
    """Connect this driver for the duration of the block.

    `address` (host:port of a head, or "auto") joins that cluster, which keeps running afterwards;
    without it a private local cluster of `num_cpus` CPUs (default: all) starts and stops with the
    block. `address="local"` is passed to Ray explicitly, so a cluster someone else started on this
    machine is never joined by accident. A driver already connected (a notebook, a test) is used as is.
    """
    import ray

    if ray.is_initialized():
        yield
        return
    if address is None:
        ray.init(address="local", num_cpus=num_cpus, object_store_memory=object_store_memory,
                 include_dashboard=False, logging_level=logging.WARNING, _node_ip_address=LOOPBACK)
    else:
        _check_reachable(address)
        try:
            ray.init(address=address, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise RayClusterError(f"{address}: cannot join the Ray cluster ({first_line(e)})") from None
    try:
        yield
    finally:
        ray.shutdown()


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds when nothing listens at host:port (Ray itself retries for minutes)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and the like: Ray finds the cluster itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise RayClusterError(f"{address}: cannot join the Ray cluster (nothing answers there: "
                              f"{e.strerror or e})") from None


class LocalNode(OwnedProcess):
    """One `ray start --block` node on this machine, in its own process group.

    A head when `address` is None, else a worker joining `address`. It is stopped through its process
    group (SIGTERM, then SIGKILL): never `ray stop`, which stops every Ray node of the machine. Every
    port is chosen free (no fixed defaults, so several clusters can share the machine), the dashboard
    is off and token authentication is disabled (the nodes listen on the loopback only): a driver that
    joins needs RAY_AUTH_MODE=disabled in its environment too (`auth_env`).
    """

    auth_env = {"RAY_AUTH_MODE": "disabled"}

    def __init__(self, address: str | None = None, num_cpus: int = 1, object_store_memory: int | None = None,
                 temp_dir: str | os.PathLike | None = None):
        self.head = address is None
        self.join, self.num_cpus, self.object_store_memory = address, num_cpus, object_store_memory
        self._tmp = self._make_workdir(temp_dir, "ray")  # short: Ray's unix sockets live under it
        self._pick_ports()

    def _pick_ports(self) -> None:
        """Fresh free ports and the `ray start` arguments that use them."""
        self.port = free_port() if self.head else None
        self.address = f"{LOOPBACK}:{self.port}" if self.head else self.join
        args = [str(Path(sys.executable).with_name("ray")), "start", "--block", "--disable-usage-stats",
                "--node-ip-address", LOOPBACK, "--num-cpus", str(self.num_cpus)]
        if self.head:
            args += ["--head", "--port", str(self.port), "--include-dashboard", "false",
                     "--dashboard-port", str(free_port()), "--ray-client-server-port", str(free_port()),
                     "--temp-dir", str(self._tmp)]
        else:
            args += ["--address", self.address]
        for flag in ("--dashboard-agent-listen-port", "--dashboard-agent-grpc-port", "--metrics-export-port",
                     "--runtime-env-agent-port", "--node-manager-port", "--object-manager-port"):
            args += [flag, str(free_port())]
        if self.object_store_memory:
            args += ["--object-store-memory", str(self.object_store_memory)]
        self.args = args
        self.log = self._tmp / f"ray-start-{'head' if self.head else 'worker'}-{os.getpid()}-{time.monotonic_ns()}.log"

    def start(self, timeout: float = 120.0, attempts: int = 3) -> "LocalNode":
        """Start the node and wait until its raylet is up (its own `ray start` says so in its log).

        A free port can be taken by another process between its choice and Ray's bind (several
        clusters starting at once), and `ray start` then exits: it is tried again on fresh ports.
        """
        self._tmp.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout
        for attempt in range(attempts):
            if attempt:
                self._pick_ports()
            self.process = start_group(self.args, self.log, {**os.environ, **self.auth_env})
            while time.monotonic() < deadline and self.process.poll() is None:
                if b"Ray runtime started" in self.log.read_bytes():
                    return self
                time.sleep(0.25)
            if self.process.poll() is None:
                break  # still starting at the deadline
        else:
            raise RayClusterError(f"{self.log}: ray start exited with status {self.process.returncode} "
                                  f"({attempts} attempts)")
        stop_group(self.process, self.grace)
        raise RayClusterError(f"{self.log}: the node did not start within {timeout:.0f} s")
