"""Levvy's markets, from the open offers on chain (Levvy has no markets API). Pure.

One market per collateral token; the loan asset is ADA. An offer lends a fixed
`loan_amount` against a fixed `token_amount` for a fixed `interest_amount` over a fixed
term (14 days), so:

- max LTV = the best offer's loan / (its tokens × the token's price): a price is needed,
  taken from the `prices` argument (lovelace per base unit); a token without a price has
  no market here (its LTV cannot be known);
- the borrow APR and the lender's APY come from that same offer's interest and term;
- the borrower's fee (12.5 % of the interest, at acceptance) is an origination fee as a
  fraction of the borrowed amount; the lender's fee (12.5 % at claim) lowers the APY;
- there is no price liquidation: a loan is foreclosed at expiry (the lender takes the
  collateral). The model needs 0 < max LTV <= liquidation threshold <= 1, so the
  threshold is 1 (nothing happens before expiry, whatever the price), the penalty is
  None (the venue states none: at foreclosure the whole collateral goes), and
  `Fees.other` says so in words;
- utilisation = ADA lent in open loans / (that + ADA offered), available liquidity = the
  ADA of the open offers (each taken whole), minimum size = the smallest offer.

An offer whose UTxO holds less ADA than its datum lends is ignored: nothing checks an
offer when it is made (no script runs), so its datum alone proves nothing.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Mapping, Sequence

from core.units import ADA_TOKEN, Asset, Token
from protocols.model import (
    CollateralOption,
    Fees,
    Market,
    MarketStatus,
    Provenance,
    VenueRecord,
)

from .config import NetworkConfig
from .datums import VENUE

DAY_MS = 86_400_000
NO_PRICE_LIQUIDATION = ("no price liquidation: a loan is foreclosed at expiry, when the "
                        "lender takes the whole collateral")


@dataclass(frozen=True)
class CollateralPrice:
    """A collateral token with its decimals and its price in lovelace per base unit."""

    token: Token
    lovelace_per_unit: Fraction


def _decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def _asset(fields: Mapping[str, object]) -> Asset:
    policy, name = fields["collateral_policy"], fields["collateral_name"]
    assert isinstance(policy, bytes) and isinstance(name, bytes)
    return Asset(policy.hex(), name.hex())


def _int(fields: Mapping[str, object], key: str) -> int:
    value = fields[key]
    assert isinstance(value, int)
    return value


def open_offer(record: VenueRecord) -> bool:
    f = record.fields
    return (record.kind == "offer" and f.get("levvy_type") == "tokens"
            and _int(f, "loan_amount") > 0 and _int(f, "collateral_amount") > 0
            and _int(f, "utxo_lovelace") >= _int(f, "loan_amount"))


def markets_from_records(records: Sequence[tuple[VenueRecord, int]],
                         prices: Mapping[Asset, CollateralPrice],
                         config: NetworkConfig) -> list[Market]:
    offers: dict[Asset, list[tuple[VenueRecord, int]]] = defaultdict(list)
    lent: dict[Asset, int] = defaultdict(int)
    seen_ms: dict[Asset, int] = defaultdict(int)
    for record, time_ms in records:
        if record.kind == "offer" and open_offer(record):
            asset = _asset(record.fields)
            offers[asset].append((record, time_ms))
        elif record.kind == "loan" and record.fields.get("levvy_type") == "tokens":
            asset = _asset(record.fields)
            lent[asset] += _int(record.fields, "loan_amount")
        else:
            continue
        seen_ms[asset] = max(seen_ms[asset], time_ms)
    markets = []
    for asset in sorted(offers):
        price = prices.get(asset)
        if price is None or price.lovelace_per_unit <= 0:
            continue
        markets.append(_market(asset, offers[asset], lent[asset], seen_ms[asset], price,
                               config))
    return markets


def _ltv(fields: Mapping[str, object], price: CollateralPrice) -> Fraction:
    return Fraction(_int(fields, "loan_amount")) / \
        (_int(fields, "collateral_amount") * price.lovelace_per_unit)


def _market(asset: Asset, offers: list[tuple[VenueRecord, int]], lent: int, as_of_ms: int,
            price: CollateralPrice, config: NetworkConfig) -> Market:
    def rank(item: tuple[VenueRecord, int]) -> tuple[Fraction, Fraction, str]:
        f = item[0].fields
        rate = Fraction(_int(f, "interest_amount"), _int(f, "loan_amount"))
        return _ltv(f, price), -rate, item[0].ref

    best, _ = max(offers, key=rank)
    f = best.fields
    loan, interest = _int(f, "loan_amount"), _int(f, "interest_amount")
    term_days = Fraction(_int(f, "loan_duration_ms"), DAY_MS)
    period_rate = Fraction(interest, loan)
    borrower_share = Fraction(config.fees.token_borrower_percent) / 100
    lender_share = Fraction(config.fees.token_lender_percent) / 100
    lender_rate = _decimal(period_rate * (1 - lender_share))
    periods = _decimal(Fraction(365) / term_days)
    supply_apy = ((1 + lender_rate).ln() * periods).exp() - 1
    offered = sum(_int(r.fields, "loan_amount") for r, _ in offers)
    ltv = _ltv(f, price)
    notes = [NO_PRICE_LIQUIDATION,
             f"borrower pays {config.fees.token_borrower_percent} % of the interest at "
             f"acceptance, lender {config.fees.token_lender_percent} % at claim or "
             "foreclosure",
             f"fixed term of {_decimal(term_days).normalize()} days; each offer is taken whole"]
    if ltv > 1:
        notes.append(f"the best offer lends {_decimal(ltv):.4f} times the collateral's value "
                     "at the given price; max LTV shown as 1")
    return Market(
        venue=VENUE,
        market_id=str(asset),
        borrow=ADA_TOKEN,
        collaterals=(CollateralOption(token=price.token, max_ltv=_decimal(min(ltv, Fraction(1))),
                                      liquidation_threshold=Decimal(1),
                                      liquidation_penalty=None, venue_id=str(asset)),),
        borrow_apr=_decimal(period_rate * 365 / term_days),
        supply_apy=supply_apy,
        utilisation=_decimal(Fraction(lent, lent + offered)),
        available_liquidity=offered,
        min_size=min(_int(r.fields, "loan_amount") for r, _ in offers),
        fees=Fees(origination=_decimal(period_rate * borrower_share), other=tuple(notes)),
        status=MarketStatus(),
        provenance=Provenance("chain", as_of_ms, f"{len(offers)} open Levvy offers; best "
                                                 f"{best.ref}"),
        rate_fixed_at_open=True,
        partial_repay=False, loan_per_borrow=True,
    )
