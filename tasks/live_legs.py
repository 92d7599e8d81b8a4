"""A live leg's life after its build: signed, checked, sent to the node, and judged from
the chain (issue 10). The I/O around execution/witnesses.py, execution/submit.py and
execution/confirmation.py, for tasks/position_flow.py.

- **Built**: the build (checked before any key touches it, as in paper mode) is kept on
  the position (`work.<leg>.tx`) with its validity window, its inputs and, for an order
  that a batcher settles later (a DEX swap, a batched venue order), the order's output.
- **Signed**: managed positions are signed here by the user's account of the master key
  (execution/custody.py); wallet positions wait until the trader's CIP-30 wallet sends
  its witness set (`attach_witnesses`: merged with the body's bytes untouched). Either
  way every witness must be a valid signature of the body and every required signer must
  have signed, or nothing is sent.
- **Sent**: noted in `own_txs` *before* it goes (so a worker that dies after the node
  took it still knows it is ours), then submitted over local tx-submission. A refusal
  of a first send fails the leg with the node's reason; a refusal of a send that may
  have gone before (the note was there) is no news — the chain decides.
- **Judged**: from what the pipeline stored (tasks/chain_verdict.py): confirmed once its
  block is `LIVE_CONFIRMATIONS` deep — for an order, once the transaction spending it
  (the batcher's fill) is on chain too, with what it really paid; resubmitted while it is
  absent and still valid (a rollback removed it); failed only when its window has passed
  and the chain shows it absent.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

from chain.ledger import decode_transaction
from chain.ledger.signatures import body_hash
from execution.addresses import key_hashes
from execution.check import CheckResult
from execution.custody import Custody
from execution.submit import SubmitRefused
from protocols.model import Intent
from execution.witnesses import WitnessError, merge_witnesses, required_signers, \
    signature_problems
from store import own_txs
from store import positions as store
from store.mongo import Database
from tasks.chain_verdict import chain_verdict
from trading.legs import Actual, Leg, LegKind, LegState, advance as move
from trading.positions import Position

log = logging.getLogger(__name__)

#: Signing modes: the engine's managed account, or the trader's own wallet (CIP-30).
MANAGED, WALLET = "managed", "wallet"


class ChainWait(Exception):
    """The leg waits for the chain (or for the trader's signature): nothing to record now;
    the position stays in flight and is looked at again when blocks arrive."""

    def __init__(self, why: str, *, pending: bool = True) -> None:
        super().__init__(why)
        self.why = why
        self.pending = pending  # False: only the trader can move it (a signature)


class LiveRefused(Exception):
    """A live leg that cannot go: the reason fails it."""


@dataclass(frozen=True)
class LiveChain:
    """What the live path needs: the node to submit to and the master key's custody."""

    submit: Callable[[bytes], str]  # signed tx -> its id; SubmitRefused / NodeUnavailable
    custody: Callable[[], Custody] | None  # None: no MASTER_KEY_FILE, no managed signing
    confirmations: int = 1
    #: A sent transaction no block took for this long is sent again (ms).
    resend_after_ms: int = 120_000
    exit_after_submit: bool = False  # tests: die after the node took a tx, before recording


@lru_cache(maxsize=2)
def custody_of(path: Path) -> Custody:
    return Custody(path)


# --- built ---------------------------------------------------------------------------------

def built_work(tx_cbor: bytes, result: CheckResult, owner: str, *, batched: bool,
               deposit: int = 0) -> dict[str, Any]:
    """What a live leg keeps of its checked build: the transaction, its window, its
    inputs (their fate tells an expired tx from one that landed) and, for an order a
    batcher settles, the order's output and the deposit that comes back with the fill."""
    tx = decode_transaction(tx_cbor)
    work: dict[str, Any] = {"tx": tx_cbor.hex(), "ttl": tx.ttl,
                            "inputs": [f"{t.hex()}#{i}" for t, i in tx.inputs],
                            "receiver": owner}
    if batched:
        roles = ("dex-order", "venue")
        orders = [o.index for o in result.outputs if o.role in roles]
        if len(orders) != 1:
            raise LiveRefused(f"an order transaction must place exactly one order, this "
                              f"one places {len(orders)}")
        work["order_ref"] = f"{tx.id.hex()}#{orders[0]}"
        work["deposit"] = str(deposit)
    return work


def order_envelope(intent: Intent, result: CheckResult) -> int:
    """The lovelace a venue order holds beyond the ADA it sends (its min-ADA envelope):
    it comes back with the batcher's fill and is not part of what the leg received."""
    orders = [o for o in result.outputs if o.role == "venue"]
    if len(orders) != 1:
        return 0
    sent = sum(t.amount for t in intent.leaves if t.asset.is_ada)
    return max(0, orders[0].lovelace - sent)


# --- signed and sent -----------------------------------------------------------------------

def signers_of(tx_cbor: bytes, owner: str) -> set[bytes]:
    """Who must sign: the body's required signers and reward withdrawals, and the owner's
    payment key (its inputs are key-locked: every build spends the owner's UTxOs)."""
    return required_signers(tx_cbor, {}) | {h for h in key_hashes({owner})
                                            if _is_payment(h, owner)}


def _is_payment(key_hash: bytes, owner: str) -> bool:
    from execution.addresses import address_bytes, payment_part

    part = payment_part(address_bytes(owner))
    return part is not None and not part[0] and part[1] == key_hash


def signed_tx(live: LiveChain, doc: Mapping[str, Any], leg: Leg) -> bytes:
    """The leg's transaction with every signature it needs, checked; ChainWait while a
    wallet position waits for the trader's witnesses; LiveRefused when it cannot be."""
    work = doc.get("work", {}).get(leg.leg_id, {})
    order = doc["order"]
    tx = bytes.fromhex(work["tx"])
    required = signers_of(tx, str(order["owner"]))
    if order.get("signing") == WALLET:
        if "signed" not in work:
            raise ChainWait(f"leg {leg.leg_id}: waiting for the wallet's signature "
                            f"(the unsigned transaction is on the position)", pending=False)
        signed = bytes.fromhex(work["signed"])
    else:
        if live.custody is None:
            raise LiveRefused("managed signing needs MASTER_KEY_FILE")
        witnesses = live.custody().sign(int(order["account"]), tx, required)
        signed = merge_witnesses(tx, witnesses)
    problems = signature_problems(signed, required)
    if problems or body_hash(signed) != body_hash(tx):
        raise LiveRefused("the signatures do not cover the transaction: "
                          + "; ".join(problems or ["its body changed"]))
    return signed


def attach_witnesses(db: Database, position_id: str, leg_id: str, witness_set: bytes) -> str:
    """A wallet position's witnesses for its pending leg (CIP-30 `signTx`'s answer): merged
    without re-encoding the body, checked, kept for the flow to send. Returns the tx id;
    raises WitnessError naming what is wrong (nothing is kept then)."""
    doc = store.read(db, position_id)
    if doc is None:
        raise store.PositionNotFound(f"no position {position_id}")
    if doc["order"].get("signing") != WALLET:
        raise WitnessError("this position is signed by its managed account, not a wallet")
    work = doc.get("work", {}).get(leg_id)
    if not work or "tx" not in work:
        raise WitnessError(f"leg {leg_id} has no transaction waiting for a signature")
    tx = bytes.fromhex(work["tx"])
    signed = merge_witnesses(tx, witness_set)
    problems = signature_problems(signed, signers_of(tx, str(doc["order"]["owner"])))
    if problems:
        raise WitnessError("; ".join(problems))
    db[store.COLLECTION].update_one({"_id": position_id, f"work.{leg_id}.tx": work["tx"]},
                                    {"$set": {f"work.{leg_id}.signed": signed.hex(),
                                              "pending": True}})
    return body_hash(tx).hex()


def unsigned_legs(doc: Mapping[str, Any]) -> list[dict[str, str]]:
    """The built transactions of a wallet position still waiting for a signature."""
    found = []
    for leg_id, work in sorted((doc.get("work") or {}).items()):
        if isinstance(work, Mapping) and "tx" in work and "signed" not in work \
                and _leg_state(doc, leg_id) == LegState.BUILT.value:
            found.append({"leg": leg_id, "tx_id": body_hash(bytes.fromhex(work["tx"])).hex(),
                          "tx": work["tx"]})
    return found


def _leg_state(doc: Mapping[str, Any], leg_id: str) -> str | None:
    leg = (doc.get("legs") or {}).get(leg_id)
    return leg.get("state") if isinstance(leg, Mapping) else None


def send(live: LiveChain, db: Database, doc: Mapping[str, Any], leg: Leg,
         signed: bytes) -> str | None:
    """Note the transaction as ours, then hand it to the node. None when it went (or may
    have gone before); the node's reason when a first send was refused."""
    work = doc["work"][leg.leg_id]
    tx_id = body_hash(signed).hex()
    first = own_txs.record_submitted(db, tx_id, f"{doc['_id']}/{leg.leg_id}",
                                     order_ref=work.get("order_ref"),
                                     receiver=work.get("receiver") if work.get("order_ref")
                                     else None)
    try:
        live.submit(signed)
    except SubmitRefused as refused:
        if first:
            own_txs.forget(db, tx_id)  # refused, never sent: not ours to watch
            return refused.reason
        log.info("leg %s: the node refused a resend of %s (%s); the chain decides",
                 leg.leg_id, tx_id, refused.reason)
    own_txs.note_sent(db, tx_id, now_ms())
    if live.exit_after_submit and first:  # tests: die as a kill would, the send not
        log.warning("TEST_EXIT_AFTER_SUBMIT: exiting after sending %s", tx_id)  # recorded
        logging.shutdown()
        os._exit(71)
    return None


# --- judged --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Judged:
    move: str  # confirm | fail | resend
    why: str
    confirmations: int = 0
    paid: Mapping[str, int] | None = None  # an order's fill: what it paid the receiver
    fill_tx: str | None = None


def judge_leg(live: LiveChain, db: Database, doc: Mapping[str, Any], leg: Leg) -> Judged:
    """The leg's move from the chain as stored; ChainWait while it waits (a transaction
    not on chain yet is sent again only when a rollback removed it or it waited too long
    in the node's mempool)."""
    work = doc["work"][leg.leg_id]
    tx_id = leg.tx_id or ""
    verdict = chain_verdict(db, tx_id, ttl=work.get("ttl"), inputs=work.get("inputs", []),
                            needed=live.confirmations)
    if verdict.move == "wait":
        raise ChainWait(f"leg {leg.leg_id}: {verdict.why}")
    if verdict.move == "fail":
        own_txs.given_up(db, tx_id)
        return Judged("fail", verdict.why)
    if verdict.move == "resubmit":
        if not own_txs.resend_due(db, tx_id, now_ms(), live.resend_after_ms):
            raise ChainWait(f"leg {leg.leg_id}: sent, waiting for a block to take it")
        return Judged("resend", verdict.why)
    if not work.get("order_ref"):
        return Judged("confirm", verdict.why, verdict.confirmations)
    settled = own_txs.settlement(db, tx_id)
    if settled is None:
        raise ChainWait(f"leg {leg.leg_id}: its order is on chain ({verdict.why}), "
                        f"waiting for the batcher's fill")
    return Judged("confirm", verdict.why, verdict.confirmations, settled["paid"],
                  settled["tx_id"])


def received(judged: Judged, unit: str | None, deposit: int) -> int:
    """What an order's fill paid of `unit`, less the order's deposit that came back with
    it (lovelace)."""
    paid = (judged.paid or {}).get(unit or "", 0)
    if unit == "lovelace":
        paid = max(0, paid - deposit)
    return paid


def chain_actual(leg: Leg, judged: Judged, base: Actual, work: Mapping[str, Any]) -> Actual:
    """The paper-style figures of `base` with what the chain showed: the network fee the
    transaction paid and, for an order, what its fill really delivered."""
    tx = decode_transaction(bytes.fromhex(work["tx"]))
    actual = replace(base, tx_id=leg.tx_id or base.tx_id, network_fee=tx.fee or 0)
    if judged.paid is None or leg.asset_out is None:
        return actual
    got = received(judged, leg.asset_out, int(work.get("deposit", "0")))
    if leg.kind is LegKind.REPAY:  # a release is at most the collateral the loan held
        got = min(got, base.amount_out)
    if got < leg.amount_out and leg.kind is LegKind.SWAP:
        log.warning("leg %s: the fill %s paid %s, below the order's minimum %s", leg.leg_id,
                    judged.fill_tx, got, leg.amount_out)
    return replace(actual, amount_out=got)


# --- confirmed, then rolled back -------------------------------------------------------------

def confirmed_in_order(position: Position) -> list[Leg]:
    """The position's confirmed legs, in the order they were confirmed (each later leg was
    built on the chain the earlier ones left)."""
    found: list[Leg] = []
    for entry in position.history:
        leg = entry.event.leg
        if leg is not None and leg.state is LegState.CONFIRMED:
            found.append(position.legs.get(leg.leg_id, leg))
    return found


def reconcile_confirmed(live: LiveChain, db: Database, doc: Mapping[str, Any],
                        confirmed: list[Leg]) -> None:
    """A rollback deeper than LIVE_CONFIRMATIONS took confirmed legs' transactions off the
    chain (or an order's fill): nothing new is sent until each is back, the first first
    (the later ones spend what it made), its fill too. The same signed transaction is
    sent again while it is valid; one that can no longer land is put on the position as
    a chain alert (its figures do not hold, and only an operator moves it on). Raises
    ChainWait saying why the position waits; returns when every confirmed leg is on
    chain (clearing any alert). NodeUnavailable: the node could not be reached."""
    works = doc.get("work") or {}
    sent = {leg.tx_id: leg for leg in confirmed
            if leg.tx_id and "signed" in (works.get(leg.leg_id) or {})}
    gone = own_txs.off_chain(db, list(sent)) if sent else set()
    for leg in confirmed:
        work = works.get(leg.leg_id) or {}
        if leg.tx_id not in sent:
            continue
        if leg.tx_id in gone:
            _bring_back(live, db, doc, leg, work)
        if work.get("order_ref"):
            _refilled(db, doc, leg, work)
    if doc.get("chain_alerts"):
        store.clear_chain_alerts(db, str(doc["_id"]))


def _refilled(db: Database, doc: Mapping[str, Any], leg: Leg, work: Mapping[str, Any]) -> None:
    """A confirmed order leg's fill as the chain has it now: waits (ChainWait) while a
    rollback left the order unfilled; a new fill is kept on the leg, and one that paid
    other than what was booked is a chain alert (the booked figures stand)."""
    settled = own_txs.settlement(db, leg.tx_id or "")
    if settled is None:
        raise ChainWait(f"leg {leg.leg_id}: rolled back after it was confirmed; its order "
                        f"is on chain again, waiting for the batcher's fill")
    if settled["tx_id"] == work.get("fill_tx"):
        return
    got = received(Judged("confirm", "", paid=settled["paid"]), leg.asset_out,
                   int(work.get("deposit", "0")))
    booked = leg.actual.amount_out if leg.actual is not None else 0
    if leg.kind is LegKind.REPAY:
        got = min(got, booked)
    position_id = str(doc["_id"])
    store.set_fill(db, position_id, leg.leg_id, settled["tx_id"])
    if got != booked:
        why = (f"leg {leg.leg_id} was confirmed, then rolled back, and filled again by "
               f"{settled['tx_id']} paying {got} {leg.asset_out}, not the {booked} booked")
        log.error("position %s: %s", position_id, why)
        store.set_chain_alert(db, position_id, leg.leg_id, why)
        raise ChainWait(why, pending=False)


def _bring_back(live: LiveChain, db: Database, doc: Mapping[str, Any], leg: Leg,
                work: Mapping[str, Any]) -> None:
    """Raises ChainWait: why the confirmed leg is not back yet."""
    tx_id = leg.tx_id or ""
    verdict = chain_verdict(db, tx_id, ttl=work.get("ttl"), inputs=work.get("inputs", []))
    if verdict.move == "fail":
        why = (f"leg {leg.leg_id} was confirmed, then rolled back, and cannot land again: "
               f"{verdict.why}; the position's figures do not hold until an operator "
               f"resolves it")
        log.error("position %s: %s", doc["_id"], why)
        store.set_chain_alert(db, str(doc["_id"]), leg.leg_id, why)
        own_txs.given_up(db, tx_id)
        raise ChainWait(why, pending=False)
    if verdict.move == "resubmit" and own_txs.resend_due(db, tx_id, now_ms(),
                                                         live.resend_after_ms):
        what = resend(live, db, tx_id, work["signed"], now_ms())
        log.info("leg %s: rolled back after it was confirmed; sent %s again (%s)", leg.leg_id,
                 tx_id, what)
        raise ChainWait(f"leg {leg.leg_id}: rolled back after it was confirmed: sent again")
    if verdict.move == "resubmit":
        raise ChainWait(f"leg {leg.leg_id}: rolled back after it was confirmed: sent again, "
                        f"waiting for a block to take it")
    raise ChainWait(f"leg {leg.leg_id}: rolled back after it was confirmed: {verdict.why}")


def resend(live: LiveChain, db: Database, tx_id: str, signed_hex: str, now: int) -> str:
    """The same signed transaction sent to the node again, its send noted whatever the
    node answered (a refusal may mean it is on its way: the chain decides). Returns what
    happened; NodeUnavailable: the node could not be reached, nothing noted."""
    try:
        live.submit(bytes.fromhex(signed_hex))
        what = "sent again"
    except SubmitRefused as refused:
        what = f"the node refused a resend ({refused.reason})"
    own_txs.note_sent(db, tx_id, now)
    return what


def now_ms() -> int:
    return int(time.time() * 1000)


def is_live(doc: Mapping[str, Any]) -> bool:
    return doc.get("paper") is False


def failed(leg: Leg) -> Leg:
    return move(leg, LegState.FAILED)
