"""Process plumbing of the local stack: starting a service process, waiting for it,
stopping it, and making sure nothing outlives `dhl run` (or a test)."""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

LOOPBACK = "127.0.0.1"

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send `sig` to this process when its parent dies.

    Used as `preexec_fn` (and by dhl run's relays), so that a supervisor killed with
    SIGKILL leaves no orphaned worker or server behind. A no-op elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig))
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), sig)


class ServiceError(RuntimeError):
    """A local service could not be started; the message says what to install or check."""


#: Ports this process has promised to something that has not bound them yet (the web
#: process's and Flower's, the services started so far): `free_port` never hands them
#: out, though the system, seeing them unbound, might.
_RESERVED: set[int] = set()


def reserve_ports(*ports: int) -> None:
    """Keep `free_port` off these ports (e.g. PORT and FLOWER_PORT before they listen)."""
    _RESERVED.update(port for port in ports if port)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now and that this process
    has not handed out or reserved before."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK, 0))
            port = int(sock.getsockname()[1])
        if port not in _RESERVED:
            _RESERVED.add(port)
            return port
    raise ServiceError("no free TCP port on loopback outside those already handed out")


def port_open(port: int, host: str = LOOPBACK) -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    """Poll `predicate` until it holds or `timeout_s` passes; returns whether it held."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if predicate():
                return True
        except Exception:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def stop_process(process: subprocess.Popen[Any], timeout_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time; waits for the process."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)


@dataclass
class LocalService:
    """A started service process and the URL to reach it."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    #: Where the service writes its pid; removed by `stop` if it still names the stopped
    #: process (one stopped the hard way, SIGKILL after its grace, cannot remove it).
    pid_file: Path | None = None

    @property
    def port(self) -> int:
        return int(self.url.split(":")[2].split("/")[0])

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        stop_process(self.process, timeout_s)
        self._forget_pid_file()

    def _forget_pid_file(self) -> None:
        if self.pid_file is None:
            return
        try:
            named = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        if named == self.process.pid:
            self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def spawn(name: str, argv: list[str], log_path: Path,
          env: Mapping[str, str] | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """Start `argv` with its output appended to `log_path`, under a line that marks this start.

    Returns the process and the log's size before the marker, so a failure can quote
    this start's lines only: one log per service keeps every start, not a file per run.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        offset = out.tell()
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        out.write(f"--- {stamp} starting {name}: {' '.join(argv)}\n".encode())
        out.flush()
        # A session of its own: Ctrl-C in the terminal reaches `dhl run`, which then
        # stops the services last, after the processes that use them.
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True,
                                   preexec_fn=die_with_parent,
                                   env=None if env is None else dict(env))
    return process, offset


def started(service: LocalService, ready: Callable[[], bool], timeout_s: float,
            log_offset: int = 0) -> LocalService:
    """The service once `ready()` holds; else it is killed and ServiceError quotes its log."""
    if wait_until(lambda: ready() or not service.alive(), timeout_s) and service.alive() and ready():
        return service
    service.kill()
    with open(service.log_path, "rb") as log:
        log.seek(log_offset)
        tail = log.read().decode(errors="replace").strip().splitlines()[-3:]
    raise ServiceError(f"{service.name} did not start within {timeout_s:.0f}s"
                       f" (log {service.log_path}): {' | '.join(tail)}")
