"""A `Market` as a plain dict and back, exactly: what store/venue_markets.py keeps.

The dict follows store/'s rules (docs/storage.md): amounts (base units) as decimal
strings, rates and ratios (`Decimal`) as their canonical strings, exact ratios
(`Fraction`) as "num/den", times as integer milliseconds, no floats, no nested arrays,
and no null fields (an absent key is None). `market_from_dict(market_to_dict(m)) == m`.
Pure.
"""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any, Mapping

from core.decimals import NotFinite, finite_decimal
from core.units import Asset, ReceiptRate, Token, UnitError
from protocols.model import (CollateralOption, Fees, Market, MarketStatus, OraclePrice,
                             Provenance)

VERSION = 1
_STATUS = ("batching", "frozen", "delisting", "private")


class MarketCodecError(ValueError):
    """A stored market that is not in the form this module writes."""


# --- to a dict ------------------------------------------------------------------------

def market_to_dict(market: Market) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "v": VERSION, "venue": market.venue, "market_id": market.market_id,
        "borrow": _token(market.borrow),
        "collaterals": [_option(o) for o in market.collaterals],
        "borrow_apr": _dec(market.borrow_apr), "supply_apy": _dec(market.supply_apy),
        "utilisation": _dec(market.utilisation),
        "available_liquidity": _int(market.available_liquidity),
        "fees": {"origination": _dec(market.fees.origination),
                 "batcher_lovelace": _int(market.fees.batcher_lovelace),
                 "other": [str(x) for x in market.fees.other]},
        "status": {name: bool(getattr(market.status, name)) for name in _STATUS},
        "provenance": _provenance(market.provenance),
        "rate_fixed_at_open": bool(market.rate_fixed_at_open),
        "partial_repay": bool(market.partial_repay),
        "loan_per_borrow": bool(market.loan_per_borrow),
        "locks_receipts": bool(market.locks_receipts),
        "other_provenance": {str(k): _provenance(v) for k, v in market.other_provenance.items()},
    }
    if market.min_size is not None:
        doc["min_size"] = _int(market.min_size)
    if market.receipt is not None:
        doc["receipt"] = _asset(market.receipt)
    if market.receipt_rate is not None:
        rate = market.receipt_rate.underlying_per_receipt
        doc["receipt_rate"] = {"underlying_per_receipt": f"{rate.numerator}/{rate.denominator}",
                               "source": market.receipt_rate.source}
    return doc


def _int(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MarketCodecError(f"an amount must be an int, got {value!r}")
    return str(value)


def _dec(value: Decimal) -> str:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise MarketCodecError(f"a rate must be a finite Decimal, got {value!r}")
    return str(value)


def _asset(asset: Asset) -> dict[str, str]:
    return {"policy": asset.policy, "name": asset.name}


def _token(token: Token) -> dict[str, Any]:
    return {**_asset(token.asset), "decimals": token.decimals, "ticker": token.ticker}


def _option(option: CollateralOption) -> dict[str, Any]:
    doc: dict[str, Any] = {"token": _token(option.token), "max_ltv": _dec(option.max_ltv),
                           "liquidation_threshold": _dec(option.liquidation_threshold),
                           "venue_id": option.venue_id}
    if option.liquidation_penalty is not None:
        doc["liquidation_penalty"] = _dec(option.liquidation_penalty)
    if option.held_as is not None:
        doc["held_as"] = _asset(option.held_as)
    if option.oracle_price is not None:
        doc["oracle_price"] = _oracle(option.oracle_price)
    return doc


def _oracle(oracle: OraclePrice) -> dict[str, Any]:
    if isinstance(oracle.as_of_ms, bool) or not isinstance(oracle.as_of_ms, int):
        raise MarketCodecError(f"an oracle's as_of_ms must be an int, got {oracle.as_of_ms!r}")
    return {"price": _dec(oracle.price), "as_of_ms": oracle.as_of_ms,
            "source": str(oracle.source)}


def _provenance(p: Provenance) -> dict[str, Any]:
    if isinstance(p.as_of_ms, bool) or not isinstance(p.as_of_ms, int):
        raise MarketCodecError(f"as_of_ms must be an int, got {p.as_of_ms!r}")
    return {"source": p.source, "as_of_ms": p.as_of_ms, "detail": p.detail}


# --- from a dict ----------------------------------------------------------------------

def market_from_dict(doc: Mapping[str, Any]) -> Market:
    try:
        if doc.get("v") != VERSION:
            raise MarketCodecError(f"unknown market form version {doc.get('v')!r}")
        status = _map(doc, "status")
        fees = _map(doc, "fees")
        return Market(
            venue=_str(doc, "venue"), market_id=_str(doc, "market_id"),
            borrow=_token_of(_map(doc, "borrow")),
            collaterals=tuple(_option_of(o) for o in _list(doc, "collaterals")),
            borrow_apr=_dec_of(doc, "borrow_apr"), supply_apy=_dec_of(doc, "supply_apy"),
            utilisation=_dec_of(doc, "utilisation"),
            available_liquidity=_int_of(doc, "available_liquidity"),
            min_size=_int_of(doc, "min_size") if "min_size" in doc else None,
            fees=Fees(_dec_of(fees, "origination"), _int_of(fees, "batcher_lovelace"),
                      tuple(_strs(fees, "other"))),
            status=MarketStatus(**{name: _bool(status, name) for name in _STATUS}),
            provenance=_provenance_of(_map(doc, "provenance")),
            receipt=_asset_of(_map(doc, "receipt")) if "receipt" in doc else None,
            receipt_rate=_rate_of(_map(doc, "receipt_rate")) if "receipt_rate" in doc else None,
            rate_fixed_at_open=_bool(doc, "rate_fixed_at_open"),
            partial_repay=_bool(doc, "partial_repay"),
            loan_per_borrow=bool(doc.get("loan_per_borrow", False)),
            locks_receipts=bool(doc.get("locks_receipts", False)),
            other_provenance={str(k): _provenance_of(v) for k, v in
                              _map(doc, "other_provenance").items()},
        )
    except MarketCodecError:
        raise
    except (UnitError, TypeError, AttributeError, ZeroDivisionError) as error:
        raise MarketCodecError(f"not a stored market: {error}") from None


def _field(doc: Mapping[str, Any], key: str) -> Any:
    if not isinstance(doc, Mapping) or key not in doc:
        raise MarketCodecError(f"stored market: {key!r} missing")
    return doc[key]


def _typed(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = _field(doc, key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MarketCodecError(f"stored market: {key!r} is {value!r}")
    return value


def _str(doc: Mapping[str, Any], key: str) -> str:
    return _typed(doc, key, str)


def _bool(doc: Mapping[str, Any], key: str) -> bool:
    return _typed(doc, key, bool)


def _map(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    return _typed(doc, key, Mapping)


def _list(doc: Mapping[str, Any], key: str) -> list[Any]:
    return list(_typed(doc, key, (list, tuple)))


def _strs(doc: Mapping[str, Any], key: str) -> list[str]:
    values = _list(doc, key)
    if not all(isinstance(v, str) for v in values):
        raise MarketCodecError(f"stored market: {key!r} holds a non-string")
    return values


def _int_of(doc: Mapping[str, Any], key: str) -> int:
    text = _str(doc, key)
    body = text[1:] if text.startswith("-") else text
    if not body.isdigit() or not body.isascii():
        raise MarketCodecError(f"stored market: {key!r} is not an integer: {text!r}")
    return int(text)


def _dec_of(doc: Mapping[str, Any], key: str) -> Decimal:
    text = _str(doc, key)
    try:
        return finite_decimal(text)
    except NotFinite:
        raise MarketCodecError(f"stored market: {key!r} is not finite: {text!r}") from None
    except ValueError:
        raise MarketCodecError(f"stored market: {key!r} is not a decimal: {text!r}") from None


def _asset_of(doc: Mapping[str, Any]) -> Asset:
    return Asset(_str(doc, "policy"), _str(doc, "name"))


def _token_of(doc: Mapping[str, Any]) -> Token:
    return Token(_asset_of(doc), _typed(doc, "decimals", int), _str(doc, "ticker"))


def _option_of(doc: Any) -> CollateralOption:
    if not isinstance(doc, Mapping):
        raise MarketCodecError(f"stored market: a collateral option is {doc!r}")
    return CollateralOption(
        token=_token_of(_map(doc, "token")), max_ltv=_dec_of(doc, "max_ltv"),
        liquidation_threshold=_dec_of(doc, "liquidation_threshold"),
        liquidation_penalty=_dec_of(doc, "liquidation_penalty")
        if "liquidation_penalty" in doc else None,
        held_as=_asset_of(_map(doc, "held_as")) if "held_as" in doc else None,
        venue_id=_str(doc, "venue_id"),
        oracle_price=_oracle_of(_map(doc, "oracle_price")) if "oracle_price" in doc else None)


def _oracle_of(doc: Mapping[str, Any]) -> OraclePrice:
    return OraclePrice(_dec_of(doc, "price"), _typed(doc, "as_of_ms", int), _str(doc, "source"))


def _provenance_of(doc: Any) -> Provenance:
    if not isinstance(doc, Mapping):
        raise MarketCodecError(f"stored market: a provenance is {doc!r}")
    source = _str(doc, "source")
    if source not in ("chain", "api"):
        raise MarketCodecError(f"stored market: unknown source {source!r}")
    as_of_ms = _typed(doc, "as_of_ms", int)
    return Provenance(source, as_of_ms, _str(doc, "detail"))  # type: ignore[arg-type]


def _rate_of(doc: Mapping[str, Any]) -> ReceiptRate:
    text = _str(doc, "underlying_per_receipt")
    num, sep, den = text.partition("/")
    if not sep or not num.isdigit() or not den.isdigit():
        raise MarketCodecError(f"stored market: a receipt rate is {text!r}")
    return ReceiptRate(Fraction(int(num), int(den)), _str(doc, "source"))


# --- for people and tools (`dhl venues markets --json`) --------------------------------

def market_json(market: Market) -> dict[str, Any]:
    """JSON for people and tools: amounts as JSON integers (base units), rates and ratios
    as decimal strings, exact ratios as [num, den]; absent values as null."""
    rate = market.receipt_rate
    return {
        "venue": market.venue, "market": market.market_id,
        "borrow": _token_json(market.borrow),
        "collaterals": [{**_token_json(o.token), "max_ltv": str(o.max_ltv),
                         "liquidation_threshold": str(o.liquidation_threshold),
                         "liquidation_penalty": None if o.liquidation_penalty is None
                         else str(o.liquidation_penalty),
                         "held_as": None if o.held_as is None else o.held_as.unit,
                         "venue_id": o.venue_id,
                         "oracle_price": _oracle_json(o.oracle_price)}
                        for o in market.collaterals],
        "borrow_apr": str(market.borrow_apr), "supply_apy": str(market.supply_apy),
        "utilisation": str(market.utilisation),
        "available_liquidity": market.available_liquidity, "min_size": market.min_size,
        "fees": {"origination": str(market.fees.origination),
                 "batcher_lovelace": market.fees.batcher_lovelace,
                 "other": list(market.fees.other)},
        "status": {name: getattr(market.status, name) for name in _STATUS},
        "usable": market.status.usable,
        "source": market.provenance.source, "as_of_ms": market.provenance.as_of_ms,
        "detail": market.provenance.detail,
        "other_sources": {k: {"source": v.source, "as_of_ms": v.as_of_ms, "detail": v.detail}
                          for k, v in market.other_provenance.items()},
        "receipt": None if market.receipt is None else market.receipt.unit,
        "receipt_rate": None if rate is None else
        [rate.underlying_per_receipt.numerator, rate.underlying_per_receipt.denominator],
        "rate_fixed_at_open": market.rate_fixed_at_open,
        "partial_repay": market.partial_repay,
        "loan_per_borrow": market.loan_per_borrow,
        "locks_receipts": market.locks_receipts,
    }


def _oracle_json(oracle: OraclePrice | None) -> dict[str, Any] | None:
    if oracle is None:
        return None
    return {"price": str(oracle.price), "as_of_ms": oracle.as_of_ms, "source": oracle.source}


def _token_json(token: Token) -> dict[str, Any]:
    return {"unit": token.asset.unit, "ticker": token.ticker, "decimals": token.decimals}
