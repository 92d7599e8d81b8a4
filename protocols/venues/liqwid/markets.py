"""Liqwid's GraphQL market rows → `protocols.model.Market`. Pure.

What the API gives (recorded capture of July 2026, lending.md §1.5, §6.1):
- amounts (`liquidity`, `parameters.minValue`) in whole units of the market's asset, as
  floats: turned into base units with the asset's decimals (unknown decimals refuse);
  liquidity rounded down, a minimum rounded up;
- `supplyAPY`, `borrowAPR`, `utilization` as fractions of 1 (Ada: borrowAPR 0.0378 with
  utilization 0.0099 = borrow / supply in the same row), taken as they are. Liqwid's
  "APR" is `(1 + r)^15768 − 1` of its per-2000-s rate r (lending.md §6.1), the figure the
  chain side computes too; it equals `borrowAPY` in every recorded row;
- `loanOriginationFeePercentage` in percent, as its name says (0 on every market in the
  capture, so the scale is not confirmed by a non-zero value);
- `exchangeRate`: whole underlying per whole qToken (1 qADA ≈ 0.021 ADA);
- collateral options in `parameters.collateralParameters`: per collateral its market, its
  id `<BorrowMarket>.<qToken policy>` (ids.MarketCollateralId) and the LTV figures. The
  weighted figures (`weightedMaxLoanToValue`, `weightedLiquidationThreshold` = base value ×
  `collateralWeight`) are the effective ones and win where present.

The recorded markets capture asked for none of `receiptAsset`, `exchangeRate`,
`parameters` or `batching`: answers without them give markets with no receipt, no
receipt rate, no minimum, `collaterals=()` and batching off; nothing is made up.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Mapping, Sequence

from core.units import Asset, ReceiptRate, Token, UnitError
from protocols.model import CollateralOption, Fees, Market, MarketStatus, Provenance
from protocols.venues.liqwid import fields as f
from protocols.venues.liqwid.ids import LiqwidInputError, MarketCollateralId, market_id

log = logging.getLogger(__name__)

VENUE = "liqwid"
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class _Head:
    """What one row says about its own market, before collaterals are joined."""

    market_id: str
    token: Token
    receipt: Asset | None
    receipt_decimals: int | None
    exchange_rate: Decimal | None
    row: Mapping[str, Any]
    path: str


def asset_of(value: Any, path: str) -> Asset:
    """An API asset object (`currencySymbol` = policy id, `name` = asset name hex; ADA has
    both empty)."""
    node = f.obj(value, path)
    policy = f.text(f.field(node, "currencySymbol", path), f"{path}.currencySymbol").lower()
    name = f.text(f.field(node, "name", path), f"{path}.name").lower()
    if not policy:
        if name:
            raise f.bad(path, "an asset name without a policy id")
        return Asset()
    f.hex_text(policy, f"{path}.currencySymbol", length=56)
    if name:
        f.hex_text(name, f"{path}.name", max_length=64)
    return Asset(policy, name)


def token_of(value: Any, path: str) -> Token:
    node = f.obj(value, path)
    asset = asset_of(node, path)
    decimals = node.get("decimals")
    if decimals is None:
        raise f.bad(f"{path}.decimals", "unknown decimals: refusing to guess")
    try:
        return Token(asset, f.integer(decimals, f"{path}.decimals"),
                     f.opt_text(node.get("symbol"), f"{path}.symbol") or "")
    except UnitError as error:
        raise f.bad(f"{path}.decimals", str(error)) from None


def _head(row: Any, path: str) -> _Head:
    node = f.obj(row, path)
    try:
        ident = market_id(f.text(f.field(node, "id", path), f"{path}.id"))
    except LiqwidInputError as error:
        raise f.bad(f"{path}.id", str(error)) from None
    token = token_of(f.field(node, "asset", path), f"{path}.asset")
    receipt = receipt_decimals = None
    if node.get("receiptAsset") is not None:
        receipt_node = f.obj(node["receiptAsset"], f"{path}.receiptAsset")
        receipt = asset_of(receipt_node, f"{path}.receiptAsset")
        if receipt_node.get("decimals") is not None:
            receipt_decimals = f.integer(receipt_node["decimals"],
                                         f"{path}.receiptAsset.decimals")
    rate = f.opt_number(node.get("exchangeRate"), f"{path}.exchangeRate")
    if rate is not None and rate < 0:
        raise f.bad(f"{path}.exchangeRate", f"negative: {rate}")
    return _Head(ident, token, receipt, receipt_decimals, rate, node, path)


def receipt_rate(head: _Head) -> ReceiptRate | None:
    """The API's exchangeRate (whole per whole) as underlying base units per qToken base
    unit; None unless the rate and both decimals are known and the rate is positive."""
    if head.exchange_rate is None or head.exchange_rate <= 0 or head.receipt_decimals is None:
        return None
    scale = Fraction(10) ** (head.token.decimals - head.receipt_decimals)
    return ReceiptRate(Fraction(str(head.exchange_rate)) * scale, "api")


def _collaterals(head: _Head, heads: Mapping[str, _Head]) -> tuple[CollateralOption, ...]:
    params = head.row.get("parameters")
    if params is None:
        return ()
    path = f"{head.path}.parameters"
    listed = f.obj(params, path).get("collateralParameters")
    if listed is None:
        return ()
    options: list[CollateralOption] = []
    for i, item in enumerate(f.items(listed, f"{path}.collateralParameters")):
        where = f"{path}.collateralParameters[{i}]"
        node = f.obj(item, where)
        collateral = f.obj(f.field(node, "collateral", where), f"{where}.collateral")
        raw_id = f.text(f.field(collateral, "id", f"{where}.collateral"), f"{where}.collateral.id")
        try:
            venue_id = MarketCollateralId.parse(raw_id)
        except LiqwidInputError as error:
            raise f.bad(f"{where}.collateral.id", str(error)) from None
        if venue_id.borrow_market != head.market_id:
            log.warning("liqwid: market %s lists collateral id %s, which names another "
                        "market", head.market_id, raw_id)
        market_node = f.obj(f.field(collateral, "market", f"{where}.collateral"),
                            f"{where}.collateral.market")
        collateral_market = f.text(f.field(market_node, "id", f"{where}.collateral.market"),
                                   f"{where}.collateral.market.id")
        source = heads.get(collateral_market)
        if source is None:
            # Its decimals would be a guess: the option is left out, not invented.
            log.warning("liqwid: market %s: collateral market %s is not among the markets; "
                        "option left out", head.market_id, collateral_market)
            continue
        if source.receipt is not None and source.receipt != venue_id.held_as:
            raise f.bad(f"{where}.collateral.id", f"qToken policy {venue_id.policy} is not "
                        f"the receipt of market {collateral_market} ({source.receipt})")
        max_ltv = _effective(node, "weightedMaxLoanToValue", "maxLoanToValue", where)
        threshold = _effective(node, "weightedLiquidationThreshold", "liquidationThreshold",
                               where)
        penalty = node.get("liquidationPenalty")
        if max_ltv == 0:
            continue  # nothing may be borrowed against it
        if max_ltv > threshold:
            raise f.bad(where, f"max LTV {max_ltv} above the liquidation threshold {threshold}")
        options.append(CollateralOption(
            token=source.token,
            max_ltv=max_ltv,
            liquidation_threshold=threshold,
            liquidation_penalty=None if penalty is None
            else f.fraction_of_one(penalty, f"{where}.liquidationPenalty"),
            held_as=venue_id.held_as,
            venue_id=str(venue_id),
        ))
    return tuple(options)


def _effective(node: Mapping[str, Any], weighted: str, base: str, where: str) -> Decimal:
    if node.get(weighted) is not None:
        return f.fraction_of_one(node[weighted], f"{where}.{weighted}")
    return f.fraction_of_one(f.field(node, base, where), f"{where}.{base}")


def _market(head: _Head, heads: Mapping[str, _Head], fetched_ms: int) -> Market:
    row, path = head.row, head.path
    decimals = head.token.decimals
    liquidity = f.number(f.field(row, "liquidity", path), f"{path}.liquidity")
    params = row.get("parameters")
    min_value = None
    if params is not None:
        min_value = f.opt_number(f.obj(params, f"{path}.parameters").get("minValue"),
                                 f"{path}.parameters.minValue")
    fee_pct = f.non_negative(f.field(row, "loanOriginationFeePercentage", path),
                             f"{path}.loanOriginationFeePercentage")
    if fee_pct > HUNDRED:
        raise f.bad(f"{path}.loanOriginationFeePercentage", f"{fee_pct} is not a percentage")
    updated = row.get("updatedAt")
    detail = "GraphQL markets" + (f" (updatedAt {updated})" if isinstance(updated, str) else "")
    return Market(
        venue=VENUE,
        market_id=head.market_id,
        borrow=head.token,
        collaterals=_collaterals(head, heads),
        borrow_apr=f.non_negative(f.field(row, "borrowAPR", path), f"{path}.borrowAPR"),
        supply_apy=f.non_negative(f.field(row, "supplyAPY", path), f"{path}.supplyAPY"),
        utilisation=f.fraction_of_one(f.field(row, "utilization", path), f"{path}.utilization"),
        available_liquidity=max(0, f.whole_to_base(liquidity, decimals, round_up=False)),
        min_size=None if min_value is None
        else f.whole_to_base(f.non_negative(min_value, f"{path}.parameters.minValue"), decimals,
                             round_up=True),
        fees=Fees(origination=fee_pct / HUNDRED),
        status=MarketStatus(
            batching=False if row.get("batching") is None
            else f.boolean(row["batching"], f"{path}.batching"),
            frozen=f.boolean(f.field(row, "frozen", path), f"{path}.frozen"),
            delisting=f.boolean(f.field(row, "delisting", path), f"{path}.delisting"),
            private=f.boolean(f.field(row, "private", path), f"{path}.private"),
        ),
        provenance=Provenance("api", fetched_ms, detail),
        receipt=head.receipt,
        receipt_rate=receipt_rate(head),
        partial_repay=True,  # modifyBorrow takes any target debt
        locks_receipts=True,  # a loan locks qTokens, supplied first
    )


@dataclass(frozen=True)
class LiqwidMarkets:
    markets: tuple[Market, ...]
    #: qToken policy -> the market whose receipt it is (from receipts and from collateral
    #: options, which name their market), for `borrow`'s q<MarketId> collateral ids.
    qtoken_market: Mapping[str, str]
    #: market id -> decimals of its qToken, where the API gave them.
    receipt_decimals: Mapping[str, int]

    def get(self, ident: str) -> Market | None:
        for market in self.markets:
            if market.market_id == ident:
                return market
        return None


def parse_markets(rows: Sequence[Any], fetched_ms: int) -> LiqwidMarkets:
    """Every row as a Market (the whole answer, or MalformedResponse: never a part)."""
    heads: dict[str, _Head] = {}
    for i, row in enumerate(rows):
        head = _head(row, f"markets.results[{i}]")
        if head.market_id in heads:
            raise f.bad(f"markets.results[{i}].id", f"market {head.market_id} listed twice")
        heads[head.market_id] = head
    markets = tuple(_market(head, heads, fetched_ms) for head in heads.values())
    qtoken_market = {head.receipt.policy: ident for ident, head in heads.items()
                     if head.receipt is not None}
    for head in heads.values():
        for policy, ident in _collateral_markets(head).items():
            qtoken_market.setdefault(policy, ident)
    receipt_decimals = {ident: head.receipt_decimals for ident, head in heads.items()
                        if head.receipt_decimals is not None}
    return LiqwidMarkets(markets, qtoken_market, receipt_decimals)


def _collateral_markets(head: _Head) -> dict[str, str]:
    """qToken policy -> collateral market id, as a row's (already validated) options say."""
    params = head.row.get("parameters") or {}
    found: dict[str, str] = {}
    for item in params.get("collateralParameters") or ():
        collateral = item["collateral"]
        found[MarketCollateralId.parse(collateral["id"]).policy] = collateral["market"]["id"]
    return found
