"""Liqwid's GraphQL loan rows → typed loans. Pure.

Fields (recorded capture of July 2026; lending.md §6.1): `marketId`, `publicKey` (the
owner's payment key hash), `amount` (the debt, whole units of the market's asset),
`healthFactor`, `LTV`, `APY`, `collaterals { id qTokenName qTokenAmount market { id } }`
with `id` the bare qToken policy (ids.LoanCollateralId) and `qTokenAmount` in whole qTokens;
`id` (`<txHash>-<index>`), `transactionId` and `transactionIndex` when asked for (the
recorded query did not ask, so a loan may come without an id).

The `CAN_BE_LIQUIDATED` filter returns rows with `collaterals: []`, `healthFactor: 0` and
`LTV: -1`: the API cannot value those loans. They parse into a loan whose health is
unknown (with the reason), never into a health factor of 0 or an LTV of -1.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Sequence

from protocols.venues.liqwid import fields as f
from protocols.venues.liqwid.ids import LiqwidInputError, LoanCollateralId, LoanId, market_id

#: The API's "no LTV" value (rows it cannot value).
NO_LTV = Decimal(-1)


@dataclass(frozen=True)
class LoanCollateral:
    id: LoanCollateralId
    market_id: str  # the collateral's market (whose qTokens these are)
    qtokens: Decimal  # whole qTokens, as the API reports them
    qtoken_name: str = ""


@dataclass(frozen=True)
class LoanHealth:
    known: bool
    health_factor: Decimal | None
    ltv: Decimal | None
    reason: str = ""  # why unknown

    @property
    def label(self) -> str:
        return "known" if self.known else "unknown"


@dataclass(frozen=True)
class LiqwidLoan:
    loan_id: LoanId | None
    market_id: str
    owner: str  # payment key hash, hex
    debt: Decimal  # whole units of the market's asset
    apy: Decimal | None
    health: LoanHealth
    collaterals: tuple[LoanCollateral, ...]


def _loan_id(node: Any, path: str) -> LoanId | None:
    raw = node.get("id")
    tx = node.get("transactionId")
    index = node.get("transactionIndex")
    try:
        parsed = None if raw is None else LoanId.parse(f.text(raw, f"{path}.id"))
        if tx is not None:
            by_fields = LoanId(f.text(tx, f"{path}.transactionId"),
                               None if index is None else f.integer(index,
                                                                    f"{path}.transactionIndex"))
            if parsed is None:
                return by_fields
            if parsed.tx_hash != by_fields.tx_hash or (
                    parsed.index is not None and by_fields.index is not None
                    and parsed.index != by_fields.index):
                raise f.bad(path, f"id {raw} disagrees with transactionId/transactionIndex")
            if parsed.index is None:
                return by_fields
    except LiqwidInputError as error:
        raise f.bad(path, str(error)) from None
    return parsed


def _collateral(item: Any, path: str) -> LoanCollateral:
    node = f.obj(item, path)
    try:
        ident = LoanCollateralId.parse(f.text(f.field(node, "id", path), f"{path}.id"))
        market = market_id(f.text(f.field(f.obj(f.field(node, "market", path), f"{path}.market"),
                                          "id", f"{path}.market"), f"{path}.market.id"))
    except LiqwidInputError as error:
        raise f.bad(path, str(error)) from None
    return LoanCollateral(
        id=ident,
        market_id=market,
        qtokens=f.non_negative(f.field(node, "qTokenAmount", path), f"{path}.qTokenAmount"),
        qtoken_name=f.opt_text(node.get("qTokenName"), f"{path}.qTokenName") or "",
    )


def _health(node: Any, collaterals: tuple[LoanCollateral, ...], path: str) -> LoanHealth:
    factor = f.opt_number(node.get("healthFactor"), f"{path}.healthFactor")
    ltv = f.opt_number(node.get("LTV"), f"{path}.LTV")
    if factor is not None and factor < 0:
        raise f.bad(f"{path}.healthFactor", f"negative: {factor}")
    if ltv is not None and ltv < 0 and ltv != NO_LTV:
        raise f.bad(f"{path}.LTV", f"negative: {ltv}")
    if not collaterals:
        return LoanHealth(False, None, None, "the API lists no collateral for this loan "
                                             f"(healthFactor {factor}, LTV {ltv})")
    if ltv is None or ltv == NO_LTV:
        return LoanHealth(False, None, None, f"the API gives no LTV (LTV {ltv})")
    if factor is None or factor == 0:
        return LoanHealth(False, None, ltv, f"the API gives no health factor ({factor})")
    return LoanHealth(True, factor, ltv)


def parse_loan(row: Any, path: str) -> LiqwidLoan:
    node = f.obj(row, path)
    owner = f.hex_text(f.field(node, "publicKey", path), f"{path}.publicKey", length=56)
    try:
        market = market_id(f.text(f.field(node, "marketId", path), f"{path}.marketId"))
    except LiqwidInputError as error:
        raise f.bad(f"{path}.marketId", str(error)) from None
    collaterals = tuple(_collateral(item, f"{path}.collaterals[{i}]")
                        for i, item in enumerate(f.items(f.field(node, "collaterals", path),
                                                         f"{path}.collaterals")))
    return LiqwidLoan(
        loan_id=_loan_id(node, path),
        market_id=market,
        owner=owner,
        debt=f.non_negative(f.field(node, "amount", path), f"{path}.amount"),
        apy=None if node.get("APY") is None else f.non_negative(node["APY"], f"{path}.APY"),
        health=_health(node, collaterals, path),
        collaterals=collaterals,
    )


def parse_loans(rows: Sequence[Any]) -> list[LiqwidLoan]:
    return [parse_loan(row, f"loans.results[{i}]") for i, row in enumerate(rows)]
