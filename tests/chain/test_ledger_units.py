"""chain.ledger pieces without fixtures: address text, CBOR heads, the pre-filter, and a
synthetic Conway block exercising every transaction field."""
from __future__ import annotations

import hashlib
import json

import cbor2
import pytest
from cbor2 import CBORTag

from chain.ledger import ERA_BY_TAG, LedgerError, block_mentions, decode_block, decode_header
from chain.ledger.address import address_text, base58_encode, bech32_encode
from chain.ledger.cbor import Reader, read_head


def blake2b_256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


# --- addresses ---------------------------------------------------------------------------

PAYMENT = "9493315cd92eb5d8c4304e67b7e16ae36d61d34502694657811a2c8e"
STAKE = "337b62cfff6403a06a3acbc34f8c46003c69fe79a3628cefa9c47251"


@pytest.mark.parametrize("hex_bytes, text", [  # CIP-19 test vectors
    ("01" + PAYMENT + STAKE,
     "addr1qx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3n0d3vllmyqwsx5wktcd8cc3sq835lu7drv2xwl2"
     "wywfgse35a3x"),
    ("00" + PAYMENT + STAKE,
     "addr_test1qz2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3n0d3vllmyqwsx5wktcd8cc3sq835lu7drv"
     "2xwl2wywfgs68faae"),
    ("61" + PAYMENT, "addr1vx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzers66hrl8"),
    ("e1" + STAKE, "stake1uyehkck0lajq8gr28t9uxnuvgcqrc6070x3k9r8048z8y5gh6ffgw"),
])
def test_shelley_addresses_are_bech32(hex_bytes: str, text: str) -> None:
    assert address_text(bytes.fromhex(hex_bytes)) == text


@pytest.mark.parametrize("size", [29, 57])  # enterprise and base address sizes
def test_bech32_agrees_with_pycardano(size: int) -> None:
    from pycardano.crypto.bech32 import decode, encode

    data = bytes(range(7, 7 + size))
    assert bech32_encode("addr_test", data) == encode("addr_test", data)
    assert bytes(decode(bech32_encode("addr_test", data))) == data


def test_byron_addresses_are_base58() -> None:
    import base58  # a pycardano dependency: an independent implementation

    text = "Ae2tdPwUPEZFRbyhz3cpfC2CumGzNkFBN2L42rcUc2yjQpEkxDbkPodpMAi"
    raw = base58.b58decode(text)
    assert raw[0] == 0x82  # the CBOR of [#6.24(bytes), crc]
    assert address_text(raw) == text
    assert base58_encode(b"\0\0\x01") == "112" == base58.b58encode(b"\0\0\x01").decode()


@pytest.mark.parametrize("raw", [b"", b"\x90" + bytes(28), b"\xd0" + bytes(28)])
def test_unknown_address_types_are_refused(raw: bytes) -> None:
    with pytest.raises(LedgerError):
        address_text(raw)


# --- CBOR heads and spans ------------------------------------------------------------------

@pytest.mark.parametrize("data, head", [
    (b"\x05", (0, 5, 1)), (b"\x18\xff", (0, 255, 2)), (b"\x19\x01\x00", (0, 256, 3)),
    (b"\x1a\x00\x01\x00\x00", (0, 65536, 5)), (b"\x1b" + (2**40).to_bytes(8, "big"), (0, 2**40, 9)),
    (b"\x9f", (4, None, 1)), (b"\xbf", (5, None, 1)), (b"\x84", (4, 4, 1)),
    (b"\xd8\x18", (6, 24, 2)),
])
def test_read_head(data: bytes, head: tuple) -> None:
    assert read_head(data, 0, "test") == head


@pytest.mark.parametrize("data", [b"", b"\x18", b"\x1c", b"\x1f", b"\xff", b"\x9b\x00"])
def test_read_head_refuses_truncated_or_reserved(data: bytes) -> None:
    with pytest.raises(LedgerError):
        read_head(data, 0, "test")


def test_array_spans_definite_indefinite_and_tagged_sets() -> None:
    items = [b"\x01", b"\x82\x01\x02", b"\x9f\x01\xff", b"\xa1\x01\x02"]
    for framed in (b"\x84" + b"".join(items), b"\x9f" + b"".join(items) + b"\xff",
                   b"\xd9\x01\x02\x84" + b"".join(items)):
        reader = Reader(framed + b"\x00")
        spans, end = reader.array_spans(0, "test")
        assert [framed[s:e] for s, e in spans] == items
        assert end == len(framed)
    with pytest.raises(LedgerError):
        Reader(b"\x9f\x01").array_spans(0, "test")
    with pytest.raises(LedgerError, match="expected dict"):
        Reader(b"\x81\x01").array_spans(0, "test", dict)


# --- pre-filter --------------------------------------------------------------------------

def test_block_mentions() -> None:
    data = b"\x85" + bytes(100) + bytes.fromhex(PAYMENT) + bytes(10)
    assert block_mentions(data, [bytes.fromhex(STAKE), bytes.fromhex(PAYMENT)])
    assert not block_mentions(data, [bytes.fromhex(STAKE)])
    assert not block_mentions(data, [])
    with pytest.raises(ValueError):
        block_mentions(data, [b""])


# --- a synthetic Conway block with every field -------------------------------------------

TX_A, TX_B, TX_C = b"\xaa" * 32, b"\xbb" * 32, b"\xcc" * 32
POLICY = b"\x11" * 28
SIGNER = b"\x22" * 28
ADDR = bytes.fromhex("01" + PAYMENT + STAKE)
BYRON_ADDR = bytes.fromhex(
    "82d818582183581c9c708538a763ff27169987a489e35057ef3cd3778c05e96f7ba9450ea201581e581c"
    "9c1722f7e446689256e1a30260f3510d558d99d0c391f2ba89cb697702451a4170cb17001a6979126c")
REWARD = bytes.fromhex("e1" + STAKE)
INLINE = bytes.fromhex("d8799f0102ff")  # Constr 0 [1, 2] with an indefinite list
SCRIPT = cbor2.dumps([2, b"\x01\x02\x03"])
DATUM_HASH = b"\x33" * 32
WITNESS_DATUM = bytes.fromhex("d87a9f4401020304ff")


def _header(height: int, slot: int, prev: bytes | None, major: int) -> list:
    return [[height, slot, prev, b"\x01" * 32, b"\x02" * 32, [b"\x03" * 64, b"\x04" * 80],
             1234, b"\x05" * 32, [b"\x06" * 32, 1, 2, b"\x07" * 64], [major, 0]], b"\x08" * 448]


def _synthetic_block(invalid: list[int] | None = None) -> bytes:
    body = {
        0: CBORTag(258, [[TX_B, 0], [TX_A, 1]]),  # out of order on purpose
        1: [
            {0: ADDR, 1: [2_000_000, {POLICY: {b"tok": 5, b"": 2**64 - 1}}],
             2: [1, CBORTag(24, INLINE)], 3: CBORTag(24, SCRIPT)},
            [BYRON_ADDR, 1_000_000, DATUM_HASH],
            {0: ADDR, 1: 3, 2: [0, DATUM_HASH]},
        ],
        2: 170_000, 3: 5000, 5: {REWARD: 77}, 8: 10,
        9: {POLICY: {b"burn": -3, b"tok": 5}},
        13: CBORTag(258, [[TX_C, 5]]), 14: CBORTag(258, [SIGNER]),
        16: [ADDR, 4_000_000], 17: 999, 18: [[TX_C, 2]],
    }
    body_raw = cbor2.dumps(body)
    witness = (b"\xa3" + cbor2.dumps(0) + cbor2.dumps([[b"\x09" * 32, b"\x0a" * 64]])
               + cbor2.dumps(4) + b"\x9f" + WITNESS_DATUM + b"\xff"
               + cbor2.dumps(5) + cbor2.dumps({(0, 0): [INLINE, [1, 2]], (1, 0): [b"", [3, 4]]}))
    second = cbor2.dumps({0: [[TX_A, 7]], 1: [[ADDR, 5]], 2: 1})
    header = cbor2.dumps(_header(42, 1000, b"\x0b" * 32, 10))
    return (b"\x82\x07\x85" + header + b"\x82" + body_raw + second
            + b"\x82" + witness + b"\xa0" + cbor2.dumps({1: {674: "hi"}})
            + cbor2.dumps(invalid or []))


def test_synthetic_conway_block() -> None:
    data = _synthetic_block()
    block = decode_block(data)
    assert (block.era, block.block_tag, block.height, block.slot) == ("conway", 7, 42, 1000)
    assert block.prev_hash == b"\x0b" * 32 and block.tx_count == 2
    header_raw = cbor2.dumps(_header(42, 1000, b"\x0b" * 32, 10))
    assert block.hash == blake2b_256(header_raw) and block.header_raw == header_raw
    tx, second = block.txs
    assert tx.id == blake2b_256(tx.body_raw) and tx.body_raw in data
    assert tx.inputs == [(TX_A, 1), (TX_B, 0)]  # tag-258 set: ledger order
    assert tx.collateral == [(TX_C, 5)] and tx.reference_inputs == [(TX_C, 2)]
    assert tx.fee == 170_000 and tx.ttl == 5000 and tx.validity_start == 10
    assert tx.withdrawals == {REWARD: 77} and tx.required_signers == [SIGNER]
    assert tx.mint == {(POLICY, b"burn"): -3, (POLICY, b"tok"): 5}
    assert tx.redeemers == 2 and tx.valid and not tx.metadata and second.metadata
    assert tx.datums == {blake2b_256(WITNESS_DATUM): WITNESS_DATUM}
    out0, out1, out2 = tx.outputs
    assert out0.address.startswith("addr1q") and out0.address_bytes == ADDR
    assert out0.lovelace == 2_000_000
    assert out0.assets == {(POLICY, b"tok"): 5, (POLICY, b""): 2**64 - 1}
    assert (out0.inline_datum, out0.script_ref, out0.datum_hash) == (INLINE, SCRIPT, None)
    assert out1.address == base58_encode(BYRON_ADDR) and out1.datum_hash == DATUM_HASH
    assert out2.datum_hash == DATUM_HASH and out2.lovelace == 3
    assert tx.collateral_return is not None and tx.collateral_return.lovelace == 4_000_000
    assert tx.total_collateral == 999
    assert second.inputs == [(TX_A, 7)] and second.redeemers == 0 and second.datums == {}

    view = block.to_json()
    text = json.dumps(view)
    assert str(2**64 - 1) in text
    out = view["txs"][0]["outputs"][0]
    assert out["assets"] == {POLICY.hex() + ".746f6b": 5, POLICY.hex() + ".": 2**64 - 1}
    assert out["inline_datum"] == INLINE.hex() and out["script_ref"] == SCRIPT.hex()
    assert view["txs"][0]["mint"][POLICY.hex() + ".6275726e"] == -3
    assert view["txs"][0]["inputs"] == [TX_A.hex() + "#1", TX_B.hex() + "#0"]
    assert view["txs"][0]["redeemers"] == 2 and view["txs"][1]["metadata"] is True

    invalid = decode_block(_synthetic_block([0]))
    assert [t.valid for t in invalid.txs] == [False, True]
    assert invalid.hash == block.hash


def test_synthetic_block_header_in_n2n_form() -> None:
    block = decode_block(_synthetic_block())
    assert decode_header([6, CBORTag(24, block.header_raw)]) == block.header


@pytest.mark.parametrize("edit", [
    lambda b: b.replace(b"\x82\x07\x85", b"\x82\x07\x86", 1),  # 6 elements
    lambda b: b[:-1] + cbor2.dumps([5]),  # invalid index out of range
    lambda b: b[:-1] + cbor2.dumps(["x"]),
    lambda b: b[:-1] + b"\xa0",  # invalid txs not an array
])
def test_synthetic_block_shape_errors(edit) -> None:
    with pytest.raises(LedgerError):
        decode_block(edit(_synthetic_block()))


def test_malformed_transaction_fields_raise_ledger_error_on_access() -> None:
    header = cbor2.dumps(_header(1, 2, None, 9))
    for body in ({0: [[TX_A, -1]], 1: [], 2: 0}, {0: [], 1: [[ADDR]], 2: 0},
                 {0: [], 1: [], 2: -5}, {0: [], 1: [], 2: 0, 9: {b"short": {b"": 1}}},
                 {0: [], 1: [[ADDR, [1, {POLICY: {b"": -1}}]]], 2: 0}, {1: [], 2: 0},
                 {0: [], 1: [{0: ADDR, 1: 1, 2: [2, b""]}], 2: 0},
                 {0: CBORTag(258, [1, b"x"]), 1: [], 2: 0}):
        data = b"\x85" + header + cbor2.dumps([body]) + cbor2.dumps([{}]) + b"\xa0\x80"
        block = decode_block(data)
        assert block.prev_hash is None and block.era == "conway"
        with pytest.raises(LedgerError):
            block.txs


def test_era_by_tag_table() -> None:
    assert ERA_BY_TAG == {0: "byron", 1: "byron", 2: "shelley", 3: "allegra", 4: "mary",
                          5: "alonzo", 6: "babbage", 7: "conway"}
