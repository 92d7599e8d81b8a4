"""Crafted Babbage blocks for cases the recorded chain lacks: invalid (phase-2 failed)
transactions with a collateral return, outputs spent within the block that created them,
datum hashes with and without the datum in the witness set, multi-asset values whose CBOR
map is out of order.

A crafted block keeps the header of a real block (so hash, slot, height and the link to
the previous block are real) and gets a new body. Nothing checks the header's body hash
on the way to the watchers, so the block decodes and goes through the pipeline like any
other.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import cbor2

from chain.ledger import Block, decode_block

OutputRef = tuple[bytes, int]


def output(address: bytes, lovelace: int, assets: dict[bytes, dict[bytes, int]] | None = None,
           *, inline: bytes | None = None, datum_hash: bytes | None = None,
           script_ref: bytes | None = None) -> dict[int, Any]:
    """A post-Alonzo output map; `assets` keeps the order given (cbor2 writes dicts as is)."""
    out: dict[int, Any] = {0: address, 1: [lovelace, assets] if assets else lovelace}
    if inline is not None:
        out[2] = [1, cbor2.CBORTag(24, inline)]
    elif datum_hash is not None:
        out[2] = [0, datum_hash]
    if script_ref is not None:
        out[3] = cbor2.CBORTag(24, script_ref)
    return out


@dataclass
class CraftedTx:
    inputs: list[OutputRef]
    outputs: list[dict[int, Any]]
    datums: list[bytes] = field(default_factory=list)  # witness datums, raw CBOR
    valid: bool = True
    collateral: list[OutputRef] = field(default_factory=list)
    collateral_return: dict[int, Any] | None = None
    reference_inputs: list[OutputRef] = field(default_factory=list)

    def body(self) -> bytes:
        body: dict[int, Any] = {0: [list(i) for i in self.inputs], 1: self.outputs, 2: 200_000}
        if self.collateral:
            body[13] = [list(i) for i in self.collateral]
        if self.collateral_return is not None:
            body[16] = self.collateral_return
        if self.reference_inputs:
            body[18] = [list(i) for i in self.reference_inputs]
        return cbor2.dumps(body)

    @property
    def id(self) -> bytes:
        return hashlib.blake2b(self.body(), digest_size=32).digest()

    def witnesses(self) -> bytes:
        if not self.datums:
            return b"\xa0"
        return b"\xa1\x04" + _array(self.datums)  # {4: [plutus data]}


@dataclass
class RawTx:
    """A real signed transaction put in a crafted block byte for byte (body and witness set
    as they were signed), so its id and datums are the real ones."""

    body_raw: bytes
    witnesses_raw: bytes
    valid: bool = True

    @classmethod
    def from_signed(cls, data: bytes) -> "RawTx":
        from chain.ledger.cbor import Reader

        reader = Reader(data)
        spans, _ = reader.array_spans(0, "transaction")
        reader.release()
        (b0, b1), (w0, w1) = spans[0], spans[1]
        return cls(data[b0:b1], data[w0:w1])

    def body(self) -> bytes:
        return self.body_raw

    def witnesses(self) -> bytes:
        return self.witnesses_raw

    @property
    def id(self) -> bytes:
        return hashlib.blake2b(self.body_raw, digest_size=32).digest()


def _array(items: list[bytes]) -> bytes:
    """A definite CBOR array around already-encoded items (kept byte for byte)."""
    count = len(items)
    head = bytes([0x80 + count]) if count < 24 else bytes([0x98, count])
    return head + b"".join(items)


def craft_block(template: Block, txs: list[CraftedTx | RawTx]) -> Block:
    """`template`'s header over a body of `txs`."""
    assert template.era in ("babbage", "conway")
    invalid = [i for i, tx in enumerate(txs) if not tx.valid]
    raw = (b"\x85" + template.header_raw + _array([tx.body() for tx in txs])
           + _array([tx.witnesses() for tx in txs]) + b"\xa0" + cbor2.dumps(invalid))
    block = decode_block(bytes([0x82, template.block_tag]) + raw)
    assert (block.hash, block.slot, block.height) == (template.hash, template.slot,
                                                      template.height)
    return block


# --- a three-block chain for the demo watchers (protocols/demo.py) ----------

def blake2b_256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


#: Plutus data: constructor 0 with two fields, definite encoding.
DATUM_C0 = cbor2.dumps(cbor2.CBORTag(121, [1, 2]))
#: Constructor 1 with one field, as an indefinite-length list: re-encoding would change
#: these bytes and so their hash, which is what the output's datum hash names.
DATUM_C1_INDEFINITE = bytes.fromhex("d87a9f01ff")
#: A datum never shown in any witness set: its output has a hash and no reading.
UNKNOWN_DATUM_HASH = blake2b_256(bytes.fromhex("d87980"))
OTHER_POLICY = b"\x0a" * 28  # sorts before demo_venue.POLICY (0xdf...)
SCRIPT_REF = cbor2.dumps([2, b"\x01\x02\x03"])  # [plutus v1, script bytes]
FUNDS = [(bytes([0xee]) * 32, 0), (bytes([0xee]) * 32, 1)]  # outside every watcher


@dataclass
class DemoChain:
    blocks: list[Block]
    txs: dict[str, CraftedTx]  # by name: A, B (block 0); C, D, F (block 1); E (block 2)

    def id(self, name: str) -> str:
        return self.txs[name].id.hex()

    def ref(self, name: str, index: int) -> str:
        return f"{self.id(name)}#{index}"


def demo_chain(templates: list[Block]) -> DemoChain:
    """Three crafted blocks on the headers of three consecutive real Babbage blocks.

    block 0  A: outputs 0 script (inline datum, script ref), 1 script base address (datum
                hash, datum in the witness set, indefinite encoding), 2 wallet (tokens of
                two policies, CBOR maps out of order), 3 script (datum hash, no datum
                anywhere), 4 script, 5 a base address with the script only as stake part
             B: spends A#4 (created in the same block)
    block 1  C: INVALID: inputs A#2, collateral A#1, two regular outputs, collateral return
                to the wallet with a demo-policy token (C#2)
             D: spends A#3, reads A#0 as a reference input, creates a script output D#0
             F: INVALID, no collateral return: collateral D#0 (same block), output to wallet
    block 2  E: spends C#2 (the collateral return)
    """
    from pycardano import Address

    from protocols import demo as demo_venue

    script = bytes([0x70]) + demo_venue.SCRIPT_CREDENTIAL  # enterprise, script, testnet
    script_base = bytes([0x10]) + demo_venue.SCRIPT_CREDENTIAL + b"\x02" * 28
    stake_only = bytes([0x00]) + b"\x03" * 28 + demo_venue.SCRIPT_CREDENTIAL
    wallet = bytes(Address.from_primitive(demo_venue.WALLET).to_primitive())
    other = bytes([0x60]) + b"\x04" * 28

    a = CraftedTx([FUNDS[0]], [
        output(script, 3_000_000, inline=DATUM_C0, script_ref=SCRIPT_REF),
        output(script_base, 2_000_000, datum_hash=blake2b_256(DATUM_C1_INDEFINITE)),
        output(wallet, 5_000_000, {demo_venue.POLICY: {b"z": 3, b"": 4},
                                   OTHER_POLICY: {b"b": 1, b"aa": 2}}),
        output(script, 2_000_000, datum_hash=UNKNOWN_DATUM_HASH),
        output(script, 2_000_000),
        output(stake_only, 1_000_000),
    ], datums=[DATUM_C1_INDEFINITE])
    b = CraftedTx([(a.id, 4)], [output(other, 1_800_000)])
    c = CraftedTx([(a.id, 2)], [output(script, 9_000_000), output(wallet, 1_000_000)],
                  valid=False, collateral=[(a.id, 1)],
                  collateral_return=output(wallet, 1_500_000, {demo_venue.POLICY: {b"c": 1}}))
    d = CraftedTx([(a.id, 3)], [output(script, 1_700_000, inline=DATUM_C1_INDEFINITE)],
                  reference_inputs=[(a.id, 0)])
    f = CraftedTx([FUNDS[1]], [output(wallet, 1_000_000)], valid=False,
                  collateral=[(d.id, 0)])
    e = CraftedTx([(c.id, 2)], [output(other, 1_300_000)])
    blocks = [craft_block(templates[0], [a, b]), craft_block(templates[1], [c, d, f]),
              craft_block(templates[2], [e])]
    return DemoChain(blocks, {"A": a, "B": b, "C": c, "D": d, "F": f, "E": e})
