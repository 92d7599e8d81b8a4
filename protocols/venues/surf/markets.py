"""Surf's `getAllPoolInfos` rows as venue-neutral markets. Pure.

One market per pool: the pool asset is borrowed from (and supplied to) it; its collateral
option(s) come from `collateralAssets`. Units are checked, not assumed:
- amounts (`totalSupplied`, `totalBorrowed`, `totalCToken`) are base units (integers);
- `supplyApy`, `borrowApr`, `reserveFactor` are yearly fractions (0.05 = 5 %); a rate above
  `MAX_RATE` is refused as "probably a percentage";
- the LTVs (`maxBorrowLTV`, `liquidationThresholdLTV`) have no documented unit: a pair is read
  as fractions when both are ≤ 1, as percent when the larger is ≤ 100, as basis points when
  it is ≤ 10 000 (the contracts' own unit), and refused when the two disagree or when, read
  so, they are not 0 < max LTV ≤ threshold ≤ 1;
- `u` is utilisation in basis points (6807 = 68.07 %); without it, totalBorrowed /
  totalSupplied.
A pool that does not fit is left out with the reason, never shown with a guessed number.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Mapping

from core.units import Asset, ReceiptRate, Token, UnitError
from protocols.errors import MalformedResponse
from protocols.http import require
from protocols.model import CollateralOption, Fees, Market, MarketStatus, Provenance
from protocols.venues.surf.api import amount, asset, decimal
from protocols.venues.surf.datums import OutRef

VENUE = "surf"
MAX_RATE = Decimal(5)  # 500 % a year: above it a "fraction" is surely a percentage
ENVELOPE_NOTE = "an ADA envelope goes with each order and comes back"


@dataclass(frozen=True)
class PoolRow:
    """What the project keeps of one pool row beside its Market."""

    wire_id: str  # the pool id as the API spells it (what its builders want back)
    market: Market
    ctoken: Asset | None
    total_supplied: int
    total_borrowed: int
    total_ctoken: int | None


def market_id(wire_id: str) -> str:
    """Pool ids are outrefs; the project writes them "txid#ix" whatever the API's form."""
    try:
        return str(OutRef.parse(wire_id))
    except ValueError:
        return wire_id


def parse_pool_infos(pool_infos: Mapping[str, Any], fetched_ms: int,
                     default_batcher_fee: int) -> tuple[list[PoolRow], list[str]]:
    """(rows, problems): every pool that fits, and one line per pool left out."""
    rows: list[PoolRow] = []
    problems: list[str] = []
    for wire_id, item in sorted(pool_infos.items()):
        try:
            rows.append(parse_pool(wire_id, item, fetched_ms, default_batcher_fee))
        except (MalformedResponse, UnitError) as error:
            problems.append(f"pool {wire_id}: {error}")
    return rows, problems


def _token(value: Any, path: str) -> Token:
    item = require(VENUE, value, path, dict)
    decimals = item.get("decimals")
    if type(decimals) is not int:
        raise MalformedResponse(VENUE, f"{path}.decimals: an integer is needed, got "
                                       f"{decimals!r}; refusing to guess")
    ticker = item.get("ticker", "")
    return Token(asset(item, path), decimals, ticker if isinstance(ticker, str) else "")


def ltv_pair(max_ltv: Decimal, threshold: Decimal, path: str) -> tuple[Decimal, Decimal]:
    """Max LTV and liquidation threshold as fractions, their unit found (see module doc)."""
    if max_ltv < 0 or threshold < 0:
        raise MalformedResponse(VENUE, f"{path}: negative LTV")
    if (max_ltv <= 1) != (threshold <= 1) and max_ltv != 0:
        raise MalformedResponse(VENUE, f"{path}: max LTV {max_ltv} and threshold {threshold} "
                                       f"are in different units")
    top = max(max_ltv, threshold)
    divisor = 1 if top <= 1 else 100 if top <= 100 else 10_000 if top <= 10_000 else None
    if divisor is None:
        raise MalformedResponse(VENUE, f"{path}: LTV {top} is no fraction, percentage or "
                                       f"basis points")
    ltv, limit = max_ltv / divisor, threshold / divisor
    if not Decimal(0) < ltv <= limit <= 1:
        raise MalformedResponse(VENUE, f"{path}: max LTV {ltv} and threshold {limit} do not "
                                       f"fit 0 < max LTV <= threshold <= 1")
    return ltv, limit


def _rate(value: Any, path: str) -> Decimal:
    rate = decimal(value, path)
    if rate < 0 or rate > MAX_RATE:
        raise MalformedResponse(VENUE, f"{path}: {rate} is not a yearly fraction")
    return rate


def parse_pool(wire_id: str, value: Any, fetched_ms: int, default_batcher_fee: int) -> PoolRow:
    path = f"poolInfos[{wire_id}]"
    item = require(VENUE, value, path, dict)
    borrow = _token(item.get("asset"), f"{path}.asset")
    supplied = amount(item.get("totalSupplied"), f"{path}.totalSupplied")
    borrowed = amount(item.get("totalBorrowed"), f"{path}.totalBorrowed")
    collaterals = []
    for i, entry in enumerate(require(VENUE, item.get("collateralAssets", []),
                                      f"{path}.collateralAssets", list)):
        where = f"{path}.collateralAssets[{i}]"
        entry = require(VENUE, entry, where, dict)
        raw_ltv = entry.get("maxBorrowLTV", item.get("maxBorrowLTV"))
        raw_limit = entry.get("liquidationThresholdLTV", item.get("liquidationThresholdLTV"))
        max_ltv, limit = ltv_pair(decimal(raw_ltv, f"{where}.maxBorrowLTV"),
                                  decimal(raw_limit, f"{where}.liquidationThresholdLTV"), where)
        token = _token(entry.get("asset"), f"{where}.asset")
        # The liquidator repays the debt and takes the whole vault: no fixed penalty.
        collaterals.append(CollateralOption(token, max_ltv, limit, None,
                                            venue_id=token.asset.unit))
    if "u" in item and item["u"] is not None:
        u_bp = decimal(item["u"], f"{path}.u")
        if not 0 <= u_bp <= 10_000:
            raise MalformedResponse(VENUE, f"{path}.u: {u_bp} is not basis points 0..10000")
        utilisation = u_bp / 10_000
    else:
        utilisation = Decimal(0) if supplied == 0 else min(Decimal(borrowed) / supplied,
                                                           Decimal(1))
    ctoken = None if item.get("cToken") is None else asset(item["cToken"], f"{path}.cToken")
    total_ctoken = (None if item.get("totalCToken") is None
                    else amount(item["totalCToken"], f"{path}.totalCToken"))
    receipt_rate = None
    if total_ctoken:
        if supplied == 0:
            raise MalformedResponse(VENUE, f"{path}: cTokens exist but nothing is supplied")
        receipt_rate = ReceiptRate(Fraction(supplied, total_ctoken), "api")
    elif total_ctoken == 0 and supplied == 0:
        receipt_rate = ReceiptRate(Fraction(1), "api")  # the first deposit mints 1:1
    fee = item.get("batcherFee")
    batcher_fee = default_batcher_fee if fee is None else amount(fee, f"{path}.batcherFee")
    market = Market(
        venue=VENUE, market_id=market_id(wire_id), borrow=borrow,
        collaterals=tuple(collaterals),
        borrow_apr=_rate(item.get("borrowApr"), f"{path}.borrowApr"),
        supply_apy=_rate(item.get("supplyApy"), f"{path}.supplyApy"),
        utilisation=utilisation,
        available_liquidity=max(0, supplied - borrowed),
        min_size=None,
        fees=Fees(origination=Decimal(0), batcher_lovelace=batcher_fee,
                  other=(ENVELOPE_NOTE,)),
        status=MarketStatus(),
        provenance=Provenance("api", fetched_ms, "getAllPoolInfos"),
        receipt=ctoken, receipt_rate=receipt_rate,
        rate_fixed_at_open=True, partial_repay=False,
        loan_per_borrow=True)
    return PoolRow(wire_id, market, ctoken, supplied, borrowed, total_ctoken)
