"""Liqwid's `analytics.marketParamsHistory` rows → typed rows. Pure.

One row per MarketParams update of a market, with the mainnet tx hash of the update, the
interest model per 2,000-second period (baseRate, utilMultiplier, utilMultiplierJump,
kink), the caps (null: none), the income ratios and the APRs/APYs the API derives from
them (lending.md §6.1; recorded capture of the Ada market, July 2026).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Sequence

from protocols.venues.liqwid import fields as f


@dataclass(frozen=True)
class MarketParamsRow:
    timestamp_ms: int
    tx_hash: str
    base_rate: Decimal
    util_multiplier: Decimal
    util_multiplier_jump: Decimal
    kink: Decimal
    supply_cap: Decimal | None
    borrow_cap: Decimal | None
    income_ratio_sum: int
    income_ratio_suppliers: int
    income_ratio_dividends: int
    income_ratio_treasury: int
    base_borrower_apr: Decimal
    base_supplier_apy: Decimal
    optimal_borrower_apr: Decimal
    optimal_supplier_apy: Decimal
    max_borrower_apr: Decimal
    max_supplier_apy: Decimal


_RATES = ("baseRate", "utilMultiplier", "utilMultiplierJump")
_YEARLY = ("baseBorrowerAPR", "baseSupplierAPY", "optimalBorrowerAPR", "optimalSupplierAPY",
           "maxBorrowerAPR", "maxSupplierAPY")
_RATIOS = ("incomeRatioSum", "incomeRatioSuppliers", "incomeRatioDividends",
           "incomeRatioTreasury")


def parse_row(row: Any, path: str) -> MarketParamsRow:
    node = f.obj(row, path)
    rates = {name: f.non_negative(f.field(node, name, path), f"{path}.{name}")
             for name in _RATES + _YEARLY}
    ratios = {name: f.integer(f.field(node, name, path), f"{path}.{name}") for name in _RATIOS}
    if ratios["incomeRatioSum"] <= 0 or any(v < 0 for v in ratios.values()) or \
            ratios["incomeRatioSuppliers"] > ratios["incomeRatioSum"]:
        raise f.bad(path, f"income ratios do not add up: {ratios}")
    caps = {name: None if node.get(name) is None
            else f.fraction_of_one(node[name], f"{path}.{name}")
            for name in ("supplyCap", "borrowCap")}
    return MarketParamsRow(
        timestamp_ms=f.iso_ms(f.field(node, "timestamp", path), f"{path}.timestamp"),
        tx_hash=f.hex_text(f.field(node, "txHash", path), f"{path}.txHash", length=64),
        base_rate=rates["baseRate"],
        util_multiplier=rates["utilMultiplier"],
        util_multiplier_jump=rates["utilMultiplierJump"],
        kink=f.fraction_of_one(f.field(node, "kink", path), f"{path}.kink"),
        supply_cap=caps["supplyCap"],
        borrow_cap=caps["borrowCap"],
        income_ratio_sum=ratios["incomeRatioSum"],
        income_ratio_suppliers=ratios["incomeRatioSuppliers"],
        income_ratio_dividends=ratios["incomeRatioDividends"],
        income_ratio_treasury=ratios["incomeRatioTreasury"],
        base_borrower_apr=rates["baseBorrowerAPR"],
        base_supplier_apy=rates["baseSupplierAPY"],
        optimal_borrower_apr=rates["optimalBorrowerAPR"],
        optimal_supplier_apy=rates["optimalSupplierAPY"],
        max_borrower_apr=rates["maxBorrowerAPR"],
        max_supplier_apy=rates["maxSupplierAPY"],
    )


def parse_rows(rows: Sequence[Any]) -> list[MarketParamsRow]:
    return [parse_row(row, f"marketParamsHistory[{i}]") for i, row in enumerate(rows)]
