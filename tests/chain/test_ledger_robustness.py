"""chain.ledger on bad and unusual input: every malformed block gives LedgerError (the
block follower relies on that to refuse a peer), never another exception; unusual but
valid encodings (indefinite-length arrays, edited invalid-tx lists) decode correctly."""
from __future__ import annotations

import json

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.ledger import Block, LedgerError, decode_block, decode_header
from chain.ledger.eras import detect_shelley_era, mainnet_era_at

from .test_ledger_fixtures import BLOCKS, MAINNET, block_bytes, decoded, element_spans, read_hex

SMALL_BLOCKS = [
    "shelley-block-mainnet-slot16156972.hex",
    "mary-block-mainnet-slot39916670.hex",
    "alonzo-block-mainnet-slot72316767.hex",
    "conway-block-mainnet-slot159835207.hex",
    "byron-block-mainnet-slot4471207.hex",
    "wrapped-babbage-block-testnet-slot63528520.hex",
    "wrapped-conway-block-testnet-slot22075282.hex",
]


def exercise(data: bytes) -> Block | None:
    """Decode and use everything; return None when the input was refused."""
    try:
        block = decode_block(data)
        json.dumps(block.to_json())
        block.wrapped, block.tx_ids, block.header
        return block
    except LedgerError as error:
        assert str(error)  # says what went wrong
        return None


# --- the one-error promise -----------------------------------------------------------------

@pytest.mark.parametrize("data", [
    b"", b"\x00", b"\x80", b"\xa0", b"\xff", b"\x82", b"\x82\x06", b"\x82\x08\x80",
    b"\x82\x06\x80", b"\x82\x01\x83\x80\x80\x80", b"\x84\x80\x80\x80\x80",
    b"\x85\x82\x80\x80\x80\x80\xa0\x80", b"\xd8\x18\x40", b"\xd8\x18\x41\x80",
    b"\xd8\x18\x5f\xff", b"\x9f\xff", b"\x82\x18\x06\x80", b"\x82\x80\x80",
    cbor2.dumps(["not", "a", "block"]), cbor2.dumps([[1, 2], 3, 4, 5]),
])
def test_garbage_raises_ledger_error(data: bytes) -> None:
    with pytest.raises(LedgerError):
        decode_block(data)


def test_non_bytes_raise_ledger_error() -> None:
    with pytest.raises(LedgerError):
        decode_block("82 06")  # type: ignore[arg-type]
    assert decode_block(bytearray(block_bytes("shelley-block-mainnet-slot16156972.hex"))).slot


@pytest.mark.parametrize("name", SMALL_BLOCKS)
def test_every_truncation_is_refused(name: str) -> None:
    data = block_bytes(name)
    step = max(1, len(data) // 400)
    for end in range(0, len(data), step):
        with pytest.raises(LedgerError):
            decode_block(data[:end])


@pytest.mark.parametrize("name", ["conway-block-mainnet-slot159835207.hex",
                                  "wrapped-mary-block-mainnet-slot27388606.hex"])
def test_trailing_bytes_are_refused(name: str) -> None:
    data = block_bytes(name)
    for extra in (b"\x00", b"\x80", data[:10]):
        with pytest.raises(LedgerError, match="trailing"):
            decode_block(data + extra)
    with pytest.raises(LedgerError):
        decode_block(cbor2.dumps(cbor2.CBORTag(24, data)) + b"\x00")


def test_unknown_block_tag_is_refused() -> None:
    raw = decoded("conway-block-mainnet-slot159835207.hex").raw
    with pytest.raises(LedgerError, match="unknown block tag 8"):
        decode_block(b"\x82\x08" + raw)
    with pytest.raises(LedgerError, match="unknown block tag"):
        decode_block(b"\x82\x19\x01\x00" + raw)


@pytest.mark.parametrize("tag, name", [
    (6, "alonzo-block-mainnet-slot72316767.hex"),  # 15-field header under a Babbage tag
    (5, "babbage-block-mainnet-slot76204984.hex"),
    (4, "alonzo-block-mainnet-slot72316767.hex"),  # 5 elements under a Mary tag
    (1, "shelley-block-mainnet-slot16156972.hex"),
    (2, "byron-block-mainnet-slot4471207.hex"),
    (0, "byron-block-mainnet-slot4471207.hex"),  # a main block under the EBB tag
])
def test_tag_that_contradicts_the_block_shape_is_refused(tag: int, name: str) -> None:
    with pytest.raises(LedgerError):
        decode_block(bytes((0x82, tag)) + decoded(name).raw)


@st.composite
def mutated_blocks(draw: st.DrawFn) -> bytes:
    data = bytearray(block_bytes(draw(st.sampled_from(SMALL_BLOCKS))))
    kind = draw(st.sampled_from(["truncate", "flip", "set", "insert", "delete"]))
    if kind == "truncate":
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data.insert(at, draw(st.integers(0, 255)))
        elif len(data) > 1:
            del data[at]
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_blocks())
def test_mutated_blocks_give_a_block_or_ledger_error(data: bytes) -> None:
    exercise(data)  # any other exception fails the test


def test_mutation_sweep_over_header_and_body_bytes() -> None:
    """Deterministic companion to the hypothesis test: flip each of many positions."""
    data = block_bytes("alonzo-block-mainnet-slot72316767.hex")
    refused = 0
    for at in range(0, len(data), 7):
        mutated = bytearray(data)
        mutated[at] ^= 0xFF
        refused += exercise(bytes(mutated)) is None
    assert refused > 0


@pytest.mark.parametrize("value", [
    None, 5, [], [1], [7, cbor2.CBORTag(24, b"")], [1, b"not tagged"],
    [1, cbor2.CBORTag(24, b"\x82\x80")], [0, [[2, 10], cbor2.CBORTag(24, b"\x80")]],
    [0, [[0, 10], cbor2.CBORTag(24, b"\xff")]], [True, cbor2.CBORTag(24, b"")],
    b"\xff", b"\x82\x01",
])
def test_bad_headers_raise_ledger_error(value: object) -> None:
    with pytest.raises(LedgerError):
        decode_header(value)


def test_header_era_index_must_match_the_header_shape() -> None:
    block = decoded("babbage-block-mainnet-slot76204984.hex")
    with pytest.raises(LedgerError):
        decode_header([4, cbor2.CBORTag(24, block.header_raw)])  # Alonzo index, 10 fields
    assert decode_header([5, cbor2.CBORTag(24, block.header_raw)]).era == "babbage"


# --- invalid transactions (block element 4) ------------------------------------------------

def _with_invalid(raw: bytes, invalid: list[int]) -> bytes:
    """The same block with only element 4 replaced: the other elements keep their bytes."""
    spans = element_spans(raw)
    assert len(spans) == 5
    return b"\x85" + raw[spans[0][0] : spans[3][1]] + cbor2.dumps(invalid)


@pytest.mark.parametrize("name", [
    "alonzo-block-mainnet-slot72316767.hex",
    "babbage-block-mainnet-slot76204984.hex",
    "conway-block-mainnet-slot159835207.hex",
])
def test_invalid_transactions_flag_flips_valid(name: str) -> None:
    original = decoded(name)
    assert all(tx.valid for tx in original.txs)
    edited = decode_block(_with_invalid(original.raw, [1, 3]))
    assert (edited.hash, edited.tx_ids) == (original.hash, original.tx_ids)
    assert [tx.valid for tx in edited.txs] == [i not in (1, 3) for i in range(edited.tx_count)]
    assert [tx["valid"] for tx in edited.to_json()["txs"]][:4] == [True, False, True, False]
    with pytest.raises(LedgerError, match="invalid transactions"):
        decode_block(_with_invalid(original.raw, [edited.tx_count]))
    with pytest.raises(LedgerError):
        decode_block(_with_invalid(original.raw, [-1]))


# --- valid but unusual encodings ---------------------------------------------------------

def _indefinite(raw: bytes, element: int | None = None) -> bytes:
    """Re-frame the block (element None) or one of its arrays as indefinite-length,
    keeping every item's bytes."""
    spans = element_spans(raw)
    parts = [raw[s:e] for s, e in spans]
    if element is not None:
        items = cbor2.loads(parts[element])
        fp_spans = _item_spans(parts[element])
        assert len(fp_spans) == len(items)
        parts[element] = b"\x9f" + b"".join(parts[element][s:e] for s, e in fp_spans) + b"\xff"
        return bytes((raw[0],)) + b"".join(parts)
    return b"\x9f" + b"".join(parts) + b"\xff"


def _item_spans(array: bytes) -> list[tuple[int, int]]:
    import io

    fp = io.BytesIO(array)
    decoder = cbor2.CBORDecoder(fp)
    head = array[0]
    assert 0x80 <= head <= 0x97 or head in (0x98, 0x99)
    fp.seek({0x98: 2, 0x99: 3}.get(head, 1))
    spans = []
    while fp.tell() < len(array):
        start = fp.tell()
        decoder.decode()
        spans.append((start, fp.tell()))
    return spans


@pytest.mark.parametrize("name", [
    "alonzo-block-mainnet-slot72316767.hex",
    "mary-block-mainnet-slot39916670.hex",
    "conway-block-mainnet-slot159835207.hex",
])
@pytest.mark.parametrize("element", [None, 1, 2])
def test_indefinite_length_arrays_decode_the_same(name: str, element: int | None) -> None:
    original = decoded(name)
    again = decode_block(bytes((0x82, original.block_tag)) + _indefinite(original.raw, element))
    assert (again.hash, again.slot, again.era) == (original.hash, original.slot, original.era)
    assert again.tx_ids == original.tx_ids
    assert again.to_json() == original.to_json()


# --- era detection for unwrapped blocks -----------------------------------------------------

@pytest.mark.parametrize("name", [n for n in BLOCKS if "-mainnet-" in n])
def test_unwrapped_mainnet_blocks_get_the_era_of_their_slot(name: str) -> None:
    block = decoded(name)
    for magic in (None, MAINNET):
        assert decode_block(block.raw, network_magic=magic).era == block.era


def test_mainnet_slot_table_beats_the_announced_protocol_version() -> None:
    # This Allegra block, minted shortly before the Mary fork, announces version 4.
    raw = read_hex("allegra-block-mainnet-slot23068573.hex")
    assert decode_block(raw).era == "allegra"
    assert decode_block(raw, network_magic=1).era == "mary"  # the testnet guess


def test_shelley_shaped_block_at_a_byron_mainnet_slot() -> None:
    raw = read_hex("shelley-block-testnet-02b1c561.hex")  # legacy testnet, slot 1598400
    assert decode_block(raw).era == "shelley"  # no network given: guessed
    assert decode_block(raw, network_magic=1097911063).era == "shelley"
    with pytest.raises(LedgerError, match="mainnet"):
        decode_block(raw, network_magic=MAINNET)


@pytest.mark.parametrize("fields, elements, slot, major, magic, era", [
    (15, 4, 5_000_000, 2, None, "shelley"),
    (15, 4, 20_000_000, 9, None, "allegra"),
    (15, 4, 30_000_000, 2, MAINNET, "mary"),
    (15, 5, 0, 0, None, "alonzo"),
    (10, 5, 100_000_000, 10, None, "babbage"),
    (10, 5, 140_000_000, 7, MAINNET, "conway"),
    (15, 4, 10, 3, 1, "allegra"),
    (15, 4, 10, 4, 1, "mary"),
    (10, 5, 10, 8, 2, "babbage"),
    (10, 5, 10, 9, 2, "conway"),
    (10, 5, 10, 10, 42, "conway"),
])
def test_detect_shelley_era(fields, elements, slot, major, magic, era) -> None:
    assert detect_shelley_era(fields, elements, slot, major, magic) == era


def test_detect_shelley_era_refuses_unknown_shapes() -> None:
    with pytest.raises(LedgerError):
        detect_shelley_era(10, 4, 0, 9, None)
    with pytest.raises(LedgerError):
        detect_shelley_era(15, 4, 140_000_000, 2, MAINNET)


def test_mainnet_era_boundaries() -> None:
    assert mainnet_era_at(4492799) == "byron" and mainnet_era_at(4492800) == "shelley"
    assert mainnet_era_at(72316895) == "alonzo" and mainnet_era_at(72316896) == "babbage"
    assert mainnet_era_at(133660800) == "conway"
