"""chain/forge.py: blocks of the sandbox chain forged from real transactions decode as
Conway blocks with the transactions' own ids, their metadata and witnesses, their
number, slot and link to the block before, and a true body hash."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cbor2
import pytest

from chain.forge import forge_block, header_hash
from chain.ledger import decode_block, decode_transaction
from chain.ledger.cbor import Reader
from tests.support.fixtures import fixtures_dir, require

BATCH_FILL = Path("dex") / "minswap-v1" / "txs" / "tx_ae2210f9_batch_fill.hex"
BUILD = Path("dexhunter") / "swap-build.response.json"


@pytest.fixture(scope="module")
def real_txs() -> list[bytes]:
    fill = require(fixtures_dir() / BATCH_FILL, "the Minswap v1 batch fill")
    build = require(fixtures_dir() / BUILD, "DexHunter's recorded build")
    return [bytes.fromhex(fill.read_text().strip()),
            bytes.fromhex(json.loads(build.read_text())["cbor"])]


def test_a_forged_chain_of_real_transactions_decodes(real_txs: list[bytes]) -> None:
    first = forge_block(real_txs, slot=100, height=1, prev_hash=None)
    block = decode_block(first)
    assert (block.era, block.block_tag, block.slot, block.height) == ("conway", 7, 100, 1)
    assert block.prev_hash is None and block.tx_count == 2
    assert [tx.id for tx in block.txs] == [decode_transaction(t).id for t in real_txs]
    build = block.txs[1]
    assert build.metadata and build.outputs == decode_transaction(real_txs[1]).outputs
    assert block.txs[0].redeemers == decode_transaction(real_txs[0]).redeemers > 0
    assert block.txs[0].datums == decode_transaction(real_txs[0]).datums
    second = decode_block(forge_block([], slot=120, height=2, prev_hash=header_hash(first)))
    assert second.prev_hash == block.hash and second.tx_count == 0


def test_the_header_says_the_bodys_true_size_and_hash(real_txs: list[bytes]) -> None:
    raw = forge_block(real_txs[:1], slot=5, height=3, prev_hash=bytes(32))
    tag, block = cbor2.loads(raw)
    header_body = block[0][0]
    # The four body parts as they are in the block's bytes (never re-encoded).
    reader = Reader(raw)
    _, pos = reader.item(3, "header")
    parts = []
    for name in ("bodies", "witnesses", "aux", "invalid"):
        _, end = reader.item(pos, name)
        parts.append(raw[pos:end])
        pos = end
    assert pos == len(raw)
    assert header_body[6] == sum(len(p) for p in parts)
    assert header_body[7] == hashlib.blake2b(
        b"".join(hashlib.blake2b(p, digest_size=32).digest() for p in parts),
        digest_size=32).digest()
    assert header_body[9] == [10, 0] and tag == 7
