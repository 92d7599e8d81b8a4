"""Our own submitted transactions: submitted, then on chain at a slot — "seen" when it did
what it was built for, "failed" when its scripts failed and only its collateral was taken
(phase-2 failure: on chain, but nothing else happened). A rollback past that slot
re-opens them (they may land again, or need resubmitting).

A transaction that places an order (a DEX swap, a batched venue order) names its order
output (`order_ref`) and who the order pays (`receiver`): the block that spends that
output settles it, and what that transaction paid the receiver is kept (`settled_paid`,
by unit, quantities as strings) — the amount a swap really delivered. A rollback past
the settlement re-opens it too."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pymongo.database import Database

from store.codec import encode_time

COLLECTION = "own_txs"
NOT_SEEN = -1


def record_submitted(db: Database, tx_id: str, purpose: str, *,
                     order_ref: str | None = None, receiver: str | None = None) -> bool:
    """Note `tx_id` as ours before it is sent; False when it was noted before (an earlier
    try may have sent it)."""
    fields: dict[str, Any] = {"state": "submitted", "purpose": purpose,
                              "seen_slot": NOT_SEEN,
                              "submitted_ms": encode_time(datetime.now(timezone.utc))}
    if order_ref is not None:
        fields.update(order_ref=order_ref, receiver=receiver, settled_slot=NOT_SEEN)
    result = db[COLLECTION].update_one({"_id": tx_id}, {"$setOnInsert": fields}, upsert=True)
    return result.upserted_id is not None


def mark_seen(db: Database, tx_ids: list[str], slot: int, height: int, block: str,
              failed: frozenset[str] = frozenset()) -> int:
    """Our txs among `tx_ids` are on chain in this block; those in `failed` only took
    their collateral."""
    changed = 0
    for state, ids in (("seen", [t for t in tx_ids if t not in failed]),
                       ("failed", [t for t in tx_ids if t in failed])):
        if ids:
            changed += db[COLLECTION].update_many(
                {"_id": {"$in": ids}, "seen_slot": NOT_SEEN},
                {"$set": {"state": state, "seen_slot": slot, "seen_height": height,
                          "seen_block": block}}).modified_count
    return changed


def rollback(db: Database, slot: int) -> int:
    reopened = db[COLLECTION].update_many(
        {"settled_slot": {"$gt": slot}},
        {"$set": {"settled_slot": NOT_SEEN},
         "$unset": {"settled_tx": "", "settled_height": "", "settled_paid": ""}}).modified_count
    # `rolled_back`: the node may have dropped it with its block, so it is sent again.
    return reopened + db[COLLECTION].update_many(
        {"seen_slot": {"$gt": slot}},
        {"$set": {"state": "submitted", "seen_slot": NOT_SEEN, "rolled_back": True},
         "$unset": {"seen_height": "", "seen_block": ""}}).modified_count


def note_sent(db: Database, tx_id: str, now_ms: int) -> None:
    """The node took (or was handed) `tx_id` at `now_ms`."""
    db[COLLECTION].update_one({"_id": tx_id},
                              {"$set": {"sent_ms": now_ms, "rolled_back": False}})


def resend_due(db: Database, tx_id: str, now_ms: int, after_ms: int) -> bool:
    """Whether a transaction not on chain should be sent again: a rollback removed it
    since it was last sent, or the node has had it for `after_ms` without a block
    taking it (its mempool may have dropped it). Not while it may simply be waiting."""
    doc = db[COLLECTION].find_one({"_id": tx_id}, {"sent_ms": 1, "rolled_back": 1})
    if doc is None:
        return True
    return bool(doc.get("rolled_back")) or now_ms - int(doc.get("sent_ms", 0)) >= after_ms


def given_up(db: Database, tx_id: str) -> None:
    """A rolled-back transaction that cannot land again (its leg failed, or an alert
    says so): no longer one to send again."""
    db[COLLECTION].update_one({"_id": tx_id}, {"$set": {"rolled_back": False}})


def off_chain(db: Database, tx_ids: list[str]) -> set[str]:
    """Those of our `tx_ids` that are not on chain now (never seen, or rolled back)."""
    rows = db[COLLECTION].find({"_id": {"$in": list(tx_ids)}, "seen_slot": NOT_SEEN},
                               {"_id": 1})
    return {str(row["_id"]) for row in rows}


def rolled_back_purposes(db: Database) -> set[str]:
    """The purposes ("<position>/<leg>") of our transactions a rollback took off the chain
    and that have not been sent again since."""
    rows = db[COLLECTION].find({"rolled_back": True, "seen_slot": NOT_SEEN}, {"purpose": 1})
    return {str(row.get("purpose", "")) for row in rows}


def open_orders(db: Database) -> dict[str, str]:
    """Our orders not yet settled on chain: order ref -> the address it pays."""
    rows = db[COLLECTION].find({"settled_slot": NOT_SEEN}, {"order_ref": 1, "receiver": 1})
    return {str(r["order_ref"]): str(r["receiver"]) for r in rows if r.get("order_ref")}


def mark_settled(db: Database, order_ref: str, tx_id: str, slot: int, height: int,
                 paid: dict[str, int]) -> bool:
    """The order `order_ref` was spent by `tx_id`, which paid its receiver `paid`."""
    return db[COLLECTION].update_one(
        {"order_ref": order_ref, "settled_slot": NOT_SEEN},
        {"$set": {"settled_slot": slot, "settled_tx": tx_id, "settled_height": height,
                  "settled_paid": {unit: str(q) for unit, q in sorted(paid.items())}}}
    ).modified_count == 1


def settlement(db: Database, tx_id: str) -> dict[str, Any] | None:
    """How the order `tx_id` placed was settled: {tx_id, slot, height, paid (ints by
    unit)}, or None while it is not (or a rollback undid it)."""
    doc = db[COLLECTION].find_one({"_id": tx_id})
    if doc is None or doc.get("settled_slot", NOT_SEEN) == NOT_SEEN:
        return None
    return {"tx_id": doc["settled_tx"], "slot": doc["settled_slot"],
            "height": doc["settled_height"],
            "paid": {unit: int(q) for unit, q in (doc.get("settled_paid") or {}).items()}}


def status(db: Database, tx_id: str, tip_height: int) -> dict[str, Any] | None:
    doc = db[COLLECTION].find_one({"_id": tx_id})
    if doc is None:
        return None
    seen = doc["seen_slot"] != NOT_SEEN
    return {"tx_id": tx_id, "state": doc["state"], "seen_slot": doc["seen_slot"] if seen else None,
            "confirmations": tip_height - doc["seen_height"] + 1 if seen else 0}


def exists(db: Database, tx_id: str) -> bool:
    """Whether `tx_id` is one of ours (submitted by this system)."""
    return db[COLLECTION].find_one({"_id": tx_id}, {"_id": 1}) is not None


def forget(db: Database, tx_id: str) -> None:
    """A transaction the node refused the first time it was sent: never on chain."""
    db[COLLECTION].delete_one({"_id": tx_id, "seen_slot": NOT_SEEN})
