"""Liqwid's recorded real data, read in place from FIXTURES_DIR/protocols (never copied):
a missing file skips the test, or fails it under CI=true (tests/support/fixtures.py)."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import cbor2

from core.settings import load_settings
from tests.support.fixtures import require


def protocols_dir() -> Path:
    return load_settings().fixtures_dir / "protocols"


def liqwid_file(name: str) -> Path:
    """A file under protocols/liqwid/ (e.g. "datums/marketparams_ada_tx1c280d01_out0.hex")."""
    return require(protocols_dir() / "liqwid" / name, f"Liqwid fixture {name}")


def liqwid_hex(name: str) -> bytes:
    return bytes.fromhex(liqwid_file(name).read_text().strip())


def liqwid_api_recorded(name: str) -> dict[str, Any]:
    """A recorded GraphQL capture (liqwid-api/recorded/), numbers as Decimal."""
    path = require(protocols_dir() / "liqwid-api" / "recorded" / name,
                   f"recorded Liqwid API body {name}")
    return json.loads(path.read_text(), parse_float=Decimal)


TX_1C280D01 = "1c280d01277784ce94c2fb14a5c97c96f80c08d0d812da4ecbd1d78397d03dab"
MARKETPARAMS_ADA = "datums/marketparams_ada_tx1c280d01_out0.hex"
MARKETPARAMS_DJED = "datums/marketparams_djed_tx1c280d01_out1.hex"
MARKETSTATE_ADA = "datums/marketstate_ada_utxo_07ad1a23_1.hex"
MARKETSTATE_USDA = "datums/marketstate_usda_utxo_a90bd7a4_1.hex"
MARKETSTATE_UNIDENTIFIED = "datums/marketstate_unidentified_utxo_83816ba8_1.hex"
ACTION_BEFORE = "action_datum_ada_before_supply_tx08b82a63.hex"
ACTION_AFTER = "action_datum_ada_after_supply_tx08b82a63.hex"
TX_MARKETPARAMS = "txs/tx_1c280d01_marketparams_update.hex"
PARAMS_HISTORY_ADA = "graphql_marketParamsHistory_ada_2026-07-16.json"
MARKETS_PAGE0 = "graphql_markets_page0_2026-07-23.json"


# --- crafted datums --------------------------------------------------------------------

OWNER = bytes.fromhex("ab" * 28)


def indefinite(items: list[Any]) -> bytes:
    """A Plutus list as Plutus writes it: 9f ... ff (cbor2 writes definite lists)."""
    return b"\x9f" + b"".join(encode(item) for item in items) + b"\xff"


def encode(item: Any) -> bytes:
    return indefinite(item) if isinstance(item, list) and item else cbor2.dumps(item)


def loan_datum(owner: bytes = OWNER, principal: int = 1_000_000_000, interest: int = 1_234,
               min_interest: int = 5_000, index: int = 1_000_000_000) -> bytes:
    """A Loan datum per lending.md §6.1 (Liqwid-Labs/defi-sdk): no real loan UTxO is in
    the fixtures, so the loan decoder is tested on crafted bytes."""
    return indefinite([owner, principal, interest, min_interest, index])
