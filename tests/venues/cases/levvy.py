"""Levvy's contract case: a source on the preview example configuration (docs/), plus a
`builder` section with TEST values (a made-up reference-script UTxO and cost model: no
real Levvy script is known), over an in-memory chain.

tests/support/chain_view.py is not on this branch, so `MemoryChain` below is a minimal
ChainView (plus `unspent_at`, which Levvy's builders need) over a list of StoredUtxos.
"""
from __future__ import annotations

import hashlib
import json
from contextlib import ExitStack
from fractions import Fraction
from typing import Iterable, cast

import cbor2
from pycardano import Address, Network, ScriptHash, VerificationKeyHash

from core.settings import PROJECT_ROOT
from core.settings import Network as DhlNetwork
from core.units import Asset, Token
from protocols.base import StoredUtxo
from protocols.model import VenueRecord, Wallet
from protocols.venues.levvy.config import parse_config
from protocols.venues.levvy.datums import (
    Credential,
    DatumAddress,
    Loan,
    Offer,
    OutRef,
    Repayment,
    encode_datum,
)
from protocols.venues.levvy.markets import CollateralPrice
from protocols.venues.levvy.slots import CLOCKS
from protocols.venues.levvy.source import LevvySource
from tests.venues.contract import BuildCase, FateCase, VenueCase

EXAMPLE_CONFIG = PROJECT_ROOT / "docs" / "levvy-config.example.json"
NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY_MS = 86_400_000
#: The collateral: the mainnet ANGELS token of the mainnet-addressed offer fixture.
ANGELS = Asset("285b65ae63d4fad36321384ec61edfd5187b8194fff89b5abe9876da", "414e47454c53")
MARKET = str(ANGELS)  # Levvy's markets are named by their collateral
#: TEST price and decimals (not facts): 15 lovelace per unit.
PRICES = {ANGELS: CollateralPrice(Token(ANGELS, 0, "ANGELS"), Fraction(15))}
TEST_BUILDER = {
    "validator_reference": "ab" * 32 + "#0",  # TEST: no real reference UTxO is known
    "reference_script_size": 4_000,
    "plutus_version": 3,
    "cost_model": list(range(1, 298)),  # TEST values, not a real cost model
}


def h28(label: str) -> bytes:
    return hashlib.blake2b(label.encode(), digest_size=28).digest()


def h32(label: str) -> bytes:
    return hashlib.blake2b(label.encode(), digest_size=32).digest()


def base_address(label: str) -> str:
    return str(Address(VerificationKeyHash(h28(label + "/pay")),
                       VerificationKeyHash(h28(label + "/stake")), Network.TESTNET))


def datum_address(label: str) -> DatumAddress:
    return DatumAddress(Credential("key", h28(label + "/pay")),
                        stake=Credential("key", h28(label + "/stake")))


LENDER, BORROWER = "lender", "borrower"


def config_text(builder: bool = True) -> str:
    document = json.loads(EXAMPLE_CONFIG.read_text())
    if builder:
        document["preview"]["builder"] = TEST_BUILDER
    return json.dumps(document)


def make_source(**kwargs: object) -> LevvySource:
    config = parse_config(config_text(), "preview")
    assert config is not None
    return LevvySource(DhlNetwork("preview", 2), config, prices=PRICES,
                       now_ms=lambda: NOW_MS, **kwargs)  # type: ignore[arg-type]


def validator_address(source: LevvySource, owner: str) -> str:
    assert source.config is not None
    return str(Address(ScriptHash(source.config.validator_hash),
                       VerificationKeyHash(h28(owner + "/stake")), Network.TESTNET))


# --- an in-memory chain ----------------------------------------------------------------

class MemoryChain:
    """A ChainView over StoredUtxos, with `unspent_at` for Levvy's builders."""

    def __init__(self, utxos: Iterable[StoredUtxo], ours: Iterable[str] = ()) -> None:
        self.utxos = {u.ref: u for u in utxos}
        self.ours = set(ours)

    def utxo(self, ref: str) -> StoredUtxo | None:
        return self.utxos.get(ref)

    def unspent_with_policy(self, policy: str) -> list[StoredUtxo]:
        return [u for u in self.utxos.values()
                if u.spent_tx is None and any(p == policy for p, _ in u.assets)]

    def created_by(self, tx_id: str) -> list[StoredUtxo]:
        return [u for u in self.utxos.values() if u.ref.split("#")[0] == tx_id]

    def is_ours(self, tx_id: str) -> bool:
        return tx_id in self.ours

    def slot_time_ms(self, slot: int) -> int:
        return CLOCKS["preview"].time_ms(slot)

    def unspent_at(self, credential: bytes) -> list[StoredUtxo]:
        return [u for u in self.utxos.values() if u.spent_tx is None
                and Address.from_primitive(u.address).payment_part.payload == credential]


def stored(ref: str, address: str, lovelace: int, datum: bytes,
           assets: dict[Asset, int] | None = None, spent_tx: str | None = None) -> StoredUtxo:
    return StoredUtxo(ref=ref, address=address, lovelace=lovelace,
                      assets={(a.policy, a.name): q for a, q in (assets or {}).items()},
                      inline_datum=datum, created_slot=100, spent_tx=spent_tx,
                      spent_slot=200 if spent_tx else None)


def offer_datum(token_amount: int = 19_000_000, loan: int = 200_000_000) -> Offer:
    return Offer(version="v2", form="nested", lender=datum_address(LENDER),
                 policy_id=bytes.fromhex(ANGELS.policy), asset_name=bytes.fromhex(ANGELS.name),
                 token_amount=token_amount, loan_amount=loan, interest_amount=12_000_000,
                 loan_duration_ms=14 * DAY_MS, output_reference=OutRef(b"\x00", 0))


def loan_datum(offer_ref: str, end_ms: int) -> Loan:
    return Loan(version="v2", form="nested", lender=datum_address(LENDER),
                borrower=datum_address(BORROWER), policy_id=bytes.fromhex(ANGELS.policy),
                asset_name=bytes.fromhex(ANGELS.name), token_amount=19_000_000,
                loan_amount=200_000_000, interest_amount=12_000_000, loan_end_ms=end_ms,
                offer_ref=OutRef.from_text(offer_ref))


def ref(label: str, index: int = 0) -> str:
    return f"{h32(label).hex()}#{index}"


def chain_for(source: LevvySource) -> tuple[MemoryChain, dict[str, str]]:
    """Offers, loans and a repayment at the validator; returns the chain and the refs."""
    lender_side = validator_address(source, LENDER)
    borrower_side = validator_address(source, BORROWER)
    refs = {
        "offer": ref("offer"), "cheap_offer": ref("cheap-offer"),
        "open_loan": ref("open-loan"), "ended_loan": ref("ended-loan"),
        "repaid_loan": ref("repaid-loan"), "foreclosed_loan": ref("foreclosed-loan"),
        "repayment": ref("repay-tx", 0), "claimable": ref("claimable"),
    }
    repay_tx = refs["repayment"].split("#")[0]
    foreclose_tx = h32("foreclose-tx").hex()
    collateral = {ANGELS: 19_000_000}
    live_end, past_end = NOW_MS + 5 * DAY_MS, NOW_MS - DAY_MS
    repayment = Repayment(version="v2", form="nested", lender=datum_address(LENDER),
                          token_amount=19_000_000, loan_amount=200_000_000,
                          interest_amount=12_000_000,
                          loan_ref=OutRef.from_text(refs["repaid_loan"]))
    claimable = Repayment(version="v2", form="nested", lender=datum_address(LENDER),
                          token_amount=19_000_000, loan_amount=200_000_000,
                          interest_amount=12_000_000,
                          loan_ref=OutRef.from_text(ref("some-old-loan")))
    utxos = [
        stored(refs["offer"], lender_side, 200_000_000, encode_datum(offer_datum())),
        stored(refs["cheap_offer"], lender_side, 100_000_000,
               encode_datum(offer_datum(token_amount=12_000_000, loan=100_000_000))),
        stored(refs["open_loan"], borrower_side, 2_000_000,
               encode_datum(loan_datum(ref("o1"), live_end)), collateral),
        stored(refs["ended_loan"], borrower_side, 2_000_000,
               encode_datum(loan_datum(ref("o2"), past_end)), collateral),
        stored(refs["repaid_loan"], borrower_side, 2_000_000,
               encode_datum(loan_datum(ref("o3"), live_end)), collateral, spent_tx=repay_tx),
        stored(refs["repayment"], lender_side, 212_000_000, encode_datum(repayment)),
        stored(refs["foreclosed_loan"], borrower_side, 2_000_000,
               encode_datum(loan_datum(ref("o4"), past_end)), collateral,
               spent_tx=foreclose_tx),
        stored(refs["claimable"], lender_side, 212_000_000, encode_datum(claimable)),
    ]
    return MemoryChain(utxos), refs


def with_chain(source: LevvySource) -> LevvySource:
    """`source` reading the in-memory chain of `chain_for` (the refs: `chain_for(source)[1]`,
    the same every time)."""
    source.use_chain(chain_for(source)[0])
    return source


def wallet_pair(label: str, index: int, address: str, lovelace: int,
                assets: dict[Asset, int] | None = None) -> str:
    raw_address = bytes(Address.from_primitive(address).to_primitive())
    if assets:
        multi: dict[bytes, dict[bytes, int]] = {}
        for asset, quantity in assets.items():
            multi.setdefault(bytes.fromhex(asset.policy), {})[bytes.fromhex(asset.name)] = quantity
        value: object = [lovelace, multi]
    else:
        value = lovelace
    return cbor2.dumps([[h32(label), index], [raw_address, value]]).hex()


def wallet(owner: str, *, tokens: int = 0) -> Wallet:
    address = base_address(owner)
    pairs = [wallet_pair(owner + "-ada", 0, address, 300_000_000),
             wallet_pair(owner + "-ada", 1, address, 8_000_000)]
    if tokens:
        pairs.append(wallet_pair(owner + "-tokens", 0, address, 1_500_000, {ANGELS: tokens}))
    return Wallet(address=address, utxos_cbor=tuple(pairs))


def record_of(source: LevvySource, utxo: StoredUtxo) -> VenueRecord | None:
    """What the pipeline would store for `utxo`: its output read by the source."""
    from chain.ledger import TxOut

    address = Address.from_primitive(utxo.address)
    out = TxOut(address=utxo.address, address_bytes=bytes(address.to_primitive()),
                lovelace=utxo.lovelace,
                assets={(bytes.fromhex(p), bytes.fromhex(n)): q
                        for (p, n), q in utxo.assets.items()},
                inline_datum=utxo.inline_datum)
    return source.read_output(utxo.ref, out, utxo.inline_datum)


def offer_records(source: LevvySource, chain: MemoryChain) -> list[tuple[VenueRecord, int]]:
    """The venue's current (unspent) UTxOs read, each seen a minute before NOW_MS."""
    records = []
    for utxo in chain.utxos.values():
        if utxo.spent_tx is None:
            record = record_of(source, utxo)
            assert record is not None
            records.append((record, NOW_MS - 60_000))
    return records


def make_case(stack: ExitStack) -> VenueCase:
    source = make_source()
    chain, refs = chain_for(source)
    source.use_chain(chain)
    lender, borrower = wallet(LENDER), wallet(BORROWER, tokens=25_000_000)

    def levvy(s: object) -> LevvySource:
        return cast(LevvySource, s)

    market = MARKET
    builds = [
        BuildCase("lend", lambda s: levvy(s).build_lend(
            market, 150_000_000, lender, token_amount=15_000_000, interest_amount=9_000_000),
            lender),
        BuildCase("borrow", lambda s: levvy(s).build_borrow(
            market, 200_000_000, ANGELS, 20_000_000, borrower), borrower),
        BuildCase("repay", lambda s: levvy(s).build_repay(refs["open_loan"], None, borrower),
                  borrower),
        BuildCase("cancel", lambda s: levvy(s).build_cancel(refs["offer"], lender), lender),
        BuildCase("foreclose", lambda s: levvy(s).build_foreclose(refs["ended_loan"], lender),
                  lender),
        BuildCase("claim", lambda s: levvy(s).build_claim(refs["claimable"], lender), lender),
    ]
    fates = [
        FateCase("open", chain, refs["open_loan"], "open", debt=212_000_000,
                 collateral={ANGELS: 19_000_000}),
        FateCase("repaid", chain, refs["repaid_loan"], "repaid", debt=0, collateral={}),
        FateCase("foreclosed", chain, refs["foreclosed_loan"], "liquidated", debt=0,
                 collateral={}),
    ]
    unsupported = [
        lambda s: levvy(s).build_withdraw_collateral(refs["open_loan"], ANGELS, 1, borrower),
        lambda s: levvy(s).build_add_collateral(refs["open_loan"], ANGELS, 1, borrower),
        lambda s: levvy(s).build_repay(refs["open_loan"], 100_000_000, borrower),
        lambda s: levvy(s).build_withdraw(market, 1, lender),
        lambda s: levvy(s).fetch_markets(),
        lambda s: levvy(s).fetch_loans(),
    ]
    return VenueCase(source=source, builds=builds, fates=fates, unsupported=unsupported,
                     has_markets_api=False,
                     markets_from_chain=lambda s: levvy(s).markets_from_chain(
                         offer_records(levvy(s), chain), []))
