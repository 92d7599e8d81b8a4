"""`dhl run` brings the whole stack up on embedded defaults and takes it all down on Ctrl-C."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT, settings_from_mapping
from stack import resolve as stack_module
from stack.processes import ServiceError, free_port, wait_until
from stack.services import redis_answers
from tests.support.proctree import all_gone, descendants, kill_tree

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def running_stack(redis_url, namespace, tmp_path):
    port, flower_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URL", "PORT")}
    env.update({"PORT": str(port), "FLOWER_PORT": str(flower_port), "REDIS_URL": redis_url,
                "REDIS_NAMESPACE": namespace, "MONGO_DB": namespace,
                "DATA_DIR": str(tmp_path / "data")})
    log_path = tmp_path / "stack.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "dhl"), "run"],
                                env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield proc, port, flower_port, log_path
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                kill_tree(proc.pid)
                proc.wait(timeout=30)


def wait_ready(base: str, log_path: Path) -> None:
    assert wait_until(lambda: get(base + "/ready")[0] == 200, timeout_s=120, interval_s=0.5), \
        log_path.read_text(errors="replace")[-6000:]


def test_make_run_stack_answers_ready_and_stops_cleanly(running_stack):
    proc, port, flower_port, log_path = running_stack
    base = f"http://127.0.0.1:{port}"

    def log() -> str:
        return log_path.read_text(errors="replace")

    wait_ready(base, log_path)
    status, body = get(base + "/ready")
    checks = json.loads(body)["checks"]
    assert all(checks[name]["ok"] for name in ("mongodb", "redis", "broker")), checks

    status, body = get(base + "/openapi.json")
    assert status == 200 and "/ready" in json.loads(body)["paths"]
    assert get(base + "/docs")[0] == 200
    assert wait_until(lambda: get(f"http://127.0.0.1:{flower_port}/healthcheck")[0] == 200,
                      timeout_s=60, interval_s=0.5), log()[-6000:]

    # beat -> broker -> worker -> MongoDB: the worker heartbeat shows up in /ready.
    def worker_seen() -> bool:
        worker = json.loads(get(base + "/ready")[1])["checks"].get("worker", {})
        return worker.get("detail", "").startswith("last heartbeat")

    assert wait_until(worker_seen, timeout_s=90, interval_s=1), log()[-6000:]

    # node simulator -> follower -> MongoDB: the follower reports its progress in /ready.
    if "the follower is not started" not in log():
        def follower_seen() -> bool:
            follower = json.loads(get(base + "/ready")[1])["checks"].get("follower", {})
            return follower.get("info", {}).get("height", 0) >= 910412

        assert wait_until(follower_seen, timeout_s=90, interval_s=1), log()[-6000:]
        assert "roll forward: babbage block 910412" in log()
    assert f"API      {base}/" in log() and "Flower" in log()

    mongo_port = int(log().split("(nx-27017) at mongodb://127.0.0.1:")[1].split("/")[0])
    family = descendants(proc.pid)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert "stopped the embedded mongodb" in log()
    assert all_gone(family, timeout_s=30)
    assert not port_open(port) and not port_open(flower_port) and not port_open(mongo_port)


def test_killing_dhl_run_leaves_no_process_behind(running_stack):
    proc, port, _, log_path = running_stack
    wait_ready(f"http://127.0.0.1:{port}", log_path)
    family = descendants(proc.pid)
    assert len(family) >= 6  # web, worker, beat, flower, follower, their relays, services
    proc.kill()
    proc.wait(timeout=10)
    assert all_gone(family, timeout_s=60), [p for p in family if os.path.exists(f"/proc/{p}")]


def test_embedded_redis_is_started_when_none_is_there(monkeypatch, tmp_path):
    closed = free_port()
    monkeypatch.setattr(stack_module, "DEFAULT_LOCAL_REDIS", f"redis://127.0.0.1:{closed}/0")
    settings = settings_from_mapping({"DATA_DIR": str(tmp_path)})
    with ExitStack() as stack:
        url = stack_module.resolve_redis(settings, stack)
        assert url != stack_module.DEFAULT_LOCAL_REDIS and redis_answers(url)
        assert Path(tmp_path / "redis").is_dir()
    assert not redis_answers(url)


def test_unreachable_explicit_redis_is_a_clear_error(tmp_path):
    settings = settings_from_mapping({"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
                                      "DATA_DIR": str(tmp_path)})
    with ExitStack() as stack, pytest.raises(ServiceError, match="REDIS_URL"):
        stack_module.resolve_redis(settings, stack)
