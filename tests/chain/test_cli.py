"""`dhl simulate`, `dhl tail` and `dhl block` as operators and scripts use them."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from core.settings import PROJECT_ROOT
from stack.processes import free_port
from stack.services import start_simulator
from tests.support.fixtures import cardano

pytestmark = pytest.mark.integration

DHL = [sys.executable, "-m", "dhl"]


def dhl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DHL, *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def simulator(tmp_path):
    chunk = cardano("segments/preprod-babbage-chunk01285/01285.chunk")
    service = start_simulator([chunk], tmp_path, network="preprod",
                              extra_args=["--rollback", "4:2"])
    yield service
    service.stop()


def test_tail_prints_json_lines_and_exits_after_the_limit(simulator):
    result = dhl("tail", "--node", simulator.url, "--network", "preprod", "--from", "origin",
                 "--limit", "6")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0] == {"type": "roll_backward", "slot": None, "hash": None}
    forwards = [ln for ln in lines if ln["type"] == "roll_forward"]
    assert len(forwards) == 6
    assert forwards[0] == {"type": "roll_forward", "era": "babbage", "slot": 27756007,
                           "hash": "230199f16ba0d935e60bf7288373fa01beaa1e20516c34a6481c2231e73a2fd1",
                           "height": 910412, "txs": 2}
    back = [ln for ln in lines[1:] if ln["type"] == "roll_backward"]
    # --rollback 4:2: after the 4th block (height 910415) back 2, to height 910413.
    assert back == [{"type": "roll_backward", "slot": 27756041,
                     "hash": "1f7a5b44b8d4cb5479baf152d98598b2774061aaa468769ea1a6151236c229f4"}]


def test_tail_from_a_point(simulator):
    point = "27756042.1dd6e9f4d1ad35a9230983da567696793a03b562aa5a76b3ca061786958796ca"
    result = dhl("tail", "--node", simulator.url, "--network", "1", "--from", point,
                 "--limit", "1")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["type"] == "roll_backward" and lines[0]["slot"] == 27756042
    assert lines[1]["height"] == 910415


@pytest.mark.parametrize("args", [
    ["--node", "http://x", "--network", "preprod"],
    ["--node", "tcp://127.0.0.1:3001", "--network", "moon"],
    ["--node", "tcp://127.0.0.1:3001", "--network", "preprod", "--from", "yesterday"],
    ["--node", "tcp://127.0.0.1:3001", "--network", "preprod", "--limit", "0"],
    ["--network", "preprod"],
])
def test_tail_bad_arguments_exit_2(args):
    result = dhl("tail", *args)
    assert result.returncode == 2
    assert result.stdout == "" and "error" in result.stderr


def test_tail_unreachable_node_exits_1():
    started = time.monotonic()
    result = dhl("tail", "--node", f"tcp://127.0.0.1:{free_port()}", "--network", "preprod",
                 "--attempts", "2")  # the default 5 back off for 7.5 s: the same, longer
    assert result.returncode == 1
    assert "cannot reach the node" in result.stderr and result.stdout == ""
    assert time.monotonic() - started >= 0.5  # it waited once before the second try


def test_tail_against_a_node_of_another_network_says_so_at_once(simulator):
    started = time.monotonic()
    result = dhl("tail", "--node", simulator.url, "--network", "mainnet", "--limit", "1")
    elapsed = time.monotonic() - started
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"dhl tail: the node at {simulator.url} is on preprod (magic 1), not mainnet "
        "(magic 764824073) (see --network)"]
    # Five attempts with backoff take 7.5 s or more; at once is well under that.
    assert elapsed < 5, elapsed


def test_block_prints_the_ledger_view():
    result = dhl("block", str(cardano("conway-block-mainnet-slot159835207.hex")),
                 str(cardano("wrapped-byron-ebb-mainnet-genesis-epoch0.hex")))
    assert result.returncode == 0, result.stderr
    conway, ebb = [json.loads(line) for line in result.stdout.splitlines()]
    assert (conway["era"], conway["slot"], conway["height"]) == ("conway", 159835207, 12069665)
    assert conway["hash"] == "27807a70215e3e018eec9be8c619c692e06a78ebcb63daf90d7abe823f3bbf47"
    assert len(conway["txs"]) == 8
    tx = conway["txs"][0]
    assert set(tx) == {"id", "valid", "fee", "inputs", "reference_inputs", "collateral",
                       "outputs", "mint", "required_signers", "validity_start", "ttl",
                       "redeemers", "metadata"}
    assert set(tx["outputs"][0]) == {"address", "lovelace", "assets", "datum_hash",
                                     "inline_datum", "script_ref"}
    assert ebb["era"] == "byron" and ebb["height"] == 0 and ebb["txs"] == []
    assert ebb["prev_hash"] == "5f20df933584822601f9e3f8c024eb5eb252fe8cefb24d1317dc3d432e940ebb"


def test_block_reports_a_bad_file_and_goes_on(tmp_path):
    bad = tmp_path / "bad.hex"
    bad.write_text("82 01 zz\n")
    result = dhl("block", str(bad), str(cardano("shelley-block-mainnet-slot16156972.hex")))
    assert result.returncode == 1
    assert "bad.hex" in result.stderr
    assert json.loads(result.stdout)["slot"] == 16156972


def test_simulate_refuses_non_loopback_and_bad_files(tmp_path):
    block = str(cardano("shelley-block-mainnet-slot16156972.hex"))
    result = dhl("simulate", "--blocks", block, "--listen", "tcp://0.0.0.0:3001")
    assert result.returncode == 2 and "loopback" in result.stderr
    result = dhl("simulate", "--blocks", str(tmp_path / "missing.hex"), "--listen",
                 f"tcp://127.0.0.1:{free_port()}")
    assert result.returncode == 2 and "missing.hex" in result.stderr


def test_simulate_serves_the_recorded_segment_of_its_network(tmp_path):
    service = start_simulator([], tmp_path, network="preview")
    try:
        result = dhl("tail", "--node", service.url, "--network", "preview", "--from", "origin",
                     "--limit", "2")
    finally:
        service.stop()
    assert result.returncode == 0, result.stderr
    forwards = [json.loads(x) for x in result.stdout.splitlines()][1:]
    assert [f["height"] for f in forwards] == [3319101, 3319102]
    assert forwards[0]["era"] == "conway"
