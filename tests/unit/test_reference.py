"""The pipeline tests' reference (tests/support/reference.py) is right on its own: crafted
blocks with invalid txs, same-block spends, datums by hash and out-of-order multi-asset
maps give the documents the ledger rules say; a recorded output and its spend appear
where the raw chain has them; and the fold does not lean on the code it checks."""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT, settings_from_mapping
from store.codec import encode_u64
from protocols import demo as demo_venue
from tests.support.crafted import (DATUM_C1_INDEFINITE, OTHER_POLICY, SCRIPT_REF,
                                   UNKNOWN_DATUM_HASH, demo_chain)
from tests.support.pipeline import watchers
from tests.support.reference import reference_state
from tests.support.simulator import preprod_chain

ENV = {"CARDANO_NETWORK": "preprod", "WATCH_ADDRESSES": demo_venue.WALLET,
       "VENUE_MODULES": "protocols.demo"}
SCRIPT_ADDRESS = "addr_test1wpu365zw7petuyvhng78y2l3534g4ammuuexldu5nkjf0sgz5xu88"
POLICY = demo_venue.POLICY.hex()


@pytest.fixture(scope="module")
def active() -> dict:
    return watchers(settings_from_mapping(ENV))


@pytest.fixture(scope="module")
def crafted():
    return demo_chain(preprod_chain(3))


def by_id(docs: list[dict]) -> dict[str, dict]:
    return {d["_id"]: d for d in docs}


def test_crafted_chain_follows_the_ledger_rules(active, crafted):
    chain = crafted
    b0, b1, b2 = chain.blocks
    ours = [chain.id("B"), chain.id("C"), chain.id("E"), "99" * 32]
    state = reference_state(chain.blocks, active, ours)
    docs = by_id(state["watcher_utxos"])
    script = {ref.split(":", 1)[1] for ref in docs if ref.startswith("demo-script:")}

    # A valid tx creates its watched outputs; the stake part alone does not make A#5 ours.
    assert script == {chain.ref("A", i) for i in (0, 1, 3, 4)} | {chain.ref("D", 0)}
    assert docs["demo-script:" + chain.ref("A", 0)] == {
        "_id": "demo-script:" + chain.ref("A", 0), "watcher": "demo-script",
        "ref": chain.ref("A", 0), "address": SCRIPT_ADDRESS, "lovelace": "00000000000003000000",
        "assets": [], "created_slot": b0.slot, "created_height": b0.height,
        "created_tx": chain.id("A"), "spent_slot": -1,  # a reference input spends nothing
        "inline_datum": bytes.fromhex("d879820102"), "script_ref": SCRIPT_REF,
        "datum": {"constructor": 0, "fields": 2}}
    # Datum by hash: read from the witness set over its original (indefinite) bytes...
    a1 = docs["demo-script:" + chain.ref("A", 1)]
    assert a1["datum"] == {"constructor": 1, "fields": 1} and "inline_datum" not in a1
    assert a1["datum_hash"] == hashlib.blake2b(DATUM_C1_INDEFINITE, digest_size=32).hexdigest()
    # ...and no reading when no tx showed the datum.
    a3 = docs["demo-script:" + chain.ref("A", 3)]
    assert a3["datum_hash"] == UNKNOWN_DATUM_HASH.hex() and "datum" not in a3

    # Spent in the block that created it.
    a4 = docs["demo-script:" + chain.ref("A", 4)]
    assert (a4["spent_slot"], a4["spent_height"], a4["spent_tx"]) == (b0.slot, b0.height,
                                                                      chain.id("B"))
    # The invalid tx C took its collateral A#1 and left its input A#2 alone.
    assert (a1["spent_slot"], a1["spent_tx"]) == (b1.slot, chain.id("C"))
    for name in ("wallets", "demo-policy"):
        assert docs[f"{name}:{chain.ref('A', 2)}"]["spent_slot"] == -1
    # C's regular outputs never existed; its collateral return is C#2 (after the 2 outputs),
    # spent by E in the next block.
    assert not any(chain.id("C") + "#0" in i or chain.id("C") + "#1" in i for i in docs)
    c2 = docs["wallets:" + chain.ref("C", 2)]
    assert (c2["created_slot"], c2["created_tx"], c2["lovelace"]) == (
        b1.slot, chain.id("C"), encode_u64(1_500_000))
    assert (c2["spent_slot"], c2["spent_height"], c2["spent_tx"]) == (b2.slot, b2.height,
                                                                      chain.id("E"))
    assert docs["demo-policy:" + chain.ref("C", 2)]["spent_tx"] == chain.id("E")
    # D#0 was created and taken as collateral by the invalid F in the same block; F's
    # regular output to the wallet never existed.
    d0 = docs["demo-script:" + chain.ref("D", 0)]
    assert (d0["created_slot"], d0["spent_slot"], d0["spent_tx"]) == (b1.slot, b1.slot,
                                                                      chain.id("F"))
    assert not any(chain.id("F") in i for i in docs)

    # Tokens in one order, policy then name, bytewise, whatever the CBOR maps said.
    assert docs["wallets:" + chain.ref("A", 2)]["assets"] == [
        {"policy": OTHER_POLICY.hex(), "name": b"aa".hex(), "qty": encode_u64(2)},
        {"policy": OTHER_POLICY.hex(), "name": b"b".hex(), "qty": encode_u64(1)},
        {"policy": POLICY, "name": "", "qty": encode_u64(4)},
        {"policy": POLICY, "name": b"z".hex(), "qty": encode_u64(3)}]
    assert sorted(i.split(":")[0] for i in docs if chain.ref("A", 2) in i) == [
        "demo-policy", "wallets"]

    # Our txs: seen where they landed; C is on chain too, but its scripts failed (only its
    # collateral went): "failed"; the unknown one not at all.
    own = by_id(state["own_txs"])
    assert own[chain.id("C")] == {"_id": chain.id("C"), "state": "failed", "purpose": "test",
                                  "seen_slot": b1.slot, "seen_height": b1.height,
                                  "seen_block": b1.hash.hex()}
    assert own[chain.id("B")]["seen_slot"] == b0.slot
    assert own[chain.id("E")]["seen_block"] == b2.hash.hex()
    assert own["99" * 32] == {"_id": "99" * 32, "state": "submitted", "purpose": "test",
                              "seen_slot": -1}


def test_recorded_output_and_its_spend(active):
    # Checked on the raw blocks with plain cbor2: block 52 of the chunk (slot 27757309)
    # has a tx whose output 2 pays 2 ADA to the demo script, and block 55 (slot 27757430)
    # lists 07e1d477...#2 first among the inputs of its tx bd471c6a...
    created = "07e1d477be21569d4b1303c49d435f3b6d710fc4d1cb2d6ff8838f5ecc42fe0c#2"
    spender = "bd471c6af6db1bf5fbd73728b1556aa7362bcd043139a1727df15b94a426eba0"
    chain = preprod_chain(60)
    before = by_id(reference_state(chain[:55], active)["watcher_utxos"])
    doc = before["demo-script:" + created]
    assert (doc["created_slot"], doc["created_height"], doc["spent_slot"]) == (
        27757309, 910464, -1)
    assert doc["address"] == SCRIPT_ADDRESS and doc["lovelace"] == encode_u64(2_000_000)
    after = by_id(reference_state(chain, active)["watcher_utxos"])
    assert {k: v for k, v in after["demo-script:" + created].items()
            if not k.startswith("spent")} == {k: v for k, v in doc.items()
                                              if not k.startswith("spent")}
    spent = after["demo-script:" + created]
    assert (spent["spent_slot"], spent["spent_height"], spent["spent_tx"]) == (
        27757430, 910467, spender)


def test_a_chain_that_does_not_link_is_refused(active):
    chain = preprod_chain(3)
    with pytest.raises(AssertionError, match="does not follow"):
        reference_state([chain[0], chain[2]], active)


def test_the_reference_does_not_use_the_code_it_checks():
    source = (Path(PROJECT_ROOT) / "tests" / "support" / "reference.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert not {m for m in imported if m.startswith("indexer") or m == "store.utxos"
                or m == "store.own_txs" or m.startswith("tests.support.pipeline")}
    assert imported <= {"__future__", "hashlib", "collections.abc", "typing", "chain.ledger",
                        "protocols.base", "store.codec"}
