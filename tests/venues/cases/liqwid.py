"""Liqwid's case for the contract suite (tests/venues/test_contract.py), and the crafted
data tests/venues/test_liqwid_api.py shares.

The stub (stubs/liqwid.py) answers from the recorded captures; what they lack is crafted
here, and said so:
- the Ada market's qToken (`receiptAsset`): the qADA policy is a fact (the fixtures' script
  CSV and the recorded loans); its 6 decimals are read off the recorded loans (qADA
  amounts with 6 places);
- its `exchangeRate`: the qTokenRate of the real 2026 Ada MarketState datum in the fixtures
  (cut to 16 significant digits, as the API's floats are);
- its collateral option (qADA): the effective max LTV 0.704, liquidation threshold 0.81
  and penalty 0.10 of lending.md §6.1 (a live capture, facts only);
- one loan of our wallet, shaped like the first recorded loan row (with an id, which the
  recording lacks);
- the wallet: keys made here from fixed seeds, and two UTxOs (ADA; ADA and qADA).
The token data is the project's own (protocols/venues/liqwid/networks/mainnet.json); the
fates use tests/support/chain_view.py over loan UTxOs crafted in the Loan datum layout of
lending.md §6.1 (with the real Ada MarketState datum beside them).
"""
from __future__ import annotations

import hashlib
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import cbor2

from chain.ledger.address import bech32_encode
from core.settings import NETWORK_MAGICS, Network
from core.units import Asset
from protocols.base import StoredUtxo, VenueTokens
from protocols.http import HttpPolicy, JsonHttpClient
from protocols.model import Wallet
from protocols.venues.liqwid.api import LiqwidApi
from protocols.venues.liqwid.source import LiqwidSource
from protocols.venues.liqwid.tokens import load_tokens
from stubs.liqwid import LOAN_TOKEN_POLICIES, LiqwidStub
from stubs.server import StubServer
from tests.support.chain_view import MemoryChainView
from tests.support.fixtures import require
from tests.venues.contract import BuildCase, FateCase, VenueCase

MAINNET = Network("mainnet", NETWORK_MAGICS["mainnet"])
QADA = "a04ce7a52545e5e33c2867e148898d9e667a69602285f6a1298f9d68"
QADA_ASSET = Asset(QADA, "")
LOAN_TOKEN = LOAN_TOKEN_POLICIES["Ada"]
MARKET_STATE_DATUM = Path("protocols/liqwid/datums/marketstate_ada_utxo_07ad1a23_1.hex")


def fixtures() -> Path:
    from core.settings import load_settings

    root = load_settings().fixtures_dir
    require(root / "protocols" / "liqwid-api" / "recorded", "recorded Liqwid captures")
    return root


def _hash(label: str, size: int = 32) -> bytes:
    return hashlib.blake2b(label.encode(), digest_size=size).digest()


# --- the wallet ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class CaseWallet:
    wallet: Wallet
    key_hash: str  # payment key hash, hex


def make_wallet(label: str = "liqwid case wallet", *,
                lovelace: int = 600_000_000, qada: int = 50_000_000_000) -> CaseWallet:
    from pycardano import Address, Network as AddressNetwork, PaymentSigningKey, StakeSigningKey

    payment = PaymentSigningKey(_hash(f"{label} payment")).to_verification_key().hash()
    stake = StakeSigningKey(_hash(f"{label} stake")).to_verification_key().hash()
    address = Address(payment, stake, AddressNetwork.MAINNET)
    raw = bytes(address.to_primitive())
    utxos = (
        cbor2.dumps([[_hash(f"{label} utxo 0"), 0], {0: raw, 1: lovelace}]).hex(),
        cbor2.dumps([[_hash(f"{label} utxo 1"), 1],
                     {0: raw, 1: [3_000_000, {bytes.fromhex(QADA): {b"": qada}}]}]).hex(),
    )
    return CaseWallet(Wallet(address=str(address), utxos_cbor=utxos), bytes(payment).hex())


# --- what the recordings lack, crafted ----------------------------------------------------------

def ada_exchange_rate(root: Path) -> Decimal:
    """The qTokenRate of the real 2026 Ada MarketState datum, as the API's float would say it."""
    datum = cbor2.loads(bytes.fromhex((root / MARKET_STATE_DATUM).read_text().strip()))
    num, den = datum[9]
    with localcontext() as context:
        context.prec = 16
        return Decimal(num) / Decimal(den)


def market_extras(root: Path) -> dict[str, dict[str, Any]]:
    return {"Ada": {
        "receiptAsset": {"currencySymbol": QADA, "name": "", "symbol": "qADA", "decimals": 6},
        "exchangeRate": ada_exchange_rate(root),
        "batching": False,
        "parameters": {"minValue": None, "collateralParameters": [{
            "maxLoanToValue": None, "liquidationThreshold": None,
            "liquidationPenalty": Decimal("0.10"), "collateralWeight": None,
            "weightedMaxLoanToValue": Decimal("0.704"),
            "weightedLiquidationThreshold": Decimal("0.81"),
            "collateral": {"id": f"Ada.{QADA}", "market": {"id": "Ada"}}}]},
    }}


LOAN_TX = _hash("liqwid case loan").hex()
LOAN_REF = f"{LOAN_TX}#0"
LOAN_DEBT_WHOLE = Decimal("40.57225")  # ADA
LOAN_QTOKENS_WHOLE = Decimal("24993.609217")  # qADA


def case_loan(owner: str) -> dict[str, Any]:
    return {"id": f"{LOAN_TX}-0", "transactionId": LOAN_TX, "transactionIndex": 0,
            "marketId": "Ada", "publicKey": owner, "amount": LOAN_DEBT_WHOLE,
            "healthFactor": Decimal("1.8377302862468479"), "LTV": Decimal("0.4407610877732463"),
            "APY": Decimal("0.0378532431"),
            "collaterals": [{"id": QADA, "qTokenName": "qADA",
                             "qTokenAmount": LOAN_QTOKENS_WHOLE, "market": {"id": "Ada"}}]}


def liquidatable_edge_row(owner: str) -> dict[str, Any]:
    """The row shape CAN_BE_LIQUIDATED returns for loans the API cannot value (§6.1)."""
    return {"id": f"{_hash('liqwid edge loan').hex()}-1", "transactionId": None,
            "transactionIndex": None, "marketId": "Ada", "publicKey": owner,
            "amount": Decimal("12.5"), "healthFactor": 0, "LTV": -1, "APY": Decimal("0.0378"),
            "collaterals": []}


def mainnet_tokens() -> VenueTokens:
    tokens = load_tokens("mainnet")
    assert tokens is not None
    return tokens


def start_stub(stack: ExitStack, root: Path, *extra_loans: dict[str, Any]) -> StubServer:
    stub = StubServer(LiqwidStub(root, market_extras=market_extras(root),
                                 extra_loans=extra_loans))
    stack.enter_context(stub)
    return stub


def make_source(url: str, tokens: VenueTokens | None, *, timeout_s: float = 5.0,
                attempts: int = 3) -> LiqwidSource:
    client = JsonHttpClient("liqwid", url, HttpPolicy(timeout_s=timeout_s, attempts=attempts,
                                                      backoff_s=0.01, min_interval_s=0))
    return LiqwidSource(MAINNET, tokens, api=LiqwidApi(client))


# --- fates over an in-memory chain view ---------------------------------------------------------

def script_address(validator: str) -> str:
    """The mainnet enterprise address of a script hash."""
    return bech32_encode("addr", bytes([0x71]) + bytes.fromhex(validator))


LOAN_ADDRESS = script_address("71391f18fb131f28a230fa7f3b6c6099e447602b2bd2df5d046c5e99")
STATE_ADDRESS = script_address("8d258b9d08dcab73f3165a11751d464b46056264091c1789da588726")
LIQUIDATION_TOKEN = "3c9ee71d8f14b386df802f4121d82746df5508e29198744bea7552ef"  # Ada's
LIQUIDATOR = bech32_encode("addr", bytes([0x61]) + _hash("a liquidator", 28))
PRINCIPAL, INTEREST = 40_000_000, 572_250


def _loan_utxo(view: MemoryChainView, label: str, owner: str, qtokens: int) -> StoredUtxo:
    datum = cbor2.dumps([bytes.fromhex(owner), PRINCIPAL, INTEREST, 0, 1_000_000_000])
    return view.put(StoredUtxo(ref=f"{_hash(label).hex()}#0", address=LOAN_ADDRESS,
                               lovelace=2_000_000,
                               assets={(LOAN_TOKEN, "01"): 1, (QADA, ""): qtokens},
                               inline_datum=datum, created_slot=150_000_000))


def fate_cases(root: Path, owner: str) -> list[FateCase]:
    view = MemoryChainView()
    view.put(StoredUtxo(
        ref="07ad1a23f6bc842f6a5b0458f0eb5fb7690189f5e2d3829d9b048fa78cb887cd#1",
        address=STATE_ADDRESS, lovelace=3_000_000,
        assets={("5a3cb4f52fb3a00ab5abe62080618623811ccafab9c760d0b686e44c", ""): 1},
        inline_datum=bytes.fromhex((root / MARKET_STATE_DATUM).read_text().strip()),
        created_slot=149_000_000))
    ours, theirs = _hash("our repay tx").hex(), _hash("a liquidator's tx").hex()
    open_loan = _loan_utxo(view, "open loan", owner, 24_993_609_217)
    repaid = _loan_utxo(view, "repaid loan", owner, 24_993_609_217)
    liquidated = _loan_utxo(view, "liquidated loan", owner, 1_000_000_000)
    view.spend(repaid.ref, ours, 150_000_100, ours=True)
    view.spend(liquidated.ref, theirs, 150_000_200)
    # The liquidating tx minted Ada's Liquidation token; the pipeline indexes that output.
    view.add(f"{theirs}#0", address=LIQUIDATOR, assets={(LIQUIDATION_TOKEN, ""): 1},
             slot=150_000_200)
    return [FateCase("open loan", view, open_loan.ref, "open", debt=PRINCIPAL + INTEREST,
                     collateral={QADA_ASSET: 24_993_609_217}),
            FateCase("repaid by our tx", view, repaid.ref, "repaid", debt=0, collateral={}),
            FateCase("spent by a liquidation we did not send", view, liquidated.ref,
                     "liquidated", debt=0, collateral={})]


# --- the case ----------------------------------------------------------------------------------

def make_case(stack: ExitStack) -> VenueCase:
    root = fixtures()
    owner = make_wallet()
    stub = start_stub(stack, root, case_loan(owner.key_hash))
    source = make_source(stub.url + "/graphql", mainnet_tokens())
    wallet = owner.wallet
    builds = [
        BuildCase("lend 100 ADA", lambda s: s.build_lend("Ada", 100_000_000, wallet), wallet),
        BuildCase("withdraw 50 ADA", lambda s: s.build_withdraw("Ada", 50_000_000, wallet),
                  wallet),
        BuildCase("borrow 50 ADA against 10k qADA",
                  lambda s: s.build_borrow("Ada", 50_000_000, QADA_ASSET, 10_000_000_000, wallet),
                  wallet),
        BuildCase("repay in full", lambda s: s.build_repay(LOAN_REF, None, wallet), wallet),
        BuildCase("repay 10 ADA", lambda s: s.build_repay(LOAN_REF, 10_000_000, wallet), wallet),
        BuildCase("add 1k qADA", lambda s: s.build_add_collateral(
            LOAN_REF, QADA_ASSET, 1_000_000_000, wallet), wallet),
        BuildCase("withdraw 1k qADA", lambda s: s.build_withdraw_collateral(
            LOAN_REF, QADA_ASSET, 1_000_000_000, wallet), wallet),
    ]
    return VenueCase(
        source=source,
        builds=builds,
        fates=fate_cases(root, owner.key_hash),
        unsupported=[lambda s: s.build_cancel(LOAN_REF, wallet)],
    )
