"""Paper positions on Liqwid, run by REAL Celery workers on the test Redis and MongoDB:
the Liqwid stub in paper mode (its Ada and DJED markets with qTokens, rates and collateral
options: stubs/liqwid_paper.py) and the DexHunter stub, real HTTP on loopback.

- a long DJED (qDJED locked, ADA borrowed) and a short DJED (qADA locked, DJED borrowed)
  open, take more collateral (supplied, then locked in the loan) and settle through
  `dhl positions`; every venue transaction is built by Liqwid's
  API for the position's wallet, from made-up UTxOs, and passes the pre-signing check;
  the position's one loan is opened by the first borrow, grown by the next ones, and
  ended by the last repay, which redeems what it still locked;
- a worker killed after recording venue legs' events (a supply built and confirmed, the
  loan's opening and its growth, a repay and a withdrawal) still settles the long, each
  of Liqwid's builds asked once per leg.
"""
from __future__ import annotations

import json
import re
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest

from core.units import ADA, Asset
from stubs.dexhunter import make_handler as dexhunter_handler
from stubs.liqwid import make_handler as liqwid_handler
from stubs.server import StubServer
from tasks.position_orders import OpenRequest, close_position, open_position
from stack.processes import wait_until
from tests.positions.support import Paper, dhl, one_json, paper_desk
from tests.support.fixtures import fixtures_dir, require
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

DJED = "8db269c3ec630e06ae29f74bc39edd1f87c819f1056206e879a1cd61446a65644d6963726f555344"
BUILDERS = ("supply", "withdraw", "borrow", "modifyBorrow")
BUILDER = re.compile(r"transactions\s*\{\s*(\w+)\s*\(")
EXIT_LINE = re.compile(r"TEST_EXIT_AFTER_EVENTS: exiting after seq (\d+)")


@dataclass
class LiqwidStubs:
    liqwid: StubServer
    dexhunter: StubServer

    def env(self) -> dict[str, str]:
        return {"LIQWID_API_URL": self.liqwid.url + "/graphql",
                "DEXHUNTER_API_URL": self.dexhunter.url, "VENUES": "liqwid",
                "PAPER_VOLATILITY": "0", "DEXHUNTER_MIN_INTERVAL_MS": "0",
                "POSITION_LOCK_SECONDS": "2"}

    def builds(self) -> dict[str, int]:
        """Liqwid's builder calls, by builder."""
        found = dict.fromkeys(BUILDERS, 0)
        for request in self.liqwid.requests_to("/graphql"):
            match = BUILDER.search(str((request.body or {}).get("query", "")))
            if match:
                found[match.group(1)] += 1
        return found

    def paper_loans(self) -> list[dict[str, Any]]:
        return [row for row in self.liqwid.handler._loans  # type: ignore[attr-defined]
                if row.get("paper")]


@pytest.fixture(scope="module")
def stubs() -> Iterator[LiqwidStubs]:
    fixtures = require(fixtures_dir() / "protocols" / "liqwid-api" / "recorded",
                       "recorded Liqwid captures").parents[2]
    with ExitStack() as stack:
        liqwid = stack.enter_context(StubServer(liqwid_handler(fixtures)))
        dexhunter = stack.enter_context(StubServer(dexhunter_handler(fixtures)))
        yield LiqwidStubs(liqwid, dexhunter)


@pytest.fixture(scope="module")
def shared(mongo_url: str, redis_url: str, stubs: LiqwidStubs,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Paper, WorkerProcess]]:
    with paper_desk(mongo_url, redis_url, tmp_path_factory.mktemp("liqwid"), stubs) as paper, \
            ExitStack() as stack:
        yield paper, paper.worker(stack, "liqwid-worker")


@pytest.fixture(autouse=True)
def clean_stubs(stubs: LiqwidStubs) -> None:
    stubs.liqwid.reset()
    stubs.dexhunter.reset()


def venue_legs(view: dict[str, Any], group: str) -> list[dict[str, Any]]:
    return [leg for leg in view["legs"]
            if leg["kind"] != "swap" and leg["leg"].startswith(group + "-")]


def assert_each_venue_leg_built_once(stubs: LiqwidStubs, view: dict[str, Any]) -> None:
    """One Liqwid build per venue leg: a supply per deposit, one borrow (the loan's
    opening), a modifyBorrow for every other borrow, repay and withdrawal."""
    legs = [leg for leg in view["legs"] if leg["kind"] != "swap"]
    kinds = [leg["kind"] for leg in legs]
    assert stubs.builds() == {"supply": kinds.count("deposit_collateral"), "withdraw": 0,
                              "borrow": 1, "modifyBorrow": len(kinds) - 1
                              - kinds.count("deposit_collateral")}, (stubs.builds(), kinds)
    # Each was built: the leg carries the built transaction's id, not a paper one.
    assert all(re.fullmatch(r"[0-9a-f]{64}", leg["tx_id"] or "") for leg in legs), legs


@pytest.mark.parametrize("side", ["long", "short"])
def test_a_paper_position_opens_and_settles_on_liqwid(shared: tuple[Paper, WorkerProcess],
                                                     stubs: LiqwidStubs, side: str) -> None:
    paper, worker = shared
    opened = one_json(dhl(paper, "open", "--side", side, "--asset", DJED,
                          "--collateral", "ADA:100", "--leverage", "2", "--venue", "liqwid"))
    assert opened["ok"] and opened["venue"] == "liqwid", opened
    assert opened["held"] > 0 and any("receipt tokens" in n for n in opened["notes"]), opened
    pid = opened["position"]
    view = paper.wait_state(pid, "open", 40, worker)
    assert all(leg["state"] == "confirmed" and leg["attempt"] == 1 for leg in view["legs"])
    loan = paper.doc(pid)["loan"]
    assert loan["ref"] and int(loan["locked"]) > 0 and loan["free"] == "0", loan
    [row] = [r for r in stubs.paper_loans() if r["id"] == loan["ref"].replace("#", "-")]
    assert Decimal(row["amount"]) > 0
    shown = one_json(dhl(paper, "show", pid))
    assert shown["held"] > 0 and shown["health"] is not None and shown["fees_paid"] > 0, shown

    # Collateral added: supplied, then locked in the loan (two transactions).
    added = one_json(dhl(paper, "collateral", pid, "--add", "2"))
    assert added["ok"], added

    def locked_in() -> bool:
        legs = [leg for leg in paper.view(pid)["legs"] if leg["leg"].startswith("add-")]
        return len(legs) == 2 and all(leg["state"] == "confirmed" for leg in legs)

    assert wait_until(locked_in, 40, interval_s=0.2), paper.view(pid)["legs"][-3:]
    grown = one_json(dhl(paper, "show", pid))
    assert grown["state"] == "open" and grown["health"] > shown["health"], (grown, shown)
    collateral = DJED if side == "long" else ADA.unit
    assert grown["collateral"][collateral] == shown["collateral"][collateral] + 2_000_000
    assert int(grown["loan"]["locked"]) > int(loan["locked"]) and grown["loan"]["free"] == "0"

    # Half closed: the loan stays open, its debt and collateral halved.
    reduced = one_json(dhl(paper, "close", pid, "--fraction", "0.5"))
    assert reduced["ok"] and reduced["state"] == "closing", reduced
    assert all(leg["asset_out"] is None for leg in reduced["legs"] if leg["kind"] == "repay")

    def reopened() -> bool:
        return any(h["event"] == "reduced" for h in paper.view(pid)["history"])

    assert wait_until(reopened, 40, interval_s=0.2), paper.view(pid)["legs"][-3:]
    half = paper.wait_state(pid, "open", 10, worker)
    debt_asset = ADA.unit if side == "long" else DJED
    assert 0 < half["debt"][debt_asset] < grown["debt"][debt_asset]
    assert 0 < int(paper.doc(pid)["loan"]["locked"]) < int(grown["loan"]["locked"])

    closed = one_json(dhl(paper, "close", pid))
    assert closed["ok"] and closed["state"] == "closing", closed
    # The last repay ends the loan and releases what it still locked.
    last_repay = [leg for leg in closed["legs"] if leg["kind"] == "repay"][-1]
    assert last_repay["asset_out"] == (DJED if side == "long" else ADA.unit), closed["legs"]
    view = paper.wait_state(pid, "settled", 40, worker)
    assert view["debt"] == {} and view["collateral"] == {}, view
    assert paper.doc(pid)["loan"] == {"ref": None, "debt": "0", "locked": "0", "free": "0"}
    assert stubs.paper_loans() == []
    assert_each_venue_leg_built_once(stubs, view)
    assert all(leg["state"] == "confirmed" and leg["attempt"] == 1 for leg in view["legs"])


#: Where the worker dies in the long's open and close (2x on 100 ADA: swap, deposit,
#: borrow, swap, deposit, borrow, swap, each four events from seq 1): after the first
#: supply is built (6) and confirmed (8), after the loan's opening is built (10) and
#: confirmed (12), after its growth is built (22); in the close (CLOSE is seq 30): after
#: the first repay is built (36), a withdrawal is built (40), and the last repay, which
#: ends the loan, is confirmed (62; the redelivered task sells what it released).
KILLS = (6, 8, 10, 12, 22, 36, 40, 62)


def test_killed_after_venue_steps_still_settles_on_liqwid(
        mongo_url: str, redis_url: str, stubs: LiqwidStubs, tmp_path: Path) -> None:
    with paper_desk(mongo_url, redis_url, tmp_path, stubs) as paper, ExitStack() as stack:
        worker = paper.worker(stack, "killed", concurrency=1,
                              TEST_EXIT_AFTER_EVENTS=",".join(map(str, KILLS)))
        answer = open_position(paper.desk, OpenRequest("long", Asset.from_unit(DJED), ADA,
                                                       100_000_000, Decimal("2"),
                                                       venue="liqwid"), paper.enqueue)
        pid = answer["position"]
        paper.wait_state(pid, "open", 80, worker)
        closed = close_position(paper.desk, pid, Decimal(1), paper.enqueue)
        assert closed["ok"], closed
        view = paper.wait_state(pid, "settled", 80, worker)
        log = (tmp_path / "killed.log").read_text(errors="replace")
    assert sorted(int(seq) for seq in EXIT_LINE.findall(log)) == list(KILLS), log[-3000:]
    assert_each_venue_leg_built_once(stubs, view)
    assert all(leg["state"] == "confirmed" and leg["attempt"] == 1 for leg in view["legs"])
    assert stubs.paper_loans() == []


def test_an_open_that_failed_before_its_loan_is_unwound_by_a_plain_withdrawal(
        mongo_url: str, redis_url: str, stubs: LiqwidStubs, tmp_path: Path) -> None:
    """Liqwid refuses every borrow: the supply went through, the borrow fails its three
    attempts and the open fails with qDJED supplied but no loan. `close` then redeems
    them with a plain withdrawal and sells the DJED (run in this process)."""
    from stubs.server import Reply
    from tasks.position_flow import advance
    from tasks.positions import flow_context

    refusal = Reply(200, {"errors": [{"message": "Got Infinity weighted LTV"}], "data": None})
    handler = stubs.liqwid.handler
    with paper_desk(mongo_url, redis_url, tmp_path, stubs) as paper:
        handler.page_faults[("borrow", 0)] = refusal  # type: ignore[attr-defined]
        try:
            answer = open_position(paper.desk, OpenRequest("long", Asset.from_unit(DJED), ADA,
                                                           100_000_000, Decimal("2"),
                                                           venue="liqwid"), lambda _p: None)
            pid = answer["position"]
            failed = advance(flow_context(paper.settings), pid)
        finally:
            handler.page_faults.clear()  # type: ignore[attr-defined]
            handler._loans[:] = [r for r in handler._loans  # type: ignore[attr-defined]
                                 if not r.get("paper")]  # the refused borrows' stand-ins
        assert failed.state == "failed", paper.view(pid)
        loan = paper.doc(pid)["loan"]
        assert loan["ref"] is None and int(loan["free"]) > 0, loan
        before = stubs.builds()
        closed = close_position(paper.desk, pid, Decimal(1), lambda _p: None)
        assert closed["ok"], closed
        assert [leg["kind"] for leg in closed["legs"]] == ["withdraw_collateral", "swap"]
        done = advance(flow_context(paper.settings), pid)
        view = paper.view(pid)
        assert done.state == "settled", json.dumps([view["legs"], view["history"][-6:], view.get("waiting")], indent=0)[-3000:]
        after = stubs.builds()
        assert after["withdraw"] - before["withdraw"] == 1 and after["modifyBorrow"] == 0
        # Asked one unit less than supplied (Liqwid's own way to withdraw everything): at
        # most the receipts of that unit stay in the wallet.
        assert int(paper.doc(pid)["loan"]["free"]) <= 50
        assert view["debt"] == {}


def test_auto_deleverage_sells_down_to_the_target_health(shared: tuple[Paper, WorkerProcess],
                                                         stubs: LiqwidStubs) -> None:
    """A paper long at Liqwid (which repays in part) whose deleverage level is above its
    health: a guard tick sells the closed-form amount of collateral and repays debt with
    it — a partial close whose event says why — and the position is open again at the
    target health; a second tick does nothing (the health is above the level)."""
    from store import guards as guard_store
    from tasks.guards import TICK_TASK

    paper, worker = shared
    opened = one_json(dhl(paper, "open", "--side", "long", "--asset", DJED,
                          "--collateral", "ADA:100", "--leverage", "2", "--venue", "liqwid"))
    pid = opened["position"]
    paper.wait_state(pid, "open", 40, worker)
    before = Decimal(one_json(dhl(paper, "show", pid))["health"])
    below, target = before + Decimal("0.2"), before + Decimal("0.5")
    guards = one_json(dhl(paper, "guards", pid, "--deleverage-below", str(below),
                          "--to", str(target)))
    [trigger] = guards["triggers"]
    assert trigger["kind"] == "deleverage" and trigger["health"] == str(below)
    paper.app.send_task(TICK_TASK)

    def deleveraged() -> bool:
        return any(h["event"] == "reduced" for h in paper.view(pid)["history"])

    assert wait_until(deleveraged, 40, interval_s=0.2), worker.log()[-3000:]
    view = paper.wait_state(pid, "open", 10, worker)
    [close] = [h for h in view["history"] if h["event"] == "close"]
    assert close["reason"].startswith(f"auto-deleverage to health {target}: health "), close
    after = Decimal(one_json(dhl(paper, "show", pid))["health"])
    assert after >= target - Decimal("0.001"), (before, after, target)  # the price walks a hair
    [execution] = guard_store.executions(paper.desk.db, pid)
    assert Decimal(execution["health_before"]) < below
    assert Decimal(execution["health_after_expected"]) >= target
    paper.app.send_task(TICK_TASK)  # the health is above the level now: nothing more
    closed = one_json(dhl(paper, "close", pid))
    assert closed["ok"], closed
    view = paper.wait_state(pid, "settled", 40, worker)
    assert [h["event"] for h in view["history"]].count("close") == 2, view["history"]
    assert stubs.paper_loans() == []


def test_a_margin_call_adds_collateral_up_to_its_target(shared: tuple[Paper, WorkerProcess],
                                                        stubs: LiqwidStubs) -> None:
    """A paper long at Liqwid below its margin-call level: a guard tick adds the
    collateral (supplied, then locked in the loan) that brings the health to the target,
    and says so in an alert; the next tick does nothing more."""
    from store import alerts as alert_store
    from store import guards as guard_store
    from tasks.guards import TICK_TASK

    paper, worker = shared
    opened = one_json(dhl(paper, "open", "--side", "long", "--asset", DJED,
                          "--collateral", "ADA:100", "--leverage", "2", "--venue", "liqwid"))
    pid = opened["position"]
    paper.wait_state(pid, "open", 40, worker)
    shown = one_json(dhl(paper, "show", pid))
    before = Decimal(shown["health"])
    below, target = before + Decimal("0.2"), before + Decimal("0.4")
    one_json(dhl(paper, "guards", pid, "--margin-call-below", str(below),
                 "--margin-call-to", str(target)))
    paper.app.send_task(TICK_TASK)

    def added() -> bool:
        legs = [leg for leg in paper.view(pid)["legs"] if leg["leg"].startswith("add-")]
        return len(legs) == 2 and all(leg["state"] == "confirmed" for leg in legs)

    assert wait_until(added, 40, interval_s=0.2), worker.log()[-3000:]
    grown = one_json(dhl(paper, "show", pid))
    assert Decimal(grown["health"]) >= target - Decimal("0.001"), (before, grown["health"])
    assert grown["collateral"][DJED] > shown["collateral"][DJED]
    [execution] = guard_store.executions(paper.desk.db, pid)
    assert int(execution["added"]) == grown["collateral"][DJED] - shown["collateral"][DJED]
    [alert] = alert_store.recent(paper.desk.db, position=pid)
    assert alert["kind"] == "margin_call" and "adding" in alert["message"]
    paper.app.send_task(TICK_TASK)
    closed = one_json(dhl(paper, "close", pid))
    assert closed["ok"], closed
    view = paper.wait_state(pid, "settled", 40, worker)
    assert len([leg for leg in view["legs"] if leg["leg"].startswith("add-")]) == 2  # once
    assert stubs.paper_loans() == []
