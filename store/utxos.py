"""UTxOs of the watchers, the Kupo way: each with the slot it was created and spent at
(`spent_slot` -1 while unspent), so a rollback to slot P deletes what was created after P
and un-spends what was spent after P — exactly, and as often as it is replayed."""
from __future__ import annotations

from typing import Any, Iterable, Protocol

from pymongo import UpdateMany, UpdateOne
from pymongo.database import Database

from store.codec import decode_u64, encode_u64

COLLECTION = "watcher_utxos"
UNSPENT = -1


class Output(Protocol):
    @property
    def address(self) -> str: ...
    @property
    def lovelace(self) -> int: ...
    @property
    def assets(self) -> dict[tuple[bytes, bytes], int]: ...
    @property
    def datum_hash(self) -> bytes | None: ...
    @property
    def inline_datum(self) -> bytes | None: ...
    @property
    def script_ref(self) -> bytes | None: ...


class CreatedUtxo(Protocol):
    """What a block created for a watcher (indexer/effects.py makes them; store/ only
    needs their shape, so it does not import the indexer)."""

    @property
    def ref(self) -> str: ...
    @property
    def tx_id(self) -> str: ...
    @property
    def out(self) -> Output: ...
    @property
    def datum(self) -> dict[str, Any] | None: ...


def _doc_id(watcher: str, ref: str) -> str:
    return f"{watcher}:{ref}"


def created_doc(watcher: str, utxo: CreatedUtxo, slot: int, height: int) -> dict[str, Any]:
    out = utxo.out
    doc: dict[str, Any] = {
        "watcher": watcher, "ref": utxo.ref, "address": out.address,
        "lovelace": encode_u64(out.lovelace),
        "assets": [{"policy": p.hex(), "name": n.hex(), "qty": encode_u64(q)}
                   for (p, n), q in sorted(out.assets.items())],
        "created_slot": slot, "created_height": height, "created_tx": utxo.tx_id,
    }
    if out.datum_hash is not None:
        doc["datum_hash"] = out.datum_hash.hex()
    if out.inline_datum is not None:
        doc["inline_datum"] = out.inline_datum
    if out.script_ref is not None:
        doc["script_ref"] = out.script_ref
    if utxo.datum is not None:
        doc["datum"] = utxo.datum
    return doc


def create(db: Database, watcher: str, utxos: Iterable[CreatedUtxo], slot: int,
           height: int) -> None:
    """One round trip for all of a block's new outputs."""
    # $setOnInsert for the spend: re-applying a block must not un-spend an output a
    # later transaction already spent.
    ops = [UpdateOne({"_id": _doc_id(watcher, utxo.ref)},
                     {"$set": created_doc(watcher, utxo, slot, height),
                      "$setOnInsert": {"spent_slot": UNSPENT}}, upsert=True)
           for utxo in utxos]
    if ops:
        db[COLLECTION].bulk_write(ops, ordered=True)


def spend_all(db: Database, watcher: str, spends: list[tuple[str, list[str]]], slot: int,
              height: int) -> None:
    """One round trip for all of a block's spends: (spending tx id, refs) per tx."""
    ops = [UpdateMany({"_id": {"$in": [_doc_id(watcher, r) for r in refs]},
                       "spent_slot": UNSPENT},
                      {"$set": {"spent_slot": slot, "spent_height": height, "spent_tx": tx_id}})
           for tx_id, refs in spends if refs]
    if ops:
        db[COLLECTION].bulk_write(ops, ordered=True)


def held(db: Database, watcher: str, refs: list[str]) -> set[str]:
    """Which of `refs` this watcher has unspent (one query per block)."""
    if not refs:
        return set()
    found = db[COLLECTION].find({"_id": {"$in": [_doc_id(watcher, r) for r in refs]},
                                 "spent_slot": UNSPENT}, {"ref": 1})
    return {doc["ref"] for doc in found}


def unspent_refs(db: Database, watcher: str) -> set[str]:
    """Every ref this watcher has unspent (one query; the block pipeline keeps the set in
    memory while it applies a batch)."""
    return {doc["ref"] for doc in db[COLLECTION].find({"watcher": watcher,
                                                       "spent_slot": UNSPENT}, {"ref": 1})}


def rollback(db: Database, watcher: str, slot: int) -> None:
    """Undo everything after `slot` (-1: origin). Idempotent."""
    db[COLLECTION].delete_many({"watcher": watcher, "created_slot": {"$gt": slot}})
    db[COLLECTION].update_many({"watcher": watcher, "spent_slot": {"$gt": slot}},
                               {"$set": {"spent_slot": UNSPENT},
                                "$unset": {"spent_height": "", "spent_tx": ""}})


def prune_spent(db: Database, watcher: str, spent_below_height: int) -> int:
    """Delete this watcher's UTxOs spent in a block lower than `spent_below_height`; the
    caller picks a height no rollback can reach (indexer/compaction.py). Returns how many."""
    if spent_below_height <= 0:
        return 0
    # `spent_slot > -1` is the spent ones; a document without `spent_height` never matches.
    return db[COLLECTION].delete_many({"watcher": watcher, "spent_slot": {"$gt": UNSPENT},
                                       "spent_height": {"$lt": spent_below_height}}
                                      ).deleted_count


def unspent(db: Database, watchers: list[str] | None = None,
            addresses: list[str] | None = None) -> list[dict[str, Any]]:
    """Current unspent UTxOs as operators see them, sorted by reference."""
    query: dict[str, Any] = {"spent_slot": UNSPENT}
    if watchers:
        query["watcher"] = {"$in": watchers}
    if addresses:
        query["address"] = {"$in": addresses}
    seen: dict[str, dict[str, Any]] = {}
    for doc in db[COLLECTION].find(query):
        seen.setdefault(doc["ref"], {
            "ref": doc["ref"], "address": doc["address"],
            "lovelace": decode_u64(doc["lovelace"]),
            "assets": {f"{a['policy']}.{a['name']}": decode_u64(a["qty"])
                       for a in doc["assets"]},
            "datum_hash": doc.get("datum_hash"),
            "inline_datum": bytes(doc["inline_datum"]).hex() if "inline_datum" in doc else None,
            "created_slot": doc["created_slot"],
        })
    return [seen[ref] for ref in sorted(seen)]


# --- one watcher's UTxOs read back whole (for readers of a venue's chain state) --------

def _decoded(doc: dict[str, Any]) -> dict[str, Any]:
    spent = doc.get("spent_slot", UNSPENT)
    return {
        "ref": doc["ref"], "address": doc["address"],
        "lovelace": decode_u64(doc["lovelace"]),
        "assets": {(a["policy"], a["name"]): decode_u64(a["qty"]) for a in doc["assets"]},
        "datum_hash": doc.get("datum_hash"),
        "inline_datum": bytes(doc["inline_datum"]) if "inline_datum" in doc else None,
        "created_slot": doc["created_slot"], "created_tx": doc.get("created_tx"),
        "spent_slot": None if spent == UNSPENT else spent,
        "spent_tx": doc.get("spent_tx") if spent != UNSPENT else None,
    }


def read_one(db: Database, watcher: str, ref: str) -> dict[str, Any] | None:
    """One of the watcher's UTxOs, spent or not (spent ones stay until pruned)."""
    doc = db[COLLECTION].find_one({"_id": _doc_id(watcher, ref)})
    return None if doc is None else _decoded(doc)


def unspent_of(db: Database, watcher: str, policy: str | None = None) -> list[dict[str, Any]]:
    """The watcher's unspent UTxOs (holding a token of `policy`, when given), by ref."""
    query: dict[str, Any] = {"watcher": watcher, "spent_slot": UNSPENT}
    if policy is not None:
        query["assets"] = {"$elemMatch": {"policy": policy}}  # storage rule 4
    return sorted((_decoded(d) for d in db[COLLECTION].find(query)), key=_ref_order)


def created_by(db: Database, watcher: str, tx_id: str) -> list[dict[str, Any]]:
    """The watcher's UTxOs that transaction `tx_id` created, spent or not, by ref."""
    return sorted((_decoded(d) for d in db[COLLECTION].find({"watcher": watcher,
                                                             "created_tx": tx_id})),
                  key=_ref_order)


def spent_by(db: Database, watcher: str, tx_id: str) -> list[dict[str, Any]]:
    """The watcher's UTxOs that transaction `tx_id` spent (until pruned), by ref."""
    return sorted((_decoded(d) for d in db[COLLECTION].find({"watcher": watcher,
                                                             "spent_tx": tx_id})),
                  key=_ref_order)


def _ref_order(doc: dict[str, Any]) -> tuple[str, int]:
    tx_id, _, index = doc["ref"].partition("#")
    return tx_id, int(index) if index.isdigit() else -1
