"""The reference state of the block pipeline, written apart from it.

A plain fold over the blocks of the surviving chain, from the ledger rules rather than
from indexer/ or store/utxos.py (it imports neither, and
tests/unit/test_reference.py checks it stays that way). It builds exactly the
documents `tests.support.pipeline.snapshot` reads back from MongoDB, so the pipeline's
result can be compared with it document by document.

Ledger rules followed (Shelley to Conway; Byron has no scripts, so every Byron tx is valid):

- A valid tx consumes its inputs (never its reference inputs) and creates its outputs
  `txid#0..n-1`.
- A tx marked invalid in its block (phase-2 failure, Alonzo+) consumes only its
  collateral inputs and creates only its collateral return, if it has one, at index
  `n` = the number of its regular outputs (Babbage `collOuts`); its regular outputs never
  exist.
- Txs apply in block order: a tx may spend an output of an earlier tx of the same block.
- A UTxO watcher holds an output when the output's whole address is watched, or its
  payment credential is (CIP-19 header types 0-7), or it holds a token of a watched policy.
- The datum of an output: its inline datum, else the datum whose blake2b-256 is the
  output's datum hash among the datums the creating tx carries in its witness set.
- An own tx is on chain at the first block of the chain that includes it: "seen" when
  valid, "failed" when its scripts failed (it is on chain, but only its collateral went).
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from chain.ledger import Block, Tx, TxOut
from protocols.base import UtxoWatcher, Watch
from store.codec import encode_u64

#: The collections `snapshot()` reads; spelled out here rather than imported from store/.
UTXO_COLLECTION = "watcher_utxos"
OWN_TX_COLLECTION = "own_txs"
UNSPENT = -1  # spent_slot of an unspent output; seen_slot of an unseen own tx

OutputRef = tuple[bytes, int]  # (tx id, output index)


def blake2b_256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def ledger_effect(tx: Tx) -> tuple[list[OutputRef], list[tuple[int, TxOut]]]:
    """What the ledger does with a tx included in a block: (inputs consumed, outputs
    created with their index)."""
    if tx.valid:
        return list(tx.inputs), list(enumerate(tx.outputs))
    created = [] if tx.collateral_return is None else [(len(tx.outputs), tx.collateral_return)]
    return list(tx.collateral), created


def payment_credential(address: bytes) -> bytes | None:
    """CIP-19: header types 0-3 (base), 4-5 (pointer), 6-7 (enterprise) start with a
    28-byte payment credential; Byron (8) and reward (14-15) addresses have none."""
    if len(address) < 29 or address[0] >> 4 > 7:
        return None
    return address[1:29]


def holds(watch: Watch, out: TxOut) -> bool:
    if out.address_bytes in watch.addresses:
        return True
    if payment_credential(out.address_bytes) in watch.credentials:
        return True
    return any(policy in watch.policies for policy, _name in out.assets)


def datum_of(tx: Tx, out: TxOut) -> bytes | None:
    if out.inline_datum is not None:
        return out.inline_datum
    if out.datum_hash is None:
        return None
    # Hash the witness datums here rather than trust the decoder's keys.
    by_hash = {blake2b_256(datum): datum for datum in tx.datums.values()}
    return by_hash.get(out.datum_hash)


def output_doc(watcher: UtxoWatcher, ref: str, tx_id: str, tx: Tx, out: TxOut,
               block: Block) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": f"{watcher.name}:{ref}", "watcher": watcher.name, "ref": ref,
        "address": out.address, "lovelace": encode_u64(out.lovelace),
        # One order for the stored list, whatever order the tx's CBOR map had:
        # policy id, then asset name, bytewise.
        "assets": [{"policy": policy.hex(), "name": name.hex(), "qty": encode_u64(qty)}
                   for (policy, name), qty in sorted(out.assets.items())],
        "created_slot": block.slot, "created_height": block.height, "created_tx": tx_id,
        "spent_slot": UNSPENT,
    }
    if out.datum_hash is not None:
        doc["datum_hash"] = out.datum_hash.hex()
    if out.inline_datum is not None:
        doc["inline_datum"] = out.inline_datum
    if out.script_ref is not None:
        doc["script_ref"] = out.script_ref
    datum = datum_of(tx, out)
    reading = watcher.describe(ref, out, datum)
    if reading is not None:
        doc["datum"] = reading
    return doc


def reference_state(blocks: Sequence[Block], watchers: Mapping[str, Any],
                    submitted: Sequence[str] = (),
                    purpose: str = "test") -> dict[str, list[dict[str, Any]]]:
    """The documents the pipeline must end with after applying `blocks` (the surviving
    chain, oldest first) to `watchers`, with `submitted` recorded as our own txs."""
    utxo_watchers = [w for _, w in sorted(watchers.items()) if isinstance(w, UtxoWatcher)]
    follows_own_txs = any(getattr(w, "kind", None) == "own-txs" for w in watchers.values())
    held: dict[str, dict[str, dict[str, Any]]] = {w.name: {} for w in utxo_watchers}
    ours = set(submitted)
    seen: dict[str, Block] = {}
    failed: set[str] = set()  # ours whose scripts failed: only the collateral went
    previous: Block | None = None
    for block in blocks:
        # A "surviving chain" that is not one would make the whole comparison meaningless.
        assert previous is None or block.prev_hash == previous.hash, \
            f"block at slot {block.slot} does not follow the block at slot {previous.slot}"
        previous = block
        for tx in block.txs:
            tx_id = blake2b_256(tx.body_raw).hex()
            assert tx_id == tx.id.hex(), "tx id is not blake2b-256 of the body"
            consumed, created = ledger_effect(tx)
            for watcher in utxo_watchers:
                docs = held[watcher.name]
                for spent_tx, spent_ix in consumed:
                    doc = docs.get(f"{spent_tx.hex()}#{spent_ix}")
                    if doc is None:
                        continue  # not an output this watcher holds
                    assert doc["spent_slot"] == UNSPENT, f"{doc['_id']} spent twice"
                    doc.update(spent_slot=block.slot, spent_height=block.height,
                               spent_tx=tx_id)
                for index, out in created:
                    if holds(watcher.watch, out):
                        ref = f"{tx_id}#{index}"
                        assert ref not in docs, f"{ref} created twice"
                        docs[ref] = output_doc(watcher, ref, tx_id, tx, out, block)
            if follows_own_txs and tx_id in ours and tx_id not in seen:
                seen[tx_id] = block
                if not tx.valid:
                    failed.add(tx_id)
    utxo_docs = [doc for docs in held.values() for doc in docs.values()]
    own_docs = [_own_tx_doc(tx_id, purpose, seen.get(tx_id), tx_id in failed) for tx_id in ours]
    return {UTXO_COLLECTION: sorted(utxo_docs, key=lambda d: d["_id"]),
            OWN_TX_COLLECTION: sorted(own_docs, key=lambda d: d["_id"])}


def _own_tx_doc(tx_id: str, purpose: str, block: Block | None,
                failed: bool) -> dict[str, Any]:
    """As snapshot() shows it (the submission time left out)."""
    if block is None:
        return {"_id": tx_id, "state": "submitted", "purpose": purpose, "seen_slot": UNSPENT}
    return {"_id": tx_id, "state": "failed" if failed else "seen", "purpose": purpose,
            "seen_slot": block.slot,
            "seen_height": block.height, "seen_block": block.hash.hex()}
