"""`dhl run` brings the whole stack up on embedded defaults and takes it all down on Ctrl-C;
a second one in the same DATA_DIR refuses, one with another DATA_DIR runs apart.

Starting a stack costs seconds of both cores, so the tests of one running stack share
it (module scope) and run in file order; the last of them stops it.
"""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis as redis_lib

from core.api_keys import new_key
from core.settings import PROJECT_ROOT, settings_from_mapping
from stack import lock
from stack import resolve as stack_module
from stack.namespace import claim_key, namespace_for
from stack.processes import ServiceError, free_port, port_open, wait_until
from stack.runtime_env import read_runtime_env
from stack.services import MONGO_PID_FILE, redis_answers
from store import api_keys, chain_log, watcher_cursors
from store.mongo import PyMongoError, connect
from tests.support.browser import cell, chromium, opened, wait_for
from tests.support.chainlog import effective_chain
from tests.support.follower import FollowerProcess
from tests.support.simulator import preprod_chain
from tests.support.proctree import all_gone, descendants, kill_tree

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DHL = os.path.join(os.path.dirname(sys.executable), "dhl")
#: Settings of the machine or a .env that would make these stacks something else.
NOT_INHERITED = ("MONGO_URL", "MONGO_DB", "PORT", "FLOWER_PORT", "FLOWER_URL", "BIND_HOST",
                 "REDIS_NAMESPACE", "DATA_DIR", "CARDANO_NODE")


def get(url: str, accept: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def stack_env(redis_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update({"REDIS_URL": redis_url, "DATA_DIR": str(data_dir), **settings})
    return env


def dhl_run_once(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A `dhl run` expected to refuse at once."""
    return subprocess.run([DHL, "run"], env=env, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


@dataclass
class Stack:
    proc: subprocess.Popen[bytes]
    port: int
    flower_port: int
    data_dir: Path
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def namespace(self) -> str:
        return namespace_for(settings_from_mapping({"DATA_DIR": str(self.data_dir)}))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ready(self) -> bool:
        return get(self.base + "/ready")[0] == 200

    def wait_ready(self) -> None:
        assert wait_until(self.ready, timeout_s=120, interval_s=0.5), self.log()[-6000:]

    def stop(self) -> int:
        """Ctrl-C, as an operator stops it; the whole tree is killed if that hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                kill_tree(self.proc.pid)
                self.proc.wait(timeout=30)
        return int(self.proc.returncode)


def start_stack(tmp: Path, redis_url: str, **settings: str) -> Stack:
    port, flower_port = free_port(), free_port()
    data_dir = tmp / "data"
    env = stack_env(redis_url, data_dir, PORT=str(port), FLOWER_PORT=str(flower_port),
                    **settings)
    log_path = tmp / "stack.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([DHL, "run"], env=env, cwd=PROJECT_ROOT, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    return Stack(proc, port, flower_port, data_dir, log_path)


@pytest.fixture(scope="module")
def first(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One full stack (follower included) with no REDIS_NAMESPACE: derived from DATA_DIR.

    Its beat sends the worker heartbeat every 2 s rather than the default 15 s (the first
    one is sent one period after the beat starts, and the first test waits for it)."""
    started = start_stack(tmp_path_factory.mktemp("first"), redis_url, HEARTBEAT_SECONDS="2")
    try:
        yield started
    finally:
        started.stop()
        _forget_namespace(redis_url, started.namespace)


def _forget_namespace(redis_url: str, namespace: str) -> None:
    client = redis_lib.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{namespace}:*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


def test_stack_answers_ready(first: Stack):
    first.wait_ready()
    checks = json.loads(get(first.base + "/ready")[1])["checks"]
    assert all(checks[name]["ok"] for name in ("mongodb", "redis", "broker")), checks

    status, body = get(first.base + "/openapi.json")
    assert status == 200 and "/ready" in json.loads(body)["paths"]
    assert get(first.base + "/docs")[0] == 200
    assert wait_until(lambda: get(f"http://127.0.0.1:{first.flower_port}/healthcheck")[0] == 200,
                      timeout_s=60, interval_s=0.5), first.log()[-6000:]

    # beat -> broker -> worker -> MongoDB: the worker heartbeat shows up in /ready.
    def worker_seen() -> bool:
        worker = json.loads(get(first.base + "/ready")[1])["checks"].get("worker", {})
        return worker.get("detail", "").startswith("last heartbeat")

    assert wait_until(worker_seen, timeout_s=90, interval_s=1), first.log()[-6000:]

    # node simulator -> follower -> MongoDB: the follower reports its progress in /ready.
    if "the follower is not started" not in first.log():
        def follower_seen() -> bool:
            follower = json.loads(get(first.base + "/ready")[1])["checks"].get("follower", {})
            return follower.get("info", {}).get("height", 0) >= 910412

        assert wait_until(follower_seen, timeout_s=90, interval_s=1), first.log()[-6000:]
        assert "roll forward: babbage block 910412" in first.log()
    assert f"API      {first.base}/" in first.log() and "Flower" in first.log()


def test_paper_stack_shows_liqwid_and_surf_markets(first: Stack):
    """`make run`'s demo: dhl run starts loopback stubs of the Liqwid and Surf APIs, a
    worker refreshes the markets at start, and `dhl venues markets` shows both venues."""
    first.wait_ready()
    assert "started the liqwid API stub" in first.log()
    assert "started the surf API stub" in first.log()
    assert "started the dexhunter API stub" in first.log()
    env = stack_env("", first.data_dir)
    env.pop("REDIS_URL")
    env.pop("LIQWID_API_URL", None)
    env.pop("SURF_API_URL", None)
    shown: dict[str, set[str]] = {}

    def both_venues_shown() -> bool:
        result = subprocess.run([DHL, "venues", "markets", "--json"], env=env, cwd=PROJECT_ROOT,
                                capture_output=True, text=True, timeout=60)
        lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        shown.clear()
        for line in lines:
            shown.setdefault(line["venue"], set()).add(line["market"])
        return {"liqwid", "surf"} <= set(shown)

    assert wait_until(both_venues_shown, timeout_s=90, interval_s=3), (shown, first.log()[-4000:])
    assert "Ada" in shown["liqwid"] and len(shown["liqwid"]) >= 10


STRIKE = "51515151515151515151515151515151515151515151515151515151535452494b45"
DJED = "8db269c3ec630e06ae29f74bc39edd1f87c819f1056206e879a1cd61446a65644d6963726f555344"


def test_paper_long_and_short_open_and_close_through_dhl_positions(first: Stack):
    """The positions issue's demo: with `dhl run` up, a paper long at Surf and a paper
    short at Liqwid (its stub's paper markets: DJED, built for the mainnet paper wallet
    while the stack replays preprod) open and close through `dhl positions` (the stack's
    workers run the flows through its DexHunter and venue stubs), showing their legs,
    fees and PnL."""
    first.wait_ready()
    env = stack_env("", first.data_dir)
    env.pop("REDIS_URL")
    for name in ("LIQWID_API_URL", "SURF_API_URL", "DEXHUNTER_API_URL"):
        env.pop(name, None)

    def dhl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([DHL, "positions", *args], env=env, cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=120)

    def state(pid: str) -> dict:
        shown = dhl("show", pid)
        assert shown.returncode == 0, shown.stderr
        return json.loads(shown.stdout)

    runtime = read_runtime_env(first.data_dir)
    client = connect(runtime["MONGO_URL"])
    positions = client[settings_from_mapping(runtime).mongo_db]["positions"]

    def reaches(pid: str, wanted: str) -> dict:
        # Watched in MongoDB (a `dhl` per poll costs a second of start-up), then shown.
        def there() -> bool:
            return (positions.find_one({"_id": pid}) or {}).get("state") == wanted

        assert wait_until(there, timeout_s=90, interval_s=0.3), (state(pid),
                                                                 first.log()[-4000:])
        return state(pid)

    # The Surf markets come from the stack's stub at the worker's first refresh.
    opened: dict[tuple[str, str], str] = {}
    # A long at Surf and a short at Liqwid: both venues, both sides (the other two
    # pairings run on a paper desk of their own: tests/positions/).
    for side, token, leverage, venue in (("long", STRIKE, "1.8", "surf"),
                                         ("short", DJED, "2", "liqwid")):
        order = ("--side", side, "--asset", token, "--collateral", "ADA:100",
                 "--leverage", leverage, "--venue", venue)

        def planned() -> bool:  # the markets are in (a plan stores nothing)
            return dhl("open", *order, "--plan-only").returncode == 0

        assert wait_until(planned, timeout_s=90, interval_s=1), first.log()[-4000:]
        placed = dhl("open", *order)
        assert placed.returncode == 0, (placed.stdout, placed.stderr)
        opened[(side, venue)] = json.loads(placed.stdout)["position"]
    for pid in opened.values():
        shown = reaches(pid, "open")
        assert shown["size"] > 0 and shown["fees_paid"] > 0 and shown["health"] is not None
        assert all(leg["state"] == "confirmed" for leg in shown["legs"]
                   if leg["attempt"] == max(g["attempt"] for g in shown["legs"]
                                            if g["leg"].rsplit("-a", 1)[0]
                                            == leg["leg"].rsplit("-a", 1)[0]))
        closed = dhl("close", pid)
        assert closed.returncode == 0, closed.stderr
    for (side, venue), pid in opened.items():
        shown = reaches(pid, "settled")
        assert shown["collateral"] == {} and shown["debt"] == {}
        assert isinstance(shown["realised_pnl"], int) and shown["fees_paid"] > 0
        # Surf: each loan locks its collateral in its borrow and releases it with its
        # repay. Liqwid: supplies, then one loan grown and unwound. Each venue leg built
        # by the venue (the stack's stub) and checked, booked by tx id.
        kinds = {leg["kind"] for leg in shown["legs"]}
        assert kinds == ({"swap", "borrow", "repay"} if venue == "surf" else
                         {"swap", "deposit_collateral", "borrow", "repay",
                          "withdraw_collateral"}), (venue, kinds)
        loans = [leg for leg in shown["legs"] if leg["kind"] != "swap"
                 and leg["state"] == "confirmed"]
        assert all(len(leg["tx_id"]) == 64 for leg in loans), loans
    client.close()
    listed = [json.loads(line) for line in dhl("list", "--json").stdout.splitlines()]
    assert {row["position"]: row["state"] for row in listed} == {
        pid: "settled" for pid in opened.values()}, [(r["position"], r.get("refusal"))
                                                   for r in listed]


#: A CIP-30 wallet for the browser: its signData hands the request to the test (which
#: signs with pycardano, as a wallet would) and waits for the answer.
FAKE_WALLET = """
window.cardano = {testwallet: {name: "Test wallet", apiVersion: "0.1.0", enable: async () => ({
  getUsedAddresses: async () => [ADDRESS_HEX],
  getChangeAddress: async () => ADDRESS_HEX,
  signData: (address, payload) => new Promise((resolve) => {
    window.signRequest = {address, payload}; window.signResolve = resolve; }),
})}};
"""


def test_the_dashboard_in_a_browser_opens_watches_guards_and_closes(first: Stack, tmp_path):
    """The dashboard as a person uses it, in headless Chromium (tests/support/browser.py),
    on `make run`'s stack (gunicorn, the workers, the follower on the replayed blocks):
    sign in with an API key, see the markets, plan and open a paper long, watch it
    re-marked by a block the pipeline applied after it opened, set a stop-loss (shown,
    and drawn on the chart), close it; then sign in again with a CIP-30 wallet."""
    from pycardano import Address, Network, PaymentSigningKey, PaymentVerificationKey
    from pycardano.cip.cip8 import sign

    first.wait_ready()
    runtime = read_runtime_env(first.data_dir)
    client = connect(runtime["MONGO_URL"])
    db = client[settings_from_mapping(runtime).mongo_db]
    key_id, kept, key = new_key()
    api_keys.add(db, key_id, "browser-trader", kept, 1)
    with ExitStack() as stack:
        stack.callback(client.close)
        browser = stack.enter_context(chromium(tmp_path))
        wallet_key = PaymentSigningKey.from_primitive(bytes([7]) * 32)
        wallet = Address(PaymentVerificationKey.from_signing_key(wallet_key).hash(),
                         network=Network.MAINNET)
        browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {
            "source": FAKE_WALLET.replace("ADDRESS_HEX", repr(bytes(wallet).hex()))})

        def by_id(name: str) -> Any:
            return browser.find_element("id", name)

        browser.get(first.base + "/")  # the root leads a browser to the dashboard
        assert browser.current_url == first.base + "/dashboard"
        by_id("api-key").send_keys(key)
        by_id("signin-key").click()
        wait_for(browser, "signed in, live", lambda: by_id("live").text == "live")
        assert "browser-trader" in by_id("who").text
        wait_for(browser, "the markets", lambda: browser.find_elements(
            "css selector", "#markets tbody tr"))
        for field, value in (("asset", STRIKE), ("amount", "100"), ("leverage", "1.8")):
            by_id(field).clear()
            by_id(field).send_keys(value)
        by_id("plan").click()
        chosen = wait_for(browser, "the chosen venue", lambda: by_id("chosen").text)
        assert chosen.startswith("chosen: surf/"), chosen
        assert "health" in by_id("plan-summary").text
        by_id("open").click()
        row = wait_for(browser, "the new position's row", lambda: browser.find_element(
            "css selector", "#positions tbody tr[data-position]"))
        position = row.get_attribute("data-position")
        wait_for(browser, "the position open", lambda: opened(browser, position), 90)

        # The simulator serves a block every 2 s; the follower logs it, a watcher applies
        # it, and the page re-marks the position at that block over the WebSocket.
        applied = max(c.height for c in watcher_cursors.read_all(db))
        wait_for(browser, "a re-mark by a block applied after the open", lambda: int(
            cell(browser, position, "as-of").removeprefix("block ")) > applied, 30)
        assert cell(browser, position, "health") and cell(browser, position, "liquidation")

        browser.find_element("css selector", f'tr[data-position="{position}"]').click()
        wait_for(browser, "the detail", lambda: by_id("detail-id").text == position)
        by_id("stop-loss").send_keys("0.3")
        by_id("set-guards").click()
        wait_for(browser, "the stop-loss shown", lambda: "stop_loss" in by_id("guards-now").text)
        wait_for(browser, "the stop-loss on the chart", lambda: browser.find_elements(
            "css selector", '#chart line[data-line="stop_loss-0"]'))
        assert browser.find_elements("css selector", "#chart line.liquidation")

        by_id("close-position").click()
        wait_for(browser, "the position settled",
                 lambda: cell(browser, position, "state") == "settled", 90)
        doc = db["positions"].find_one({"_id": position})
        assert doc["state"] == "settled" and doc["order"]["user"] == "browser-trader"

        # Signed out, then in again with a CIP-30 wallet: the challenge asked for its
        # address (hex, as CIP-30 gives it), signData signs exactly its text (the test
        # answers for the wallet, with pycardano), the session signs the page in as it.
        browser.execute_script("sessionStorage.clear()")
        browser.get(first.base + "/dashboard")
        wait_for(browser, "the wallet's button", lambda: browser.find_element(
            "css selector", 'button[data-wallet="testwallet"]')).click()
        request = wait_for(browser, "signData asked",
                           lambda: browser.execute_script("return window.signRequest"))
        assert request["address"] == bytes(wallet).hex()
        text = bytes.fromhex(request["payload"]).decode()
        assert text.startswith("DH-Leverage sign-in\naddress: " + str(wallet))
        answer = sign(text, wallet_key, attach_cose_key=True, network=Network.MAINNET)
        browser.execute_script("window.signResolve(arguments[0])",
                               {"signature": answer["signature"], "key": answer["key"]})
        wait_for(browser, "signed in as the wallet",
                 lambda: str(wallet) in by_id("who").text)
        assert by_id("live").text == "live" and not by_id("signin-error").text
        severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert not severe, severe


def test_root_url_of_the_banner_lists_the_links(first: Stack):
    first.wait_ready()
    status, body = get(first.base + "/")
    assert status == 200
    links = json.loads(body)["links"]
    assert links["flower"] == f"http://127.0.0.1:{first.flower_port}/"
    assert all(get(first.base + links[name])[0] == 200
               for name in ("health", "ready", "metrics", "docs", "openapi"))
    status, page = get(first.base + "/", accept="text/html")
    assert status == 200 and b'<script src="/dashboard/dashboard.js">' in page  # the dashboard


def test_the_stack_keeps_its_own_namespace_and_control_socket(first: Stack, redis_url: str):
    first.wait_ready()
    assert read_runtime_env(first.data_dir)["REDIS_NAMESPACE"] == first.namespace
    assert first.namespace.startswith("dhl-")
    client = redis_lib.Redis.from_url(redis_url)
    claim = json.loads(client.get(claim_key(first.namespace)))
    client.close()
    assert (claim["pid"], claim["data_dir"]) == (first.proc.pid, str(first.data_dir))
    assert stat.S_ISSOCK((first.data_dir / "gunicorn.ctl").stat().st_mode)


def test_second_run_in_the_same_data_dir_refuses_in_one_line(first: Stack, redis_url: str):
    first.wait_ready()
    runtime_before = (first.data_dir / "run.env").read_text()
    family_before = descendants(first.proc.pid)

    second = dhl_run_once(stack_env(redis_url, first.data_dir, PORT=str(free_port()),
                                    FLOWER_PORT=str(free_port())))

    assert second.returncode == 2
    assert second.stdout == ""
    assert second.stderr.splitlines() == [
        f"config error: DATA_DIR: {first.data_dir} is in use by the stack running as pid "
        f"{first.proc.pid} (web {first.base}/); stop it, or give this one another DATA_DIR"]
    assert first.proc.poll() is None and first.ready()
    assert (first.data_dir / "run.env").read_text() == runtime_before
    assert descendants(first.proc.pid) == family_before


def test_a_taken_port_is_one_line_naming_it_and_nothing_starts(first: Stack, redis_url: str,
                                                               tmp_path: Path):
    first.wait_ready()
    for variable, taken in (("PORT", first.port), ("FLOWER_PORT", first.flower_port)):
        settings = {"PORT": str(free_port()), "FLOWER_PORT": str(free_port()),
                    variable: str(taken)}
        data_dir = tmp_path / variable
        refused = dhl_run_once(stack_env(redis_url, data_dir, **settings))

        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.splitlines() == [
            f"config error: {variable}: 127.0.0.1:{taken} is in use (set {variable} to "
            "another port, or stop what listens there)"]
        assert refused.stdout == ""  # no service was started, none stopped
        assert sorted(p.name for p in data_dir.iterdir()) == ["run.lock"]
        assert not lock.is_held(data_dir)
    assert first.ready()


def test_a_stack_with_another_data_dir_runs_apart(first: Stack, redis_url: str,
                                                 tmp_path: Path):
    first.wait_ready()
    runtime_before = (first.data_dir / "run.env").read_text()
    # No follower (no recorded blocks there): apartness is what this stack is for.
    other = start_stack(tmp_path, redis_url, FIXTURES_DIR=str(tmp_path / "no-fixtures"))
    try:
        other.wait_ready()
        mine, theirs = read_runtime_env(first.data_dir), read_runtime_env(other.data_dir)
        assert mine["REDIS_NAMESPACE"] != theirs["REDIS_NAMESPACE"] == other.namespace
        assert mine["MONGO_URL"] != theirs["MONGO_URL"]
        assert (other.data_dir / "gunicorn.ctl").exists()
        assert lock.read_holder(other.data_dir)["web"] == f"{other.base}/"
        family = descendants(other.proc.pid)
    finally:
        assert other.stop() in (0, 130), other.log()[-6000:]  # 130: stopped by Ctrl-C
        _forget_namespace(redis_url, other.namespace)
    assert all_gone(family, timeout_s=30)
    assert not (other.data_dir / "run.env").exists()

    # Nothing of the first stack's was touched.
    assert first.proc.poll() is None and first.ready()
    assert get(f"http://127.0.0.1:{first.flower_port}/healthcheck")[0] == 200
    assert (first.data_dir / "run.env").read_text() == runtime_before
    assert stat.S_ISSOCK((first.data_dir / "gunicorn.ctl").stat().st_mode)
    client = redis_lib.Redis.from_url(redis_url)
    assert client.exists(claim_key(first.namespace)) and \
        not client.exists(claim_key(other.namespace))
    client.close()


def test_the_stack_survives_its_mongodb_killed_and_a_second_follower(first: Stack,
                                                                    tmp_path: Path):
    """The replay goes on through the embedded MongoDB server killed (the stack starts it
    again) and a second follower started against the same database (it stands by): no
    process of the stack exits, and the block log, folded, is the served chain."""
    first.wait_ready()
    if "the follower is not started" in first.log():
        pytest.skip("no recorded blocks to replay: " + first.log().split("\n")[0])
    runtime = read_runtime_env(first.data_dir)
    client = connect(runtime["MONGO_URL"])
    db = client[settings_from_mapping(runtime).mongo_db]
    processes = descendants(first.proc.pid)
    mongo_pid = int((first.data_dir / "mongo" / MONGO_PID_FILE).read_text())
    seq_before = chain_log.last_seq(db)
    os.kill(mongo_pid, signal.SIGKILL)
    second = None
    try:
        assert wait_until(lambda: "the embedded mongodb is back at" in first.log(), 60), \
            first.log()[-4000:]
        second = FollowerProcess({**os.environ, **runtime}, tmp_path / "second-follower.log")
        assert wait_until(lambda: second.said("standby: the block log is written by"), 30), \
            second.log_path.read_text()
        # The stack's follower goes on writing the log after the outage.
        assert wait_until(lambda: _last_seq(db) >= seq_before + 3, 60), first.log()[-4000:]
        assert first.proc.poll() is None and second.running
        survivors = descendants(first.proc.pid)
        assert processes - {mongo_pid} <= survivors, "a process of the stack exited"
        assert wait_until(first.ready, 60), get(first.base + "/ready")[1]
        events = chain_log.events_after(db, 0, 100_000)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        folded = effective_chain([(e.kind, e.slot, e.hash) for e in events])
        served = [b.hash.hex() for b in preprod_chain()]
        assert len(folded) > 50 and folded == served[:len(folded)]
        assert not second.said("block-log lease taken")
    finally:
        if second is not None:
            second.stop()
        client.close()


def _last_seq(db) -> int:
    try:
        return chain_log.last_seq(db)
    except PyMongoError:
        return 0


def test_stack_stops_cleanly_on_ctrl_c(first: Stack, redis_url: str):
    first.wait_ready()
    mongo_port = int(first.log().split("(nx-27017) at mongodb://127.0.0.1:")[1].split("/")[0])
    family = descendants(first.proc.pid)

    assert first.stop() in (0, 130)
    assert "stopped the embedded mongodb" in first.log()
    assert all_gone(family, timeout_s=30)
    assert not any(port_open(p) for p in (first.port, first.flower_port, mongo_port))
    assert not (first.data_dir / "run.env").exists() and not lock.is_held(first.data_dir)
    client = redis_lib.Redis.from_url(redis_url)
    assert not client.exists(claim_key(first.namespace))
    client.close()


def test_killing_dhl_run_leaves_no_process_behind(redis_url: str, namespace: str,
                                                  tmp_path: Path):
    killed = start_stack(tmp_path, redis_url, REDIS_NAMESPACE=namespace, MONGO_DB=namespace)
    try:
        killed.wait_ready()
        family = descendants(killed.proc.pid)
        assert len(family) >= 6  # web, worker, beat, flower, follower, their relays, services
        killed.proc.kill()
        killed.proc.wait(timeout=10)
        assert all_gone(family, timeout_s=60), \
            [p for p in family if os.path.exists(f"/proc/{p}")]
        # The DATA_DIR lock died with the stack: a new `dhl run` may start there.
        assert not lock.is_held(killed.data_dir)
    finally:
        killed.stop()
        _forget_namespace(redis_url, namespace)


def test_embedded_redis_is_started_when_none_is_there(monkeypatch, tmp_path):
    closed = free_port()
    monkeypatch.setattr(stack_module, "DEFAULT_LOCAL_REDIS", f"redis://127.0.0.1:{closed}/0")
    settings = settings_from_mapping({"DATA_DIR": str(tmp_path)})
    with ExitStack() as cleanup:
        url = stack_module.resolve_redis(settings, cleanup)
        assert url != stack_module.DEFAULT_LOCAL_REDIS and redis_answers(url)
        assert Path(tmp_path / "redis").is_dir()
    assert not redis_answers(url)


def test_unreachable_explicit_redis_is_a_clear_error(tmp_path):
    settings = settings_from_mapping({"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
                                      "DATA_DIR": str(tmp_path)})
    with ExitStack() as cleanup, pytest.raises(ServiceError, match="REDIS_URL"):
        stack_module.resolve_redis(settings, cleanup)
