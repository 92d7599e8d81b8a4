"""Paper positions run in this process (no Celery): open → close of a long and a short on
the Surf demo markets through the DexHunter stub over HTTP; figures from confirmed legs."""
from __future__ import annotations

import json
from contextlib import ExitStack
from decimal import Decimal
from typing import Iterator

import pytest

from core.units import ADA, Asset
from store import positions as store
from tasks.position_flow import advance
from tasks.position_orders import OpenRequest, close_position, describe, open_position
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
