"""A bad setting stops each process with one clear line naming the variable."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration

BIN = os.path.dirname(sys.executable)


def run(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("PORT", "MONGO_URL", "REDIS_URL")}
    return subprocess.run(argv, env={**clean, **env}, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("argv", [
    [f"{BIN}/dhl", "config"],
    [f"{BIN}/dhl", "run"],
    [sys.executable, "-m", "celery", "-A", "tasks", "worker"],
    [f"{BIN}/gunicorn", "--config", "python:app.gunicorn_conf", "app:create_app()"],
], ids=["dhl-config", "dhl-run", "celery-worker", "gunicorn-web"])
def test_bad_port_stops_the_process_with_one_line(argv):
    result = run(argv, PORT="eighty")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "config error: PORT: expected a TCP port number 1-65535, got 'eighty'" in lines
    assert "Traceback" not in result.stderr


def test_bad_url_is_named():
    result = run([f"{BIN}/dhl", "config"], MONGO_URL="localhost:27017")
    assert result.returncode == 2
    assert result.stderr.strip() == ("config error: MONGO_URL: expected a mongodb:// or "
                                     "mongodb+srv:// URL, got 'localhost:27017'")


def test_good_settings_print_without_secrets():
    result = run([f"{BIN}/dhl", "config"], DEXHUNTER_PARTNER_ID="partner-secret-xyz",
                 MONGO_URL="mongodb://u:mongo-pass-1@h:27017/")
    assert result.returncode == 0, result.stderr
    assert "partner-secret-xyz" not in result.stdout and "mongo-pass-1" not in result.stdout
    assert '"DEXHUNTER_PARTNER_ID": "***"' in result.stdout


@pytest.mark.parametrize("argv", [
    [sys.executable, "-m", "celery", "-A", "tasks", "worker", "--queues=watchers"],
    [f"{BIN}/dhl", "follow"],
], ids=["celery-worker", "dhl-follow"])
def test_a_venue_module_that_does_not_import_stops_the_process(argv):
    result = run(argv, VENUE_MODULES="no_such_venue_module",
                 CARDANO_NODE="tcp://127.0.0.1:1")
    assert result.returncode == 2
    out = result.stdout + result.stderr
    assert "config error: VENUE_MODULES: expected importable Python modules, got " \
           "'no_such_venue_module'" in out
    assert "Traceback" not in out
