"""Guards end to end on paper (issue 11's "done when", over a real Celery worker, Redis,
the MongoDB server and the stubs over HTTP): a paper long with a take-profit and a
stop-loss; the paper price jumps through the stop (`dhl paper set-price`); the guard tick
— sent three times, as a stale and a duplicated fire would be — closes it exactly once,
filled at the jumped price, never at the trigger, its history saying which rule of which
version fired at what price."""
from __future__ import annotations

import json
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import pytest

from store import guards as guard_store
from tasks.guards import HEALTH_TASK, TICK_TASK
from tests.positions.support import STRIKE, USDM, Paper, dhl, one_json, paper_desk, start_stubs
from stack.processes import wait_until
from tests.support.cli import run_dhl

pytestmark = pytest.mark.integration


@pytest.fixture
def paper(mongo_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Paper]:
    with ExitStack() as stack:
        stubs = start_stubs(stack)
        yield stack.enter_context(paper_desk(mongo_url, redis_url,
                                             tmp_path_factory.mktemp("guards"), stubs))


def test_a_stop_jumped_through_closes_the_long_once_at_the_jumped_price(paper: Paper) -> None:
    import redis as redis_lib

    from store import live_feed

    client = redis_lib.Redis.from_url(paper.settings.redis_url)
    listener = client.pubsub()  # every recorded event, live
    listener.subscribe(live_feed.channel(paper.settings.redis_namespace))
    with ExitStack() as workers:
        workers.callback(listener.close)
        worker = paper.worker(workers, "guards-worker")
        opened = one_json(dhl(paper, "open", "--side", "long", "--asset", STRIKE,
                              "--collateral", "ADA:100", "--leverage", "1.8"))
        pid = opened["position"]
        paper.wait_state(pid, "open", 60, worker)
        # Set while the price is 0.5: a stop at or above it would fire at once: refused.
        refused = dhl(paper, "guards", pid, "--stop-loss", "0.55")
        assert refused.returncode == 2 and "would fire at once" in refused.stderr
        bad = dhl(paper, "guards", pid, "--take-profit", "0.7:1.5")
        assert bad.returncode == 2 and "take_profit[0].fraction" in bad.stderr
        partial = dhl(paper, "guards", pid, "--take-profit", "0.7:0.5")
        assert partial.returncode == 2 and "repays each loan only in full" in partial.stderr
        first = one_json(dhl(paper, "guards", pid, "--take-profit", "0.8", "--stop-loss", "0.4"))
        guards = one_json(dhl(paper, "guards", pid, "--take-profit", "0.7",
                              "--take-profit", "0.9", "--stop-loss", "0.45",
                              "--trailing", "25"))  # from 0.5: a stop at 0.375, not hit
        assert guards["version"] != first["version"]
        shown = one_json(dhl(paper, "show", pid))
        assert shown["guards"]["version"] == guards["version"]
        assert {t["name"] for t in shown["guards"]["triggers"]} == {
            "take_profit-0", "take_profit-1", "stop_loss-0", "trailing_stop-0"}
        # A tick at 0.5 fires nothing.
        paper.app.send_task(TICK_TASK)
        moved = run_dhl(["paper", "set-price", STRIKE, "0.40"], paper.env)
        assert moved.returncode == 0, moved.stderr
        for _ in range(3):  # the beat's tick, once and twice more
            paper.app.send_task(TICK_TASK)
        view = paper.wait_state(pid, "settled", 60, worker)
        log = worker.log_path.read_text(errors="replace")
        published = []
        while (message := listener.get_message(timeout=0.5)) is not None:
            if message["type"] == "message":
                published.append(live_feed.parse_published(message["data"]).message)
    # Every event of the position was published as it was recorded (open by the CLI,
    # legs by the worker, the close by the guard), the last one leaving it settled.
    mine = [m for m in published if m["position"] == pid]
    assert sorted(m["seq"] for m in mine) == list(range(1, view["version"] + 1)), mine
    assert mine[-1]["state"] == "settled" and mine[-1]["event"] == "settled"
    owner = paper.doc(pid)["order"]["owner"]
    assert {m["user"] for m in mine} == {owner}
    # ... and kept in the owner's feed, in the same order, for a client that reconnects.
    kept = live_feed.since(client, paper.settings.redis_namespace, owner, None, limit=1000)
    assert [e.message for e in kept.entries if e.message.get("position") == pid] == mine
    client.close()
    assert log.count(": closing 1 of ") == 1, log[-4000:]  # one execution acted
    assert "executed before" in log or "is closing: the trigger waits" in log  # the others
    closes = [h for h in view["history"] if h["event"] == "close"]
    [close] = closes  # once
    assert close["reason"].startswith(f"stop-loss of guards version {guards['version']}: "
                                      f"the paper price 0.4"), close
    assert "crossed 0.45" in close["reason"]
    # Filled at the price of the block it executed in: the jumped price, not the trigger.
    doc = paper.doc(pid)
    close_swaps = [leg for leg in view["legs"] if leg["leg"].startswith("close-")
                   and leg["kind"] == "swap"]
    assert close_swaps and all(Decimal(doc["work"][leg["leg"]]["price"]) == Decimal("0.4")
                               for leg in close_swaps), [doc["work"][l["leg"]] for l in close_swaps]
    [execution] = guard_store.executions(paper.desk.db, pid)
    assert execution["kind"] == "stop_loss" and execution["version"] == guards["version"]
    assert Decimal(execution["price"]) == Decimal("0.4") and execution["trigger_price"] == "0.45"
    assert guard_store.current_triggers(paper.desk.db, pid) == []  # nothing left to fire
    kept = [guard_store.rules_version(paper.desk.db, pid, v["version"]) for v in (first, guards)]
    assert all(kept)  # every version kept


def test_health_alert_webhook_and_kill_switch(paper: Paper) -> None:
    """A paper long whose alert level is above its health: a tick alerts once (kept,
    POSTed signed to the owner's webhook, retried by the worker after a 500); a margin
    call Surf cannot take is refused when set; a borrow rate above its bound alerts;
    then the
    owner's kill switch: the next ticks close it once, with the switch as the reason, and
    no position opens under it until it is off."""
    from core.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
    from store import alerts as alert_store
    from stubs.server import Fault, Reply, StubServer
    from tests.support.cli import run_dhl as run

    with ExitStack() as workers, StubServer(lambda request: Reply(204)) as hook:
        worker = paper.worker(workers, "health-worker")
        opened = one_json(dhl(paper, "open", "--side", "long", "--asset", STRIKE,
                              "--collateral", "ADA:100", "--leverage", "1.8"))
        pid = opened["position"]
        paper.wait_state(pid, "open", 60, worker)
        owner = paper.doc(pid)["order"]["owner"]
        hooked = run(["alerts", "webhook", owner, "--url", hook.url + "/hook"], paper.env)
        secret = json.loads(hooked.stdout)["secret"]
        hook.fail_next("/hook", Fault(status=500))
        shown = one_json(dhl(paper, "show", pid))
        health_now = Decimal(shown["health"])
        guards = one_json(dhl(paper, "guards", pid, "--alert-below", str(health_now + 1)))
        assert {t["kind"] for t in guards["triggers"]} == {"health_alert"}
        for _ in range(2):
            paper.app.send_task(TICK_TASK)
        assert wait_until(lambda: len(hook.requests_to("/hook")) >= 2, 30), worker.log()
        [alert] = alert_store.recent(paper.desk.db, position=pid)
        assert alert["kind"] == "health" and f"below {health_now + 1}" in alert["message"]
        assert alert["facts"]["health_before"]
        assert abs(Decimal(alert["facts"]["price"]) - Decimal("0.5")) < Decimal("0.0001")
        delivered = hook.requests_to("/hook")[-1]
        assert verify(secret, int(delivered.headers[TIMESTAMP_HEADER]), delivered.raw,
                      delivered.headers[SIGNATURE_HEADER])
        assert wait_until(lambda: alert_store.read(paper.desk.db, alert["_id"])["webhook"]
                          == "delivered", 10)

        # A margin call cannot be taken where Surf keeps each loan's collateral with it:
        # refused when set; a borrow rate above its bound: an alert naming alternatives.
        margin = dhl(paper, "guards", pid, "--margin-call-below", str(health_now + 1),
                     "--margin-call-to", str(health_now + 2))
        assert margin.returncode == 2 and "none can be added" in margin.stderr
        one_json(dhl(paper, "guards", pid, "--max-borrow-apr", "0.0001"))
        paper.app.send_task(HEALTH_TASK)

        def kinds() -> dict[str, dict]:
            return {a["kind"]: a for a in alert_store.recent(paper.desk.db, position=pid)}

        assert wait_until(lambda: "borrow_rate" in kinds(), 30), worker.log()[-3000:]
        rate = kinds()["borrow_rate"]
        assert "above 0.0001" in rate["message"] and "no cheaper market" in rate["message"]
        ran = guard_store.last_runs(paper.desk.db)["health"]["at_ms"]
        paper.app.send_task(HEALTH_TASK)  # still above: the rise was alerted once
        assert wait_until(lambda: guard_store.last_runs(paper.desk.db)["health"]["at_ms"]
                          != ran, 30)
        assert [a["kind"] for a in alert_store.recent(paper.desk.db, position=pid)
                ].count("borrow_rate") == 1

        switched = run(["kill-switch", "on", "--user", owner], paper.env)
        assert switched.returncode == 0, switched.stderr
        refused = dhl(paper, "open", "--side", "long", "--asset", STRIKE,
                      "--collateral", "ADA:100", "--leverage", "1.8")
        assert refused.returncode == 2 and "kill switch" in refused.stderr
        for _ in range(3):
            paper.app.send_task(TICK_TASK)
        view = paper.wait_state(pid, "settled", 60, worker)
        [close] = [h for h in view["history"] if h["event"] == "close"]
        assert close["reason"].startswith("emergency exit: kill switch user:")
        status = json.loads(run(["guards", "status"], paper.env).stdout)
        assert status["kill_switches"][0]["state"] == "on"
        assert status["jobs"]["tick"]["last_ms"] is not None
        assert run(["kill-switch", "off", "--user", owner], paper.env).returncode == 0
        again = dhl(paper, "open", "--side", "long", "--asset", STRIKE,
                    "--collateral", "ADA:100", "--leverage", "1.8")
        assert again.returncode == 0, again.stderr


def test_two_beats_two_workers_one_killed_after_its_claim_close_once(paper: Paper) -> None:
    """Points 1 and 6: two beats (ticking every second; redbeat's lock keeps one active:
    the other never sends), duplicate ticks besides, at a worker of two pool processes
    racing each fire, the first to claim the stop's execution dying right after the
    claim (before asking the close); a second worker runs the position's legs.
    The message comes back (acks late), the claim of the dead process is taken over at
    once, and the position is closed exactly once: one close event, one execution that
    acted, each close swap built once by the DexHunter stub."""
    from tests.integration.test_beat import Beat
    from tests.positions.test_worker_flows import assert_each_step_once, \
        assert_one_build_per_attempt

    with ExitStack() as workers:
        # The guards' tasks go to the worker whose pool processes die after a claim (two,
        # racing each duplicate); the other runs everything else.
        killed = paper.worker(workers, "claim-killed", concurrency=2, queues=("guards",),
                              TEST_EXIT_AFTER_GUARD_CLAIM="1")
        other = paper.worker(workers, "other-worker", concurrency=2,
                             queues=("chain", "watchers", "execution", "notify"))
        opened = one_json(dhl(paper, "open", "--side", "long", "--asset", STRIKE,
                              "--collateral", "ADA:100", "--leverage", "1.8"))
        pid = opened["position"]
        paper.wait_state(pid, "open", 60, other)
        one_json(dhl(paper, "guards", pid, "--stop-loss", "0.45"))
        assert run_dhl(["paper", "set-price", STRIKE, "0.40"], paper.env).returncode == 0
        beats = [Beat({**paper.env, "GUARD_TICK_SECONDS": "1"}, paper.tmp / f"beat{n}.log")
                 for n in (1, 2)]
        for beat in beats:
            workers.callback(beat.stop)

        def ticks_sent() -> list[int]:
            return [beat.log_path.read_text(errors="replace").count(
                "Sending due task guards-tick") for beat in beats]

        assert wait_until(lambda: max(ticks_sent()) >= 1, 30), ticks_sent()
        for _ in range(2):  # and duplicated ticks besides
            paper.app.send_task(TICK_TASK)
        view = paper.wait_state(pid, "settled", 60, other)
        assert wait_until(lambda: max(ticks_sent()) >= 3, 30), ticks_sent()
        sent = ticks_sent()
        logs = "".join(w.log_path.read_text(errors="replace") for w in (killed, other))
    assert min(sent) == 0, sent  # one beat ticks, the other waits on the lock
    assert logs.count("TEST_EXIT_AFTER_GUARD_CLAIM: exiting") >= 1, logs[-3000:]
    assert logs.count(": closing 1 of ") == 1, logs[-3000:]
    [close] = [h for h in view["history"] if h["event"] == "close"]
    assert close["reason"].startswith("stop-loss of guards version")
    [execution] = guard_store.executions(paper.desk.db, pid)
    assert "taken_over_ms" in execution and "acted_ms" in execution
    assert_each_step_once(paper, pid)
    assert_one_build_per_attempt(paper, view)


@pytest.mark.parametrize("side, asset, oracle, expected", [
    ("long", STRIKE, "0.48", "0.48"),  # STRIKE priced in the ADA the market lends
    ("short", USDM, "0.5", "2"),  # ADA priced in the USDM the market lends: its inverse
])
def test_the_venues_oracle_prices_the_positions_token(paper: Paper, side: str, asset: str,
                                                     oracle: str, expected: str) -> None:
    """Where the venue has an oracle for the loan's collateral (Surf, from chain), health
    is judged by it: `oracle_mark` gives the token's price in ADA, its source and time."""
    from dataclasses import replace

    from core.units import ADA, Asset
    from protocols.model import OraclePrice
    from tasks.position_orders import OpenRequest, oracle_mark, open_position

    desk = paper.desk
    answer = open_position(desk, OpenRequest(side, Asset.from_unit(asset), ADA, 100_000_000,
                                             Decimal("1.8")), lambda _pid: None)
    doc = paper.doc(answer["position"])
    assert oracle_mark(desk, doc) is None  # no oracle seen yet: the paper price stands
    seen = OraclePrice(Decimal(oracle), 1_700_000_000_000, "surf oracle ab#0")

    def with_oracle(now: int) -> list:
        return [replace(m, collaterals=tuple(replace(o, oracle_price=seen)
                                             for o in m.collaterals))
                for m in desk.markets(now)]

    assert oracle_mark(replace(desk, markets=with_oracle), doc) == (
        Decimal(expected), "surf oracle ab#0", 1_700_000_000_000)


def test_a_loan_is_moved_where_it_pays_once(mongo_url: str, redis_url: str,
                                             tmp_path: Path) -> None:
    """A paper long at a Surf pool whose borrow rate then jumps above its bound while
    another pool lends the same for far less: the rate watch (`guards.health`, sent
    three times) closes it — its reason naming the move — and once it is settled reopens
    it at the cheaper pool with what came back, same side, token and leverage, its
    guards carried over: one close, one new position, opened and confirmed."""
    import copy

    from store import alerts as alert_store
    from stubs.dexhunter import make_handler as dexhunter_handler
    from stubs.server import StubServer
    from stubs.surf import DATA_FILE, SurfStub
    from tests.positions.support import Stubs, store_markets
    from tests.support.fixtures import fixtures_dir

    data = json.loads(DATA_FILE.read_text())
    [strike] = [p for p in data["pools"] if p["api"]["collateralAssets"][0]["asset"]
                ["assetName"] == "535452494b45"]
    cheaper = copy.deepcopy(strike)
    cheaper["wire_id"] = "0" * 60 + "5a03:0"
    cheaper["api"]["borrowApr"] = 0.01
    surf = SurfStub(data, mainnet=True)
    with ExitStack() as stack:
        stubs = Stubs(stack.enter_context(StubServer(surf)),
                      stack.enter_context(StubServer(dexhunter_handler(fixtures_dir()))))
        paper = stack.enter_context(paper_desk(mongo_url, redis_url, tmp_path, stubs))
        worker = paper.worker(stack, "move-worker")
        opened = one_json(dhl(paper, "open", "--side", "long", "--asset", STRIKE,
                              "--collateral", "ADA:100", "--leverage", "1.8"))
        pid = opened["position"]
        paper.wait_state(pid, "open", 60, worker)
        assert paper.doc(pid)["order"]["market_id"] == strike["wire_id"].replace(":", "#")
        # The pool's rate jumps; another pool lends the same for 1 %.
        surf.pools[strike["wire_id"]].row["borrowApr"] = 5
        surf.pools[cheaper["wire_id"]] = surf._pool(cheaper)
        store_markets(paper.settings)
        one_json(dhl(paper, "guards", pid, "--stop-loss", "0.3", "--max-borrow-apr", "0.5",
                     "--move-when-cheaper"))
        for _ in range(3):
            paper.app.send_task(HEALTH_TASK)
        view = paper.wait_state(pid, "settled", 60, worker)
        [close] = [h for h in view["history"] if h["event"] == "close"]
        assert close["reason"].startswith("moving to surf/"), close
        assert "the borrow rate 5 is above 0.5" in close["reason"]
        moved_id = f"{pid}-moved"
        assert wait_until(lambda: guard_store.last_runs(paper.desk.db)["health"]["at_ms"]
                          > 0, 30)
        for _ in range(3):
            paper.app.send_task(HEALTH_TASK)
        assert wait_until(lambda: paper.desk.db["positions"].find_one({"_id": moved_id})
                          is not None, 30), worker.log()[-3000:]
        moved = paper.wait_state(moved_id, "open", 60, worker)
        old, new = paper.doc(pid), paper.doc(moved_id)
        assert new["order"]["market_id"] != old["order"]["market_id"]
        assert new["order"]["market_id"].startswith("0" * 60 + "5a03")
        assert new["order"]["leverage"] == "1.8" and new["side"] == "long"
        assert int(new["order"]["posted"]) == int(old["order"]["equity"]) + \
            paper.view(pid)["realised_pnl"]
        assert all(leg["state"] == "confirmed" for leg in moved["legs"])
        kinds = [t["kind"] for t in guard_store.current_triggers(paper.desk.db, moved_id)]
        assert sorted(kinds) == ["borrow_rate", "stop_loss"]  # carried over
        alerts = [a["kind"] for a in alert_store.recent(paper.desk.db)]
        assert alerts.count("move") == 1 and alerts.count("borrow_rate") == 1, alerts
        assert paper.desk.db["positions"].count_documents({}) == 2  # one reopened, once


def test_a_shorts_buy_back_above_its_threshold_closes_it_once(paper: Paper) -> None:
    """A paper short: its take-profit sits below the price, its stop — the automatic
    buy-back — above; the price jumps through the buy-back: one close, the debt bought
    back at the jumped price, the history saying why."""
    with ExitStack() as workers:
        worker = paper.worker(workers, "short-worker")
        opened = one_json(dhl(paper, "open", "--side", "short", "--asset", USDM,
                              "--collateral", "ADA:100", "--leverage", "2"))
        pid = opened["position"]
        paper.wait_state(pid, "open", 60, worker)
        price = Decimal(one_json(dhl(paper, "show", pid))["mark_price"])
        above = dhl(paper, "guards", pid, "--take-profit", str(price * 2))
        assert above.returncode == 2 and "would fire at once" in above.stderr  # a short's
        guards = one_json(dhl(paper, "guards", pid, "--take-profit", str(price * 8 / 10),
                              "--stop-loss", str(price * 12 / 10)))
        assert {t["name"]: t["direction"] for t in guards["triggers"]} == {
            "take_profit-0": "down", "stop_loss-0": "up"}
        jumped = (price * 13 / 10).quantize(Decimal("0.0001"))
        assert run_dhl(["paper", "set-price", USDM, str(jumped)], paper.env).returncode == 0
        for _ in range(3):
            paper.app.send_task(TICK_TASK)
        view = paper.wait_state(pid, "settled", 60, worker)
    [close] = [h for h in view["history"] if h["event"] == "close"]
    assert close["reason"].startswith("stop-loss of guards version"), close
    assert f"the paper price {jumped}" in close["reason"]
    buy_backs = [leg for leg in view["legs"] if leg["leg"].startswith("close-")
                 and leg["kind"] == "swap"]
    doc = paper.doc(pid)
    assert buy_backs and all(Decimal(doc["work"][leg["leg"]]["price"]) == jumped
                             for leg in buy_backs)
