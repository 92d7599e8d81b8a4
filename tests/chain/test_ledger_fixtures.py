"""chain.ledger against the recorded real blocks: every fixture block decodes to the
hash, slot, height and tx count stated in fixtures/cardano/SOURCES.md and the segment
manifests, and the transaction view finds what the blocks are known to contain.

The fixtures are read in place from the FIXTURES_DIR setting; without them these tests
skip (fail under CI=true, see tests/support/fixtures.py). Helpers here are shared by the other test_ledger_* modules.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
from functools import lru_cache
from pathlib import Path

import cbor2
import pytest

from chain.ledger import Block, Tx, decode_block, decode_header
from core.settings import load_settings
from tests.support.fixtures import require

MAINNET = 764824073


# --- fixture access ---------------------------------------------------------------------

def cardano_dir() -> Path:
    return require(load_settings().fixtures_dir / "cardano", "Cardano fixtures")


@lru_cache(maxsize=None)
def read_hex(name: str) -> bytes:
    return bytes.fromhex((cardano_dir() / name).read_text().strip())


def block_bytes(name: str) -> bytes:
    """The block CBOR of a fixture file (for N2C messages: element 1, inside tag 24)."""
    data = read_hex(name)
    if name.startswith("msg-chainsync-n2c-"):
        return cbor2.loads(data)[1].value
    return data


def blake2b_256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def segment_dir(name: str) -> Path:
    return require(cardano_dir() / "segments" / name, f"segment {name}")


def preprod_chunk() -> list[tuple[dict, bytes]]:
    """(manifest entry, wrapped block bytes) for each of the 864 blocks of the chunk."""
    folder = segment_dir("preprod-babbage-chunk01285")
    chunk = (folder / "01285.chunk").read_bytes()
    manifest = json.loads((folder / "manifest.json").read_text())
    return [(e, chunk[e["offset"] : e["offset"] + e["length"]]) for e in manifest["blocks"]]


def preview_blocks() -> list[tuple[dict, bytes]]:
    folder = segment_dir("preview-conway-argus-h3319101")
    manifest = json.loads((folder / "manifest.json").read_text())
    return [(e, (folder / e["file"]).read_bytes()) for e in manifest["blocks"]]


def element_spans(raw: bytes) -> list[tuple[int, int]]:
    """Spans of the elements of a definite-length block array, found with cbor2 alone
    (independently of chain.ledger), for tests that rebuild blocks around them."""
    assert 0x83 <= raw[0] <= 0x85
    fp = io.BytesIO(raw)
    decoder = cbor2.CBORDecoder(fp)
    fp.seek(1)
    spans = []
    for _ in range(raw[0] - 0x80):
        start = fp.tell()
        decoder.decode()
        spans.append((start, fp.tell()))
    assert fp.tell() == len(raw)
    return spans


# --- expected values, from fixtures/cardano/SOURCES.md ------------------------------------

# file: (era, block tag, height, slot, hash, tx count)
BLOCKS = {
    # section 1: mainnet, raw block CBOR
    "byron-block-mainnet-slot4471207.hex": (
        "byron", 1, 4468973, 4471207,
        "1451a0dbf16cfeddf4991a838961df1b08a68f43a19c0eb3b36cc4029c77a2d8", 2),
    "shelley-block-mainnet-slot16156972.hex": (
        "shelley", 2, 5065327, 16156972,
        "2308cdd4c0bf8b8bf92523bdd1dd31640c0f42ff079d985fcc07c36cbf915c2b", 6),
    "allegra-block-mainnet-slot23068573.hex": (
        "allegra", 3, 5406740, 23068573,
        "8115134ab013f6a5fd88fd2a10825177a2eedcde31cb2f1f35e492df469cf9a8", 13),
    "mary-block-mainnet-slot39916670.hex": (
        "mary", 4, 6236051, 39916670,
        "d36ab36f451e9fcbd4247daef45ce5be9a4b918fce5ee97a63b8aeac606fca03", 6),
    "alonzo-block-mainnet-slot72316767.hex": (
        "alonzo", 5, 7791695, 72316767,
        "1d7974cb01cc9e3fbe9dd7594795a36b21cb1deb2f1b70a0625332c91bd7e5a7", 4),
    "babbage-block-mainnet-slot76204984.hex": (
        "babbage", 6, 7981223, 76204984,
        "db19fcfaba30607e363113b0a13616e6a9da5aa48b86ec2c033786f0a2e13f7d", 14),
    "conway-block-mainnet-slot159835207.hex": (
        "conway", 7, 12069665, 159835207,
        "27807a70215e3e018eec9be8c619c692e06a78ebcb63daf90d7abe823f3bbf47", 8),
    # section 2: era-wrapped [tag, block]
    "wrapped-byron-ebb-mainnet-genesis-epoch0.hex": (
        "byron", 0, 0, 0,
        "89d9b5a5b8ddc8d7e5a6795e9774d97faf1efea59b2caf7eaf9f8c5b32059df4", 0),
    "wrapped-byron-block-mainnet-5c196e73.hex": (
        "byron", 1, 4490505, 4492794,
        "5c196e7394ace0449ba5a51c919369699b13896e97432894b4f0354dce8670b6", 0),
    "wrapped-shelley-block-mainnet-slot7948610.hex": (
        "shelley", 2, 4662237, 7948610,
        "7dce9cfd6d44c5eb58eb5200532b3fa04086ee26cbdd712a4dd04f1b1ef90ca5", 4),
    "wrapped-allegra-block-mainnet-slot18748707.hex": (
        "allegra", 3, 5192804, 18748707,
        "f23a7dc9c587fc056a25ff88c8a4d0f8a3f86a799b931672ccbc02edbcc63c98", 3),
    "wrapped-mary-block-mainnet-slot27388606.hex": (
        "mary", 4, 5616812, 27388606,
        "5ccb2a9061bea6b20353489dfd21ea47787e368c88d00ed381b34759ec8d0eb4", 14),
    "wrapped-alonzo-block-mainnet-slot46104248.hex": (
        "alonzo", 5, 6538269, 46104248,
        "9811acbdc17c620e2671e00c84ec6ebfe2c622b6a78766054a7d1b23e54e82e2", 115),
    "wrapped-babbage-block-testnet-slot63528520.hex": (
        "babbage", 6, 3709969, 63528520,
        "2023c3706be3f8822c79f5e65e5d2aa561ceaa6330d412c3341aed45630294a2", 5),
    "wrapped-conway-block-testnet-slot22075282.hex": (
        "conway", 7, 1093546, 22075282,
        "9b51ccd4f161c08382a445684ff3eb788923608acbea283081fa5ccf663fef8d", 1),
    # section 3: legacy testnet (raw blocks and the blocks inside N2C RollForward)
    "shelley-block-testnet-02b1c561.hex": (
        "shelley", 2, 1597133, 1598400,
        "02b1c561715da9e540411123a6135ee319b02f60b9a11a603d3305556c04329f", 0),
    "msg-chainsync-n2c-rollforward-shelley-testnet-02b1c561.hex": (
        "shelley", 2, 1597133, 1598400,
        "02b1c561715da9e540411123a6135ee319b02f60b9a11a603d3305556c04329f", 0),
    "byron-block-testnet-f38aa5e8.hex": ("byron", 1, 4, 1034, "f38aa5e8", 0),
    "msg-chainsync-n2c-rollforward-byron-main-testnet-f38aa5e8.hex": (
        "byron", 1, 4, 1034, "f38aa5e8", 0),
}
GENESIS_PREV = "5f20df933584822601f9e3f8c024eb5eb252fe8cefb24d1317dc3d432e940ebb"
MAINNET_FILES = [name for name in BLOCKS if "-mainnet-" in name]
SHELLEY_FAMILY = [name for name, row in BLOCKS.items() if row[0] != "byron"]
HEX = re.compile(r"^[0-9a-f]*$")


@lru_cache(maxsize=None)
def decoded(name: str) -> Block:
    return decode_block(block_bytes(name))


# --- blocks ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(BLOCKS))
def test_fixture_block_matches_sources_table(name: str) -> None:
    era, tag, height, slot, block_hash, ntx = BLOCKS[name]
    block = decoded(name)
    assert (block.era, block.block_tag, block.height, block.slot) == (era, tag, height, slot)
    assert block.hash.hex().startswith(block_hash)  # section 3 names give a hash prefix
    assert block.tx_count == ntx == len(block.txs) == len(block.tx_ids)


@pytest.mark.parametrize("name", list(BLOCKS))
def test_raw_and_wrapped_bytes_are_the_original_bytes(name: str) -> None:
    data = block_bytes(name)
    block = decoded(name)
    if data[0] == 0x82:  # era-wrapped input
        assert block.wrapped == data
        assert block.raw == data[2:]
    else:
        assert block.raw == data
        assert block.wrapped == b"\x82" + cbor2.dumps(block.block_tag) + data
    # the three forms decode to the same block
    for form in (block.raw, block.wrapped, cbor2.dumps(cbor2.CBORTag(24, block.wrapped))):
        again = decode_block(form)
        assert (again.era, again.hash, again.slot, again.tx_ids) == (
            block.era, block.hash, block.slot, block.tx_ids)


@pytest.mark.parametrize("name", list(BLOCKS))
def test_hash_covers_the_original_header_bytes(name: str) -> None:
    block = decoded(name)
    header = block.header_raw
    assert header == block.raw[1 : 1 + len(header)]
    if block.era == "byron":
        assert block.hash == blake2b_256(bytes((0x82, block.block_tag)) + header)
    else:
        assert block.hash == blake2b_256(header)


def test_genesis_ebb_links_to_the_genesis_file_hash() -> None:
    block = decoded("wrapped-byron-ebb-mainnet-genesis-epoch0.hex")
    assert block.prev_hash is not None and block.prev_hash.hex() == GENESIS_PREV


def test_n2c_block_is_the_raw_block() -> None:
    for raw, msg in (
        ("shelley-block-testnet-02b1c561.hex",
         "msg-chainsync-n2c-rollforward-shelley-testnet-02b1c561.hex"),
        ("byron-block-testnet-f38aa5e8.hex",
         "msg-chainsync-n2c-rollforward-byron-main-testnet-f38aa5e8.hex"),
    ):
        assert decoded(msg).raw == read_hex(raw)


def test_decode_block_alone_builds_no_transactions() -> None:
    block = decode_block(block_bytes("wrapped-alonzo-block-mainnet-slot46104248.hex"))
    assert "txs" not in vars(block)
    assert block.tx_count == 115 and len(block.tx_ids) == 115
    assert "txs" not in vars(block)
    assert [tx.id for tx in block.txs] == block.tx_ids


# --- headers -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, era, slot, height, prefix", [
    ("msg-chainsync-n2n-rollforward-shelley-testnet-02b1c561.hex", "shelley", 1598400, 1597133,
     "02b1c561715da9e540411123a6135ee319b02f60b9a11a603d3305556c04329f"),
    ("msg-chainsync-n2n-rollforward-byron-ebb-testnet-8f860283.hex", "byron", 0, 0,
     "8f8602837f7c6f8b8867dd1cbc1842cf51a27eaed2c70ef48325d00f8efb320f"),
])
def test_decode_header_of_n2n_rollforward(name, era, slot, height, prefix) -> None:
    message = cbor2.loads(read_hex(name))
    header = decode_header(message[1])
    assert (header.era, header.hash.hex()) == (era, prefix)
    assert (header.slot, header.height) == (slot, height)
    assert decode_header(cbor2.dumps(message[1])) == header  # the bytes form too


def test_n2n_shelley_header_is_the_header_of_the_block() -> None:
    message = cbor2.loads(read_hex("msg-chainsync-n2n-rollforward-shelley-testnet-02b1c561.hex"))
    assert decode_header(message[1]) == decoded("shelley-block-testnet-02b1c561.hex").header


@pytest.mark.parametrize("name", list(BLOCKS))
def test_every_block_header_decodes_in_its_n2n_form(name: str) -> None:
    block = decoded(name)
    tagged = cbor2.CBORTag(24, block.header_raw)
    if block.era == "byron":
        wrapped = [0, [[block.block_tag, len(block.raw)], tagged]]
    else:
        wrapped = [block.block_tag - 1, tagged]  # HFC era index = block tag - 1
    assert decode_header(wrapped) == block.header


# --- segments ----------------------------------------------------------------------------

def _check_segment(entries: list[tuple[dict, bytes]], era: str, tag: int, first_prev: str) -> None:
    prev = first_prev
    for entry, data in entries:
        block = decode_block(data)
        assert (block.era, block.block_tag) == (era, tag)
        assert block.hash.hex() == entry["hash"]
        assert block.prev_hash is not None and block.prev_hash.hex() == entry["prev"] == prev
        assert (block.height, block.slot, block.tx_count) == (
            entry["height"], entry["slot"], entry["ntx"])
        prev = entry["hash"]


def test_preprod_chunk_all_864_blocks_match_manifest_and_link() -> None:
    entries = preprod_chunk()
    assert len(entries) == 864
    _check_segment(entries, "babbage", 6,
                   "d06b26127fe98485cdcb06bc821795f57a246641a6000b364bef3fc0f3c2546a")
    assert sum(e["ntx"] for e, _ in entries) == 233


def test_preview_all_100_blocks_match_manifest_and_link() -> None:
    entries = sorted(preview_blocks(), key=lambda item: item[0]["slot"])
    assert len(entries) == 100
    _check_segment(entries, "conway", 7,
                   "cee6005816f33d87155f3fe31170081bbdac6356a8eebc9aa725e133e96cf8e5")
    assert sum(e["ntx"] for e, _ in entries) == 127


@pytest.mark.parametrize("network_magic, entries, era", [
    (1, preprod_chunk, "babbage"),
    (2, preview_blocks, "conway"),
])
def test_unwrapped_testnet_blocks_get_their_era_from_the_protocol_version(
    network_magic, entries, era
) -> None:
    for _, data in entries():
        block = decode_block(data)
        assert decode_block(block.raw, network_magic=network_magic).era == era


# --- transactions ------------------------------------------------------------------------

def _all_fixture_blocks() -> list[Block]:
    return [decoded(name) for name in BLOCKS]


def test_tx_id_is_blake2b_of_the_original_body_slice() -> None:
    blocks = _all_fixture_blocks() + [decode_block(d) for _, d in preview_blocks()]
    checked = 0
    for block in blocks:
        for tx in block.txs:
            assert tx.id == blake2b_256(tx.body_raw)
            assert block.raw.count(tx.body_raw) >= 1  # a slice of the block bytes
            checked += 1
    assert checked > 300


def test_tx_ids_are_the_ids_later_transactions_spend() -> None:
    """Independent check: within a run of consecutive blocks, inputs name the ids of
    earlier transactions, as computed by the wallets that built them."""
    for entries in (preprod_chunk(), sorted(preview_blocks(), key=lambda i: i[0]["slot"])):
        outputs: dict[bytes, int] = {}
        found = 0
        for _, data in entries:
            for tx in decode_block(data).txs:
                for tx_id, index in tx.inputs + tx.reference_inputs + tx.collateral:
                    if tx_id in outputs:
                        found += 1
                        assert index < outputs[tx_id]
                outputs[tx.id] = len(tx.outputs) + (tx.collateral_return is not None)
        assert found > 100


def test_tx_ids_agree_with_pycardano_where_it_keeps_the_bytes() -> None:
    """pycardano re-encodes bodies; where its encoding equals the original, its id must
    equal ours (a cross-check of the hash choice, not of the span)."""
    from pycardano import TransactionBody

    agreed = 0
    for name in SHELLEY_FAMILY:
        for tx in decoded(name).txs:
            try:
                body = TransactionBody.from_cbor(tx.body_raw)
            except Exception:
                continue
            if body.to_cbor() == tx.body_raw:
                assert body.id.payload == tx.id
                agreed += 1
    assert agreed >= 50


def _txs(name: str) -> list[Tx]:
    return decoded(name).txs


def test_conway_block_has_reference_inputs_inline_datums_redeemers_collateral() -> None:
    txs = _txs("conway-block-mainnet-slot159835207.hex")
    assert sum(len(tx.reference_inputs) for tx in txs) > 0
    assert sum(len(tx.collateral) for tx in txs) > 0
    assert sum(tx.redeemers for tx in txs) > 0
    inline = [o.inline_datum for tx in txs for o in tx.outputs if o.inline_datum]
    assert inline and all(cbor2.loads(d) is not None for d in inline)
    raw = decoded("conway-block-mainnet-slot159835207.hex").raw
    assert all(d in raw for d in inline)  # original bytes, not re-encoded
    # its sets are tag-258 encoded: inputs come out in ledger (sorted) order
    assert all(tx.inputs == sorted(tx.inputs) for tx in txs)


def test_babbage_block_has_datum_hashes_plutus_data_redeemers_collateral() -> None:
    block = decoded("babbage-block-mainnet-slot76204984.hex")
    txs = block.txs
    assert sum(len(tx.reference_inputs) for tx in txs) > 0
    assert any(o.datum_hash for tx in txs for o in tx.outputs)
    assert sum(tx.redeemers for tx in txs) > 0
    assert sum(len(tx.collateral) for tx in txs) > 0
    datums = {h: d for tx in txs for h, d in tx.datums.items()}
    assert datums
    for datum_hash, datum in datums.items():
        assert blake2b_256(datum) == datum_hash and datum in block.raw
    # Some datums use indefinite-length lists, which a re-encoding would change.
    assert any(cbor2.dumps(cbor2.loads(d)) != d for d in datums.values())


def test_alonzo_block_has_redeemers_collateral_and_datums() -> None:
    txs = _txs("alonzo-block-mainnet-slot72316767.hex")
    assert sum(tx.redeemers for tx in txs) > 0
    assert sum(len(tx.collateral) for tx in txs) > 0
    assert sum(len(tx.datums) for tx in txs) > 0
    assert sum(len(tx.required_signers) for tx in txs) > 0


def test_babbage_testnet_block_features() -> None:
    txs = _txs("wrapped-babbage-block-testnet-slot63528520.hex")
    assert sum(tx.redeemers for tx in txs) > 0
    assert any(o.datum_hash for tx in txs for o in tx.outputs)
    assert sum(len(tx.collateral) for tx in txs) > 0
    assert all(o.address.startswith("addr_test1") for tx in txs for o in tx.outputs)


@pytest.mark.parametrize("name", [
    "mary-block-mainnet-slot39916670.hex",
    "wrapped-mary-block-mainnet-slot27388606.hex",
    "wrapped-alonzo-block-mainnet-slot46104248.hex",
    "wrapped-conway-block-testnet-slot22075282.hex",
])
def test_mint_and_multiasset(name: str) -> None:
    txs = _txs(name)
    minted = {asset: qty for tx in txs for asset, qty in tx.mint.items()}
    assert minted
    for (policy, asset_name), qty in minted.items():
        assert len(policy) == 28 and isinstance(asset_name, bytes) and qty != 0
    assert any(o.assets for tx in txs for o in tx.outputs)


def test_byron_transactions() -> None:
    txs = _txs("byron-block-mainnet-slot4471207.hex")
    assert len(txs) == 2
    raw = decoded("byron-block-mainnet-slot4471207.hex").raw
    for tx in txs:
        assert tx.fee is None and tx.valid and tx.inputs and tx.outputs
        assert tx.id == blake2b_256(tx.body_raw) and tx.body_raw in raw
        for out in tx.outputs:
            assert out.address.startswith(("Ddz", "Ae2")) and out.lovelace > 0
            assert out.address_bytes in raw


def test_addresses_agree_with_pycardano() -> None:
    from pycardano import Address

    seen = 0
    for block in _all_fixture_blocks():
        for tx in block.txs:
            for out in tx.outputs:
                assert str(Address.from_primitive(out.address_bytes)) == out.address
                seen += 1
    assert seen > 500


def test_metadata_flag_follows_the_auxiliary_data_map() -> None:
    block = decoded("babbage-block-mainnet-slot76204984.hex")
    spans = element_spans(block.raw)
    aux = cbor2.loads(block.raw[spans[3][0] : spans[3][1]])
    assert aux
    assert [tx.metadata for tx in block.txs] == [i in aux for i in range(block.tx_count)]


def test_validity_interval_and_fee() -> None:
    for name in SHELLEY_FAMILY:
        for tx in decoded(name).txs:
            assert isinstance(tx.fee, int) and tx.fee > 0
    txs = _txs("conway-block-mainnet-slot159835207.hex")
    assert any(tx.ttl for tx in txs) and any(tx.validity_start for tx in txs)


# --- JSON --------------------------------------------------------------------------------

TX_KEYS = {"id", "valid", "fee", "inputs", "reference_inputs", "collateral", "outputs", "mint",
           "required_signers", "validity_start", "ttl", "redeemers", "metadata"}
OUT_KEYS = {"address", "lovelace", "assets", "datum_hash", "inline_datum", "script_ref"}


def _check_json(view: dict) -> None:
    assert set(view) == {"era", "slot", "height", "hash", "prev_hash", "txs"}
    assert HEX.match(view["hash"]) and len(view["hash"]) == 64
    for tx in view["txs"]:
        assert set(tx) == TX_KEYS
        assert HEX.match(tx["id"]) and isinstance(tx["valid"], bool)
        assert isinstance(tx["redeemers"], int) and isinstance(tx["metadata"], bool)
        assert tx["fee"] is None or type(tx["fee"]) is int
        for ref in tx["inputs"] + tx["reference_inputs"] + tx["collateral"]:
            tx_id, index = ref.split("#")
            assert HEX.match(tx_id) and len(tx_id) == 64 and index.isdigit()
        for key, qty in tx["mint"].items():
            policy, _, name = key.partition(".")
            assert len(policy) == 56 and HEX.match(name) and type(qty) is int
        for out in tx["outputs"]:
            assert set(out) == OUT_KEYS
            assert type(out["lovelace"]) is int
            assert all(type(q) is int and q > 0 for q in out["assets"].values())
            for key in ("datum_hash", "inline_datum", "script_ref"):
                assert out[key] is None or HEX.match(out[key])


@pytest.mark.parametrize("name", list(BLOCKS))
def test_to_json_is_plain_json_with_the_documented_keys(name: str) -> None:
    view = decoded(name).to_json()
    text = json.dumps(view)
    assert json.loads(text) == view
    _check_json(view)


def test_to_json_keeps_integers_beyond_double_precision() -> None:
    view = decoded("conway-block-mainnet-slot159835207.hex").to_json()
    quantities = [q for tx in view["txs"] for o in tx["outputs"] for q in o["assets"].values()]
    big = [q for q in quantities if q > 2**53]
    assert big  # this block holds a quantity of 9223372036166189232
    assert json.loads(json.dumps(view)) == view
    assert str(big[0]) in json.dumps(view)


def test_to_json_nulls() -> None:
    view = decoded("wrapped-shelley-block-mainnet-slot7948610.hex").to_json()
    out = view["txs"][0]["outputs"][0]
    assert (out["datum_hash"], out["inline_datum"], out["script_ref"]) == (None, None, None)
    assert view["txs"][0]["validity_start"] is None
    byron = decoded("byron-block-mainnet-slot4471207.hex").to_json()
    assert byron["txs"][0]["fee"] is None
