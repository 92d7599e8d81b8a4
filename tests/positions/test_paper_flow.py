"""Paper positions run in this process (no Celery): open → close of a long and a short on
the Surf demo markets through the DexHunter stub over HTTP; figures from confirmed legs."""
from __future__ import annotations

import json
import re
from contextlib import ExitStack
from dataclasses import replace
from decimal import Decimal
from typing import Iterator

import cbor2
import pytest

from core.units import ADA, Asset
from store import positions as store
from stubs.server import Fault, Reply, Request
from tasks.position_flow import advance
from tasks.position_orders import OpenRequest, OrderError, add_collateral, close_position, \
    describe, open_position
from tasks.positions import desk_for, flow_context
from tests.positions.support import STRIKE, USDM, paper_settings, start_stubs, store_markets

pytestmark = pytest.mark.integration


@pytest.fixture
def paper(test_env: dict[str, str], db) -> Iterator:  # type: ignore[no-untyped-def]
    with ExitStack() as stack:
        stubs = start_stubs(stack)
        settings = paper_settings(test_env, stubs)
        store_markets(settings)
        yield settings, stubs


def run(settings, position_id: str):  # type: ignore[no-untyped-def]
    return advance(flow_context(settings), position_id)


@pytest.mark.parametrize("side,token,leverage", [("long", STRIKE, "1.8"), ("short", USDM, "2")])
def test_open_then_close(paper, side: str, token: str,  # type: ignore[no-untyped-def]
                         leverage: str) -> None:
    settings, stubs = paper
    desk = desk_for(settings)
    queued: list[str] = []
    answer = open_position(desk, OpenRequest(side, Asset.from_unit(token), ADA, 100_000_000,
                                             Decimal(leverage)), queued.append)
    assert answer["ok"], answer
    pid = answer["position"]
    assert queued == [pid]
    done = run(settings, pid)
    assert done.state == "open", (done, describe(desk, store.read(desk.db, pid), detail=True))
    view = describe(desk, store.read(desk.db, pid), detail=True)
    assert view["size"] > 0 and view["fees_paid"] > 0
    closed = close_position(desk, pid, Decimal(1), queued.append)
    assert closed["ok"], closed
    done = run(settings, pid)
    view = describe(desk, store.read(desk.db, pid), detail=True)
    assert done.state == "settled", json.dumps(view, indent=1)[:6000]
    assert view["debt"] == {} and view["collateral"] == {}
    assert stubs.dexhunter.handler.count("/swap/build") == sum(
        1 for leg in view["legs"] if leg["kind"] == "swap")


def open_long(desk, settings, amount: int = 100_000_000):  # type: ignore[no-untyped-def]
    answer = open_position(desk, OpenRequest("long", Asset.from_unit(STRIKE), ADA, amount,
                                             Decimal("1.5")), lambda pid: None)
    assert answer["ok"], answer
    assert run(settings, answer["position"]).state == "open"
    return answer["position"]


def test_refusals_before_anything_is_sent_are_a_state_of_their_own(paper) -> None:  # type: ignore[no-untyped-def]
    settings, stubs = paper
    desk = desk_for(settings)
    queued: list[str] = []
    too_high = open_position(desk, OpenRequest("long", Asset.from_unit(STRIKE), ADA,
                                               100_000_000, Decimal(3)), queued.append)
    # The stub routes up to 1,000 ADA of value: 2,000 ADA at 1.5x is too much for it.
    too_big = open_position(desk, OpenRequest("long", Asset.from_unit(STRIKE), ADA,
                                              2_000_000_000, Decimal("1.5")), queued.append)
    assert queued == []  # nothing handed to the workers
    for answer, code, reason in ((too_high, "ltv", "leverage_above_ltv"),
                                 (too_big, "liquidity", "not_enough_liquidity")):
        assert answer["ok"] is False and answer["state"] == "refused"
        assert code in [r["code"] for r in answer["reasons"]]
        doc = store.read(desk.db, answer["position"])
        assert doc["state"] == "refused" and doc["legs"] == {}
        assert doc["history"]["00000001"]["reason"] == reason
        assert code in [r["code"] for r in describe(desk, doc)["refusal"]]
    assert stubs.dexhunter.handler.count("/swap/build") == 0


def test_plan_only_stores_nothing(paper, db) -> None:  # type: ignore[no-untyped-def]
    settings, _ = paper
    desk = desk_for(settings)
    answer = open_position(desk, OpenRequest("short", Asset.from_unit(USDM), ADA, 50_000_000,
                                             Decimal(2), plan_only=True), lambda pid: None)
    assert answer["ok"] and "position" not in answer
    assert answer["health"] is not None and answer["liquidation_price"] is not None
    assert store.all_positions(db) == []


def pooled(desk) -> None:  # type: ignore[no-untyped-def]
    """The demo markets as a venue that pools a position's collateral in one loan and
    repays in part (Liqwid's shape) would offer them."""
    markets = desk.markets
    desk.markets = lambda now: [replace(m, partial_repay=True, loan_per_borrow=False)
                                for m in markets(now)]


def test_a_surf_long_is_one_loan_per_borrow_closed_loan_by_loan(paper) -> None:  # type: ignore[no-untyped-def]
    settings, stubs = paper
    desk = desk_for(settings)
    answer = open_position(desk, OpenRequest("long", Asset.from_unit(STRIKE), ADA, 100_000_000,
                                             Decimal("1.8")), lambda pid: None)
    loans = len(answer["loans"])
    assert answer["ok"] and loans == answer["loops"] == 3, answer  # at max LTV 0.5
    kinds = [leg["kind"] for leg in answer["legs"]]
    # Each borrow locks what the swap before it bought; nothing is deposited on its own.
    assert kinds == ["swap"] + ["borrow", "swap"] * loans
    assert [leg["asset_in"] for leg in answer["legs"][1::2]] == [STRIKE] * loans
    assert answer["held"] == answer["legs"][-1]["amount_out"] > 0
    pid = answer["position"]
    assert run(settings, pid).state == "open"
    view = describe(desk, store.read(desk.db, pid), detail=True)
    borrows = [leg for leg in view["legs"] if leg["kind"] == "borrow"]
    assert view["collateral"][STRIKE] == sum(leg["amount_in"] for leg in borrows)
    assert view["loans"] == [{"collateral": leg["amount_in"], "debt": leg["amount_out"]}
                             for leg in borrows]
    assert view["held"] == view["legs"][-1]["actual"]["amount_out"]  # the last swap's
    for leg, loan in zip(borrows, answer["loans"]):  # never above the planned LTV
        assert leg["amount_out"] * loan["collateral"] <= loan["debt"] * leg["amount_in"]
    closed = close_position(desk, pid, Decimal(1), lambda p: None)
    assert closed["ok"], closed
    # Sell what the wallet holds, then last loan first: repay in full, sell what it released.
    assert [leg["kind"] for leg in closed["legs"]] == ["swap"] + ["repay", "swap"] * loans
    assert [leg["amount_out"] for leg in closed["legs"][1::2]] == \
        [leg["amount_in"] for leg in reversed(borrows)]
    assert closed["bridge"] > 0 and "wallet's own" in " ".join(closed["notes"])
    assert run(settings, pid).state == "settled"
    view = describe(desk, store.read(desk.db, pid), detail=True)
    assert view["debt"] == {} and view["collateral"] == {}
    repays = [leg for leg in view["legs"] if leg["kind"] == "repay"]
    assert [leg["amount_in"] for leg in repays] == [leg["amount_in"] for leg in closed["legs"][1::2]]
    # Each loan's transaction was built by Surf (its API, the stub) once, passed the
    # pre-signing check, and is booked with its own id and network fee.
    assert len(stubs.surf.requests_to("/api/borrow")) == len(borrows) == loans
    assert len(stubs.surf.requests_to("/api/repay")) == len(repays) == loans
    for leg in borrows + repays:
        assert re.fullmatch(r"[0-9a-f]{64}", leg["tx_id"]), leg
        assert 150_000 < leg["actual"]["network_fee"] < 1_000_000, leg


def test_a_partial_close_reduces_where_the_venue_repays_in_part(paper) -> None:  # type: ignore[no-untyped-def]
    settings, stubs = paper
    desk = desk_for(settings)
    surf = open_long(desk, settings)
    refused = close_position(desk, surf, Decimal("0.5"), lambda p: None)
    assert refused["ok"] is False and refused["reasons"][0]["code"] == "partial_repay"
    assert store.read(desk.db, surf)["state"] == "open"  # nothing changed
    # A market that pools the collateral and repays in part: the reduce runs and the
    # position stays open.
    pooled(desk)
    pid = open_long(desk, settings)
    before = describe(desk, store.read(desk.db, pid))
    reduced = close_position(desk, pid, Decimal("0.5"), lambda p: None)
    assert reduced["ok"], reduced
    assert run(settings, pid).state == "open"
    after = describe(desk, store.read(desk.db, pid))
    held = before["collateral"][STRIKE]
    assert after["collateral"][STRIKE] == held - held // 2 or \
        abs(after["collateral"][STRIKE] - held / 2) <= 1
    assert 0 < after["debt"]["lovelace"] < before["debt"]["lovelace"]
    assert after["realised_pnl"] != before["realised_pnl"]
    assert close_position(desk, pid, Decimal(1), lambda p: None)["ok"]
    assert run(settings, pid).state == "settled"


def test_collateral_added_to_an_open_position(paper) -> None:  # type: ignore[no-untyped-def]
    settings, _ = paper
    desk = desk_for(settings)
    surf = open_long(desk, settings)
    with pytest.raises(OrderError, match="collateral with it"):
        add_collateral(desk, surf, 5_000_000, lambda p: None)
    pooled(desk)
    pid = open_long(desk, settings)
    before = describe(desk, store.read(desk.db, pid))
    add_collateral(desk, pid, 5_000_000, lambda p: None)
    assert run(settings, pid).state == "open"
    after = describe(desk, store.read(desk.db, pid))
    assert after["collateral"][STRIKE] == before["collateral"][STRIKE] + 5_000_000
    assert after["health"] > before["health"]
    assert after["debt"] == before["debt"]


def test_a_failed_open_is_unwound_by_a_close(paper) -> None:  # type: ignore[no-untyped-def]
    settings, stubs = paper
    desk = desk_for(settings)
    answer = open_position(desk, OpenRequest("long", Asset.from_unit(STRIKE), ADA,
                                             100_000_000, Decimal("1.5")), lambda pid: None)
    pid = answer["position"]
    # Every build refused: the first swap fails three times and the position fails.
    stubs.dexhunter.fail_next("/swap/build", Fault(status=400, body="no_valid_pools_for_trade"),
                              times=3)
    assert run(settings, pid).state == "failed"
    doc = store.read(desk.db, pid)
    assert [h["kind"] for _, h in sorted(doc["history"].items())][-1] == "fail"
    # Nothing was held: closing it cancels it.
    assert close_position(desk, pid, Decimal(1), lambda p: None)["state"] == "cancelled"
    assert store.read(desk.db, pid)["state"] == "cancelled"


STRANGER = bytes([0x61]) + bytes(range(100, 128))  # a mainnet key address nobody expects


def pays_a_stranger(tx: list) -> None:  # type: ignore[type-arg]
    tx[0][1].append([STRANGER, 5_000_000])


def locks_twice_the_collateral(tx: list) -> None:  # type: ignore[type-arg]
    for out in tx[0][1]:  # the order: the output with a datum
        if isinstance(out, dict) and 2 in out:
            for names in out[1][1].values():
                for name in names:
                    names[name] *= 2


@pytest.mark.parametrize("tamper,why", [(pays_a_stranger, "not an expected party"),
                                        (locks_twice_the_collateral, "the leg locks")])
def test_a_surf_build_not_as_asked_is_refused_and_retried(paper, tamper, why) -> None:  # type: ignore[no-untyped-def]
    """The first borrow Surf builds also pays a stranger, or its order locks twice the
    collateral asked (its datum unchanged): the pre-signing check refuses it (the leg
    fails with the check's reason, nothing signed); the next attempt is built afresh and
    the position opens."""
    settings, stubs = paper
    original, left = stubs.surf.handler, [1]

    def tampered(request: Request) -> Reply:
        reply = original(request)
        if request.path != "/api/borrow" or reply.status != 200 or not left[0]:
            return reply
        left[0] -= 1
        body = json.loads(reply.encoded())
        tx = cbor2.loads(bytes.fromhex(body["cbor"]))
        tamper(tx)
        return Reply(200, {"cbor": cbor2.dumps(tx).hex()})

    stubs.surf.handler = tampered
    desk = desk_for(settings)
    answer = open_position(desk, OpenRequest("long", Asset.from_unit(STRIKE), ADA, 100_000_000,
                                             Decimal("1.4")), lambda pid: None)
    assert run(settings, answer["position"]).state == "open"
    view = describe(desk, store.read(desk.db, answer["position"]), detail=True)
    [failed] = [leg for leg in view["legs"] if leg["state"] == "failed"]
    assert failed["leg"] == "open-01-borrow-a1" and failed["tx_id"] is None
    [reason] = [h["reason"] for h in view["history"]
                if h.get("leg") == "failed" and h["step"] == "open-01-borrow"]
    assert reason.startswith("the pre-signing check refused the build") and \
        why in reason, reason
    assert [leg["state"] for leg in view["legs"] if leg["leg"] == "open-01-borrow-a2"] == \
        ["confirmed"]
    assert len(stubs.surf.requests_to("/api/borrow")) == 2


def test_a_busy_position_lock_is_tried_again_when_it_would_lapse(redis_client, namespace) -> None:  # type: ignore[no-untyped-def]
    from tasks.positions import LOCK_RETRY_FLOOR_S, retry_after_lock

    name = f"{namespace}:position-lock:test"
    assert retry_after_lock(redis_client, name, 30) == LOCK_RETRY_FLOOR_S  # none: soon
    redis_client.set(name, "holder", px=1500)
    wait = retry_after_lock(redis_client, name, 30)
    assert 1.2 < wait <= 1.5 + LOCK_RETRY_FLOOR_S  # when it lapses, not a fixed 30 s
    assert retry_after_lock(redis_client, name, 1) == 1  # never beyond the lock's life
    redis_client.delete(name)
