"""What the chain does to a live leg, through the whole engine (issue 10, points 3 and 6):
a real worker, the follower and pipeline, `dhl sandbox` holding still when told to
(tests/live/support.py's Forger).

- a transaction left in the mempool past its validity window: the sandbox drops it as
  expired; once the pipeline has applied a block past the window with the leg's inputs
  unspent, the leg fails, and its step's next attempt opens the position;
- a transaction rolled back (the block holding it dropped, the transaction forgotten):
  the leg re-opens, the engine sends the same transaction again, and it is confirmed —
  the same attempt, never a second one;
- a transaction the node refuses: the leg fails with the node's reason, shown on the
  position; the next attempt opens it.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable

import pytest

from chain.slots import ms_to_slot, slot_to_ms
from execution.addresses import address_bytes
from stack.processes import wait_until
from store import own_txs
from tests.live.support import LiveStack, assert_confirmed_from_chain
from tests.positions.support import STRIKE, dhl, one_json
from tests.support.tamper import tampered_builds
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

FIRST_SWAP = "open-00-swap"


class Tampered:
    """The live stack's DexHunter stub tampering with its next build, while entered."""

    def __init__(self, stack: LiveStack, change: Callable[[list[Any]], None]) -> None:
        self.server = stack.paper.stubs.dexhunter
        self.change = change

    def __enter__(self) -> None:
        self.original = self.server.handler
        self.server.handler = tampered_builds(self.original, self.change)

    def __exit__(self, *exc: object) -> None:
        self.server.handler = self.original


def open_long(stack: LiveStack, user: str) -> str:
    opened = one_json(dhl(stack.paper, "open", "--side", "long", "--asset", STRIKE,
                          "--collateral", "ADA:60", "--leverage", "1.5", "--venue", "surf",
                          "--live", "--user", user))
    assert opened["ok"], opened
    return str(opened["position"])


def leg(view: dict[str, Any], leg_id: str) -> dict[str, Any]:
    [found] = [one for one in view["legs"] if one["leg"] == leg_id]
    return found


def wait_leg_state(stack: LiveStack, pid: str, leg_id: str, state: str,
                   worker: WorkerProcess, timeout_s: float = 60) -> dict[str, Any]:
    def there() -> bool:
        return any(one["leg"] == leg_id and one["state"] == state
                   for one in stack.paper.view(pid)["legs"])

    assert wait_until(there, timeout_s, interval_s=0.2), (stack.paper.view(pid)["legs"],
                                                          worker.log())
    return leg(stack.paper.view(pid), leg_id)


def failure_reason(view: dict[str, Any], leg_id: str) -> str:
    [why] = [h["reason"] for h in view["history"]
             if h.get("leg") == "failed" and f"{h['step']}-a{h['attempt']}" == leg_id]
    return str(why)


def test_a_transaction_that_expires_fails_its_leg_and_the_next_attempt_opens(
        live: LiveStack, worker: WorkerProcess) -> None:
    stack = live
    before = stack.stats()
    ttl_box: list[int] = []

    def short_window(tx: list[Any]) -> None:  # valid for 12 s from now
        tx[0][3] = ms_to_slot("mainnet", int(time.time() * 1000)) + 12
        ttl_box.append(tx[0][3])

    with stack.forger.held(), Tampered(stack, short_window):
        pid = open_long(stack, "frank")
        sent = wait_leg_state(stack, pid, f"{FIRST_SWAP}-a1", "submitted", worker)
        assert sent["tx_id"] in stack.stats()["mempool"]
        # No block takes it while its window runs out.
        assert wait_until(lambda: time.time() * 1000 > slot_to_ms("mainnet", ttl_box[0]) + 500,
                          30, interval_s=0.2)
    view = stack.paper.wait_state(pid, "open", 180, worker)
    expired = leg(view, f"{FIRST_SWAP}-a1")
    assert expired["state"] == "failed", expired
    why = failure_reason(view, f"{FIRST_SWAP}-a1")
    assert f"its validity window passed (slot {ttl_box[0]})" in why, why
    retried = leg(view, f"{FIRST_SWAP}-a2")
    assert retried["state"] == "confirmed" and retried["tx_id"] != expired["tx_id"]
    assert_confirmed_from_chain(stack, view)
    after = stack.stats()
    [dropped] = after["refused"][len(before["refused"]):]  # the sandbox dropped it, expired
    assert dropped["tx_id"] == expired["tx_id"] and "expired" in dropped["reasons"][0], dropped
    accepted = after["accepted"][len(before["accepted"]):]
    assert accepted.count(expired["tx_id"]) == 1 and accepted.count(retried["tx_id"]) == 1
    doc = stack.paper.doc(pid)  # the retry spent what the expired one would have
    assert set(doc["work"][f"{FIRST_SWAP}-a1"]["inputs"]) & \
        set(doc["work"][f"{FIRST_SWAP}-a2"]["inputs"])


def test_a_rolled_back_transaction_is_sent_again_and_confirmed(
        live: LiveStack, worker: WorkerProcess) -> None:
    stack = live
    db = stack.paper.desk.db
    before = stack.stats()
    with stack.forger.held():
        pid = open_long(stack, "grace")
        sent = wait_leg_state(stack, pid, f"{FIRST_SWAP}-a1", "submitted", worker)
        tx_id = sent["tx_id"]
        stack.forge()  # the block that takes it

        def seen() -> bool:
            doc = stack.paper.doc(pid)
            return "1 deep" in str(doc.get("waiting"))  # the engine saw it, one deep

        assert wait_until(seen, 30, interval_s=0.1), stack.paper.doc(pid).get("waiting")
        stack.rollback(1, requeue=False)  # dropped, and forgotten by the node
        # The pipeline re-opens it, the engine sends it again: before any new block.
        assert wait_until(lambda: stack.stats()["accepted"].count(tx_id) == 2, 30,
                          interval_s=0.1), stack.paper.doc(pid).get("waiting")
        assert own_txs.off_chain(db, [tx_id]) == {tx_id}
    view = stack.paper.wait_state(pid, "open", 180, worker)
    again = leg(view, f"{FIRST_SWAP}-a1")
    assert again["state"] == "confirmed" and again["tx_id"] == tx_id, again
    assert all(one["attempt"] == 1 for one in view["legs"]), view["legs"]
    assert_confirmed_from_chain(stack, view)
    after = stack.stats()
    accepted = after["accepted"][len(before["accepted"]):]
    assert accepted.count(tx_id) == 2, accepted  # sent, rolled back, sent again
    assert after["rolled_back"][len(before["rolled_back"]):] == [tx_id]
    assert after["refused"] == before["refused"]
    assert "not on chain and still valid: sent again" in worker.log_path.read_text()


def test_a_transaction_the_node_refuses_fails_its_leg_with_the_reason(
        live: LiveStack, worker: WorkerProcess) -> None:
    """The build pays its owner 1 ADA more than it spends: the pre-signing check (which
    does not know the inputs' values) lets it through, the ledger does not."""
    stack = live
    owner = address_bytes(stack.users["heidi"])
    before = stack.stats()

    def unbalanced(tx: list[Any]) -> None:
        [change] = [out for out in tx[0][1] if _address(out) == owner]
        _add_lovelace(change, 1_000_000)

    with Tampered(stack, unbalanced):
        pid = open_long(stack, "heidi")
        view = stack.paper.wait_state(pid, "open", 180, worker)
    refused = leg(view, f"{FIRST_SWAP}-a1")
    assert refused["state"] == "failed", refused
    why = failure_reason(view, f"{FIRST_SWAP}-a1")
    assert why.startswith("the node refused it: ") and "value not conserved" in why, why
    shown = one_json(dhl(stack.paper, "show", pid))  # the reason is shown to the trader
    assert why in json.dumps(shown)
    assert leg(view, f"{FIRST_SWAP}-a2")["state"] == "confirmed"
    assert_confirmed_from_chain(stack, view)
    after = stack.stats()
    [refusal] = after["refused"][len(before["refused"]):]
    assert refusal["tx_id"] == refused["tx_id"], refusal
    assert refused["tx_id"] not in after["accepted"]
    assert not own_txs.exists(stack.paper.desk.db, refused["tx_id"])  # never ours to watch


def _address(out: Any) -> bytes:  # a legacy output [address, value] or a map {0:, 1:}
    return bytes(out[0])


def _add_lovelace(out: Any, lovelace: int) -> None:
    value = out[1]  # a coin, or [coin, multi-asset]
    if isinstance(value, int):
        out[1] = value + lovelace
    else:
        value[0] += lovelace


def test_a_rollback_deeper_than_the_confirmations_brings_the_leg_back(
        live: LiveStack, worker: WorkerProcess) -> None:
    """An open position's last leg (a swap order, and the batcher's fill) rolled back
    long after it was confirmed, its transaction forgotten by the node: the engine sends
    the same transaction again, nothing new meanwhile; the batcher fills it again. The
    position stays open on the same figures, then closes.

    (A rollback of earlier legs too would take the batcher's fills that later legs spend;
    the stub batchers fill again with new transactions, so those later legs could never
    land again: they wait out their window and become chain alerts —
    tests/integration/test_chain_verdict.py.)"""
    stack = live
    db = stack.paper.desk.db
    pid = open_long(stack, "ivan")
    view = stack.paper.wait_state(pid, "open", 180, worker)
    last = [one for one in view["legs"] if one["state"] == "confirmed"][-1]
    tx_id = last["tx_id"]
    figures = {k: view[k] for k in ("size", "collateral", "debt", "fees_paid")}
    seen_height = int(db[own_txs.COLLECTION].find_one({"_id": tx_id})["seen_height"])
    assert wait_until(lambda: stack.stats()["tip"]["height"] - seen_height >= 3, 30,
                      interval_s=0.2)  # four deep: twice LIVE_CONFIRMATIONS
    with stack.forger.held():
        before = stack.stats()
        depth = before["tip"]["height"] - seen_height + 1
        stack.rollback(depth, requeue=False)
        # Re-opened by the pipeline and sent again by the engine, before any new block.
        assert wait_until(lambda: tx_id in stack.stats()["mempool"], 30, interval_s=0.1), \
            stack.paper.doc(pid).get("waiting")
    assert stack.paper.doc(pid)["state"] == "open"  # it never left it

    def back() -> bool:
        doc = stack.paper.doc(pid)
        return own_txs.settlement(db, tx_id) is not None and not doc["pending"] \
            and "rolled back" not in doc["waiting"]

    assert wait_until(back, 60, interval_s=0.3), stack.paper.doc(pid).get("waiting")
    again = stack.paper.view(pid)
    assert {k: again[k] for k in figures} == figures
    assert "chain_alerts" not in stack.paper.doc(pid)
    after = stack.stats()
    assert after["accepted"][len(before["accepted"]):] == [tx_id]  # once more, nothing new
    assert after["rolled_back"][len(before["rolled_back"]):] == [tx_id]
    assert after["refused"] == before["refused"]
    assert f"rolled back after it was confirmed; sent {tx_id} again" in \
        worker.log_path.read_text()
    one_json(dhl(stack.paper, "close", pid))
    closed = stack.paper.wait_state(pid, "settled", 240, worker)
    assert_confirmed_from_chain(stack, closed)
