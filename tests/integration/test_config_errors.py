"""A bad setting stops each process with one clear line naming the variable."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT
from stack import lock

pytestmark = pytest.mark.integration

BIN = os.path.dirname(sys.executable)


def run(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("PORT", "MONGO_URL", "REDIS_URL", "CARDANO_NODE", "CARDANO_NETWORK",
                          "WATCH_ADDRESSES", "DATA_DIR")}
    # Should a bad value slip through, what starts stays away from other stacks' keys.
    clean["REDIS_NAMESPACE"] = "dhltest_config_errors"
    # A session of its own: a `dhl run` that did start stops its processes by group.
    return subprocess.run(argv, env={**clean, **env}, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL,
                          start_new_session=True)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a dhl command printed on a bad setting (status 2, nothing else)."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and result.stdout == "", result.stdout + result.stderr
    return lines[0]


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
    [sys.executable, "-m", "dhl", "follow"],  # -m: the project root is on the path (tests.*)
], ids=["celery-worker", "dhl-follow"])
@pytest.mark.parametrize("module,why", [
    ("no_such_venue_module", "(No module named 'no_such_venue_module')"),
    ("tests.support.broken_venue", "(RuntimeError: venue table out of date)"),
], ids=["missing", "raises"])
def test_a_venue_module_that_does_not_import_stops_the_process(argv, module, why):
    result = run(argv, VENUE_MODULES=module, CARDANO_NODE="tcp://127.0.0.1:1")
    assert result.returncode == 2
    out = result.stdout + result.stderr
    assert "config error: VENUE_MODULES: expected importable Python modules, got " \
           f"'{module}' {why}\n" in out
    assert "Traceback" not in out


ENTRY_POINTS = {
    "dhl-config": [f"{BIN}/dhl", "config"],
    "dhl-follow": [f"{BIN}/dhl", "follow"],
    "dhl-run": [f"{BIN}/dhl", "run"],
    "celery-worker": [sys.executable, "-m", "celery", "-A", "tasks", "worker"],
    "celery-beat": [sys.executable, "-m", "celery", "-A", "tasks", "beat"],
    "gunicorn-web": [f"{BIN}/gunicorn", "--config", "python:app.gunicorn_conf",
                     "app:create_app()"],
}


# Each of these once passed the checks and then crashed some process with a traceback.
@pytest.mark.parametrize("variable,value", [
    ("MONGO_URL", "mongodb://db.example:99999/"),
    ("REDIS_URL", "redis://cache.example:6379/abc"),
    ("HEARTBEAT_SECONDS", "99999999999999999999"),
])
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_values_that_used_to_crash_later_stop_every_process_at_start(entry, variable, value):
    result = run(ENTRY_POINTS[entry], **{variable: value, "CARDANO_NODE": "tcp://127.0.0.1:1"})
    out = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in out, out[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert any(line.startswith(f"config error: {variable}: expected ") for line in lines), out
    if entry.startswith("dhl-"):
        assert one_line(result).startswith(f"config error: {variable}: expected ")


MAINNET_ADDR = ("addr1qx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3n0d3vllmyqwsx5wktcd8cc3s"
                "q835lu7drv2xwl2wywfgse35a3x")
PREPROD_ADDR = ("addr_test1qz2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3n0d3vllmyqwsx5wktcd8c"
                "c3sq835lu7drv2xwl2wywfgs68faae")


def test_replay_checks_watch_addresses_against_preprod():
    # No CARDANO_NODE: dhl run replays recorded preprod blocks, so that is the network.
    line = one_line(run([f"{BIN}/dhl", "run"], WATCH_ADDRESSES=MAINNET_ADDR))
    assert line == ("config error: WATCH_ADDRESSES: expected addresses of the preprod network "
                    "(the network dhl run replays while CARDANO_NODE is unset), got "
                    f"'{MAINNET_ADDR}'")
    line = one_line(run([f"{BIN}/dhl", "run"], CARDANO_NETWORK="mainnet"))
    assert line.startswith("config error: CARDANO_NETWORK: expected preprod or nothing while "
                           "CARDANO_NODE is unset")
    result = run([f"{BIN}/dhl", "config"], WATCH_ADDRESSES=PREPROD_ADDR)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["CARDANO_NETWORK"] == "preprod" and shown["WATCH_ADDRESSES"] == PREPROD_ADDR
    assert "replay recorded preprod blocks" in result.stderr


def test_a_data_dir_dhl_run_cannot_create_is_one_line(tmp_path):
    a_file = tmp_path / "not-a-directory"
    a_file.write_text("")
    line = one_line(run([f"{BIN}/dhl", "run"], DATA_DIR=str(a_file / "data")))
    assert line == (f"config error: DATA_DIR: expected a directory dhl run can create and "
                    f"write, got '{a_file / 'data'}' (Not a directory)")


def test_explain_needs_no_valid_settings():
    result = run([f"{BIN}/dhl", "config", "--explain"], PORT="eighty")
    assert result.returncode == 0 and "WATCH_ADDRESSES" in result.stdout


def test_state_utxos_rejects_a_bogus_address_before_reading_anything():
    # MONGO_URL points nowhere: reaching for MongoDB would be status 1, not 2.
    line = one_line(run([f"{BIN}/dhl", "state", "utxos", "--address", PREPROD_ADDR,
                         "--address", "bogus"], MONGO_URL="mongodb://127.0.0.1:1/"))
    assert line == ("dhl state utxos: --address: expected a Cardano payment address "
                    "(addr1..., addr_test1... or a Byron address), got 'bogus'")


@pytest.mark.parametrize("point", ["origin", "12.abc"])
def test_reprocess_takes_a_block_and_never_promises_origin(point):
    line = one_line(run([f"{BIN}/dhl", "reprocess", point], MONGO_URL="mongodb://127.0.0.1:1/"))
    assert line == ("dhl reprocess: expected SLOT.HASH (a block's slot and 64-hex-digit "
                    f"hash), got '{point}'")


def test_tail_from_lists_exactly_the_forms_it_takes():
    result = run([f"{BIN}/dhl", "tail", "--node", "tcp://127.0.0.1:1", "--network", "preprod",
                  "--from", "genesis"])
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "dhl tail: error: argument --from: expected origin, tip or SLOT.HASH (a block's slot "
        "and 64-hex-digit hash), got 'genesis'")


def write_run_env(data_dir: Path, pid: int) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "run.env").write_text(
        "MONGO_URL=mongodb://127.0.0.1:4242/?directConnection=true\n"
        "REDIS_URL=redis://:run-pw-77@127.0.0.1:4243/0\n"
        "CARDANO_NODE=tcp://127.0.0.1:4244\nCARDANO_NETWORK=preprod\nFOLLOW_FROM=origin\n"
        f"DHL_RUN_PID={pid}\n")


def test_config_shows_the_running_stack_with_secrets_masked(tmp_path):
    data_dir = tmp_path / "data"
    write_run_env(data_dir, os.getpid())  # this test process stands for the running dhl run
    with lock.acquire(data_dir):
        result = run([f"{BIN}/dhl", "config"], DATA_DIR=str(data_dir),
                     DEXHUNTER_PARTNER_ID="partner-secret-xyz")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["MONGO_URL"] == "mongodb://127.0.0.1:4242/?directConnection=true"
    assert shown["REDIS_URL"] == "redis://:***@127.0.0.1:4243/0"
    assert (shown["CARDANO_NODE"], shown["CARDANO_NETWORK"], shown["FOLLOW_FROM"]) == \
        ("tcp://127.0.0.1:4244", "preprod", "origin")
    assert shown["DEXHUNTER_PARTNER_ID"] == "***"
    assert "run-pw-77" not in result.stdout + result.stderr
    assert "partner-secret-xyz" not in result.stdout + result.stderr
    assert result.stderr.strip() == (
        f"dhl config: the dhl run stack running now (pid {os.getpid()}): the services it chose "
        f"from {data_dir / 'run.env'}, the rest from this environment and .env")


def test_config_ignores_the_run_env_of_a_stack_that_is_gone(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    data_dir = tmp_path / "data"
    write_run_env(data_dir, gone.pid)  # what a SIGKILLed dhl run leaves behind (no lock held)
    result = run([f"{BIN}/dhl", "config"], DATA_DIR=str(data_dir))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["CARDANO_NODE"] == ""
    assert result.stderr.startswith("dhl config: no dhl run stack is running here")
