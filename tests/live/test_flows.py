"""Live positions, for real, offline: `dhl sandbox` as the chain, the DexHunter and Surf
stubs building from its UTxOs, `dhl follow` following it over node-to-client, REAL Celery
workers on the test Redis and MongoDB (tests/live/support.py).

Every leg of a long and a short at Surf is built, checked, signed by the user's managed
account, submitted over local tx-submission and confirmed from blocks — two deep, and a
swap or a Surf order only once the batcher's fill is on chain, with what it really paid.
Counted on the chain: the sandbox accepted each leg's transaction exactly once and
refused nothing.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.live.support import LiveStack, assert_confirmed_from_chain, leg_txs
from tests.positions.support import STRIKE, USDM, dhl, one_json
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("side, user, token", [("long", "alice", STRIKE),
                                               ("short", "bob", USDM)])
def test_a_live_position_opens_and_closes_against_the_sandbox(
        live: LiveStack, worker: WorkerProcess, side: str, user: str, token: str) -> None:
    stack = live
    before = stack.stats()
    opened = one_json(dhl(stack.paper, "open", "--side", side, "--asset", token,
                          "--collateral", "ADA:100", "--leverage", "1.5", "--venue", "surf",
                          "--live", "--user", user))
    assert opened["ok"], opened
    pid = opened["position"]
    view = stack.paper.wait_state(pid, "open", 180, worker)
    assert view["paper"] is False
    assert_confirmed_from_chain(stack, view)
    one_json(dhl(stack.paper, "close", pid))
    view = stack.paper.wait_state(pid, "settled", 240, worker)
    assert_confirmed_from_chain(stack, view)
    after = stack.stats()
    sent = after["accepted"][len(before["accepted"]):]
    # Exactly once, on the chain: each leg's transaction accepted once, nothing else of
    # ours, nothing refused.
    assert sorted(sent) == sorted(leg_txs(view)), (sent, view["legs"])
    assert after["refused"] == before["refused"], after["refused"]


def witness_set(key: Any, tx_hex: str) -> str:
    """What a CIP-30 wallet's signTx answers: a witness set with its vkey witness."""
    import cbor2

    from chain.ledger.signatures import body_hash

    digest = body_hash(bytes.fromhex(tx_hex))
    return cbor2.dumps({0: [[bytes(key.verify_key), key.sign(digest).signature]]}).hex()


def test_a_wallet_signed_live_position_opens_and_closes(
        live: LiveStack, worker: WorkerProcess) -> None:
    """The trader's wallet (a key of the test's own) signs each leg's transaction handed
    out by the API; a witness by another key, or none, is refused before anything is
    sent; the signed legs go to the node with their ids unchanged."""
    from app import create_app
    from stack.processes import wait_until
    from tests.support.sandbox import BOB

    from core.api_keys import new_key
    from store import api_keys

    stack = live
    app = create_app(stack.paper.settings)
    wallet = stack.extra["wallet"]
    key_id, kept, key = new_key()  # the wallet's owner signs in with an API key
    api_keys.add(stack.paper.desk.db, key_id, wallet, kept, 1)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    before = stack.stats()
    # Ordered over the API, live, signed by the wallet its user is (issue 12).
    ordered = client.post("/orders", json={
        "side": "long", "asset": STRIKE, "collateral": "ADA", "amount": "60",
        "leverage": "1.5", "venue": "surf", "mode": "live", "signing": "wallet"})
    assert ordered.status_code == 201, ordered.get_json()
    pid = ordered.get_json()["position"]
    assert stack.paper.doc(pid)["order"]["owner"] == wallet

    def pending() -> list[dict[str, Any]]:
        answer = client.get(f"/positions/{pid}/unsigned")
        assert answer.status_code == 200, answer.get_json()
        return list(answer.get_json()["legs"])

    assert wait_until(lambda: bool(pending()), 60, interval_s=0.3), stack.paper.view(pid)
    first = pending()[0]
    for wrong in (witness_set(BOB, first["tx"]), "a0"):  # another key's; none at all
        refused = client.post(f"/positions/{pid}/witnesses",
                              json={"leg": first["leg"], "witness_set": wrong})
        assert refused.status_code == 422, refused.get_json()
        assert "witness_set" in refused.get_json()["errors"]["json"]
    assert stack.stats()["accepted"] == before["accepted"]  # nothing was sent
    assert client.post(f"/positions/{pid}/witnesses", json={"leg": first["leg"]}) \
        .status_code == 422  # a field missing: named
    assert client.get("/positions/pos-nope/unsigned").status_code == 404
    stranger = app.test_client()  # no key: 401; another user's key: as if it did not exist
    assert stranger.get(f"/positions/{pid}/unsigned").status_code == 401
    other_id, other_kept, other_key = new_key()
    api_keys.add(stack.paper.desk.db, other_id, "mallory", other_kept, 1)
    assert stranger.get(f"/positions/{pid}/unsigned", headers={
        "Authorization": f"Bearer {other_key}"}).status_code == 404
    assert stranger.post(f"/positions/{pid}/witnesses", json={
        "leg": first["leg"], "witness_set": "a0"},
        headers={"Authorization": f"Bearer {other_key}"}).status_code == 404

    def sign_until(state: str, timeout_s: float) -> dict[str, Any]:
        def there() -> bool:
            for leg in pending():
                answer = client.post(f"/positions/{pid}/witnesses", json={
                    "leg": leg["leg"], "witness_set": witness_set(stack.extra["key"],
                                                                  leg["tx"])})
                assert answer.status_code == 200, answer.get_json()
                assert answer.get_json()["tx_id"] == leg["tx_id"]  # the body as built
            return bool(stack.paper.doc(pid)["state"] == state)

        assert wait_until(there, timeout_s, interval_s=0.5), \
            (stack.paper.view(pid), worker.log()[-4000:])
        return stack.paper.view(pid)

    view = sign_until("open", 180)
    assert view["signing"] == "wallet"
    assert_confirmed_from_chain(stack, view)
    closing = client.post(f"/positions/{pid}/close", json={})
    assert closing.status_code == 200, closing.get_json()
    view = sign_until("settled", 240)
    assert_confirmed_from_chain(stack, view)
    after = stack.stats()
    sent = after["accepted"][len(before["accepted"]):]
    assert sorted(sent) == sorted(leg_txs(view)), (sent, view["legs"])
    assert after["refused"] == before["refused"]
    app.extensions["dhl"].close()


def test_a_live_positions_guards_alert_and_its_kill_switch_closes_it_once(
        live: LiveStack, worker: WorkerProcess) -> None:
    """Guards on a live position, priced by DexHunter's quote: a health alert fires (its
    price's source the quote); the user's kill switch closes it, once, whatever the
    duplicated ticks: the sandbox accepted each leg's transaction exactly once."""
    from store import alerts as alert_store
    from store import guards as guard_store
    from stack.processes import wait_until
    from tasks.guards import TICK_TASK
    from tests.support.cli import run_dhl

    stack = live
    paper = stack.paper
    before = stack.stats()
    opened = one_json(dhl(paper, "open", "--side", "long", "--asset", STRIKE,
                          "--collateral", "ADA:100", "--leverage", "1.5", "--venue", "surf",
                          "--live", "--user", "carol"))
    pid = opened["position"]
    paper.wait_state(pid, "open", 180, worker)
    health = Decimal(one_json(dhl(paper, "show", pid))["health"])
    one_json(dhl(paper, "guards", pid, "--alert-below", str(health + 1),
                 "--stop-loss", "0.3"))
    assert {t["market"] for t in guard_store.current_triggers(paper.desk.db, pid)} == \
        {f"live:{STRIKE}"}
    for _ in range(2):
        paper.app.send_task(TICK_TASK)

    def alerts() -> list[dict[str, Any]]:
        return alert_store.recent(paper.desk.db, position=pid)

    assert wait_until(lambda: any(a["kind"] == "health" for a in alerts()), 60), \
        worker.log()[-3000:]
    [alert] = [a for a in alerts() if a["kind"] == "health"]
    assert alert["facts"]["source"] == "dexhunter quote" and alert["user"] == "carol"
    quoted = one_json(dhl(paper, "show", pid))["quote"]  # its PnL at the executable quote
    kept = guard_store.price_of(paper.desk.db, f"live:{STRIKE}")
    assert quoted["price"] == str(Decimal(kept["price"])) and quoted["source"] == "dexhunter quote"
    assert isinstance(quoted["unrealised_pnl"], int)
    assert run_dhl(["kill-switch", "on", "--user", "carol"], paper.env).returncode == 0
    try:
        for _ in range(3):
            paper.app.send_task(TICK_TASK)
        view = paper.wait_state(pid, "settled", 240, worker)
    finally:
        assert run_dhl(["kill-switch", "off", "--user", "carol"], paper.env).returncode == 0
    [close] = [h for h in view["history"] if h["event"] == "close"]
    assert close["reason"].startswith("emergency exit: kill switch user:carol"), close
    assert_confirmed_from_chain(stack, view)
    after = stack.stats()
    sent = after["accepted"][len(before["accepted"]):]
    assert sorted(sent) == sorted(leg_txs(view)), (sent, view["legs"])
    assert after["refused"] == before["refused"], after["refused"]
