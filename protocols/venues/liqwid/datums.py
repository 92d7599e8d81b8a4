"""Liqwid datums as typed records. Pure; every shape check raises DatumLayoutError naming
the field.

- MarketState: 11 fields (lending.md §1.2; Liqwid-Labs/defi-sdk's LiqwidStateDatum).
  Real datums come as definite and as indefinite lists; `reserve` can be negative.
- Action: [ActionValue (5 integers), reserved_supply], lists (lending.md §1.2).
- Loan: [owner pkh, principal, interest, min_interest, index (FixedDecimal, 9 dp)]
  (lending.md §6.1, from Liqwid-Labs/defi-sdk); no live loan UTxO has been decoded.
- MarketParams: a 34-item list whose layout is published nowhere. The positions named here
  were found by structure from mainnet tx 1c280d01 (its Ada and DJED datums) against the
  API's marketParamsHistory row for that tx (tests/venues/test_liqwid_chain.py proves it):
    2  [sum, suppliers, dividends, treasury] income ratios (the row: 10, 8, 0, 0; the order
       of dividends and treasury follows the API's field order: both are 0 in that row);
    9  the Loan validator hash; 20 the Action validator; 21 the Batch validator;
    11 [base_rate, util_multiplier, jump_multiplier, kink], four ratios (per 2000 s period);
    32 borrow cap: Maybe ratio (a utilisation; Nothing: no cap); 33 supply cap: Maybe
       (Nothing in every datum seen).
  Every other position keeps the shape both datums show and is kept, unnamed, by position.
- Batch: its layout is unknown; the record says only that it is a Batch of its market.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable

from protocols.venues.liqwid.plutusdata import (
    VENUE,
    as_hash,
    as_int,
    as_list,
    as_maybe,
    as_constr,
    as_ratio,
    decode,
    layout_error,
    plain,
)

__all__ = ["VENUE", "Action", "ActionValue", "IncomeRatio", "Loan", "MarketParams",
           "MarketState", "RateModel", "decode_action", "decode_loan", "decode_market_params",
           "decode_market_state"]

#: The FixedDecimal scale of interest indexes (9 decimal places).
INDEX_SCALE = 10**9


@dataclass(frozen=True)
class MarketState:
    supply: int  # underlying in the pool, not lent (base units)
    reserve: int  # may be negative
    qtokens: int
    principal: int
    interest: int
    interest_index: int  # FixedDecimal, 9 dp (INDEX_SCALE)
    interest_rate: Fraction  # per 2000-second period, at the last update
    last_interest_time: int  # POSIX ms
    last_batch: int  # POSIX ms
    qtoken_rate: Fraction  # underlying per qToken
    min_ada: int

    def fields(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ActionValue:
    supply_diff: int
    qtokens_diff: int
    principal_diff: int
    interest_diff: int
    extra_interest_repaid: int


@dataclass(frozen=True)
class Action:
    value: ActionValue
    reserved_supply: int

    def fields(self) -> dict[str, Any]:
        return {**self.value.__dict__, "reserved_supply": self.reserved_supply}


@dataclass(frozen=True)
class Loan:
    owner: bytes  # payment key hash of the borrower
    principal: int
    interest: int
    min_interest: int
    index: int  # FixedDecimal, 9 dp: the market's interest index when last updated

    @property
    def debt(self) -> int:
        """What the borrower owes (Liqwid-Labs/defi-sdk: principal + minInterest +
        interest)."""
        return self.principal + self.interest + self.min_interest

    def fields(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RateModel:
    """The borrow-rate model, per 2000-second period (lending.md §6.1)."""

    base_rate: Fraction
    util_multiplier: Fraction
    jump_multiplier: Fraction
    kink: Fraction
    borrow_cap: Fraction | None  # the highest utilisation borrowing may reach; None: no cap
    #: None: no cap. Only Nothing has been seen: a Just is read as a ratio or, if it holds an
    #: integer, as an amount in base units.
    supply_cap: Fraction | int | None


@dataclass(frozen=True)
class IncomeRatio:
    """How interest income is split: `suppliers / sum` goes to suppliers."""

    sum: int
    suppliers: int
    dividends: int
    treasury: int

    @property
    def suppliers_share(self) -> Fraction:
        return Fraction(self.suppliers, self.sum)


@dataclass(frozen=True)
class MarketParams:
    rate_model: RateModel
    income: IncomeRatio
    loan_validator: bytes
    action_validator: bytes
    batch_validator: bytes
    #: The positions whose meaning is not established, as plain data by position.
    unnamed: dict[int, Any] = field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        model = self.rate_model
        return {
            "base_rate": model.base_rate,
            "util_multiplier": model.util_multiplier,
            "jump_multiplier": model.jump_multiplier,
            "kink": model.kink,
            "borrow_cap": model.borrow_cap,
            "supply_cap": model.supply_cap,
            "income_ratio": dict(self.income.__dict__),
            "loan_validator": self.loan_validator,
            "action_validator": self.action_validator,
            "batch_validator": self.batch_validator,
            "unnamed": {str(position): value for position, value in self.unnamed.items()},
        }


# --- decoders ------------------------------------------------------------------------

MARKET_STATE_FIELDS = ("supply", "reserve", "qtokens", "principal", "interest",
                       "interest_index", "interest_rate", "last_interest_time", "last_batch",
                       "qtoken_rate", "min_ada")
_RATIO_FIELDS = {"interest_rate", "qtoken_rate"}


def decode_market_state(datum_cbor: bytes) -> MarketState:
    items = as_list(decode(datum_cbor, "MarketState"), "MarketState", len(MARKET_STATE_FIELDS))
    values: dict[str, Any] = {}
    for name, item in zip(MARKET_STATE_FIELDS, items):
        where = f"MarketState.{name}"
        values[name] = as_ratio(item, where) if name in _RATIO_FIELDS else as_int(item, where)
    # Utilisation and the qToken rate divide by these: a negative one is refused (reserve,
    # interest and the index are only carried).
    for name in ("supply", "qtokens", "principal"):
        if values[name] < 0:
            raise layout_error(f"MarketState.{name}", f"negative: {values[name]}")
    if values["qtoken_rate"] <= 0:
        raise layout_error("MarketState.qtoken_rate", f"not positive: {values['qtoken_rate']}")
    return MarketState(**values)


ACTION_VALUE_FIELDS = ("supply_diff", "qtokens_diff", "principal_diff", "interest_diff",
                       "extra_interest_repaid")


def decode_action(datum_cbor: bytes) -> Action:
    items = as_list(decode(datum_cbor, "Action"), "Action", 2)
    diffs = as_list(items[0], "Action.value", len(ACTION_VALUE_FIELDS))
    value = ActionValue(**{name: as_int(item, f"Action.{name}")
                           for name, item in zip(ACTION_VALUE_FIELDS, diffs)})
    return Action(value, as_int(items[1], "Action.reserved_supply"))


def decode_loan(datum_cbor: bytes) -> Loan:
    items = as_list(decode(datum_cbor, "Loan"), "Loan", 5)
    loan = Loan(
        owner=as_hash(items[0], "Loan.owner"),
        principal=as_int(items[1], "Loan.principal"),
        interest=as_int(items[2], "Loan.interest"),
        min_interest=as_int(items[3], "Loan.min_interest"),
        index=as_int(items[4], "Loan.index"),
    )
    for name in ("principal", "interest", "min_interest", "index"):
        if getattr(loan, name) < 0:
            raise layout_error(f"Loan.{name}", f"negative: {getattr(loan, name)}")
    return loan


# MarketParams: the shape of every position, as both real datums show it.
MARKET_PARAMS_SIZE = 34
INCOME_RATIO, LOAN_VALIDATOR, INTEREST_MODEL = 2, 9, 11
ACTION_VALIDATOR, BATCH_VALIDATOR, BORROW_CAP, SUPPLY_CAP = 20, 21, 32, 33


def _int_list(size: int) -> Callable[[Any, str], Any]:
    def check(value: Any, where: str) -> list[int]:
        return [as_int(item, f"{where}[{i}]")
                for i, item in enumerate(as_list(value, where, size))]
    return check


def _any_list(value: Any, where: str) -> list[Any]:
    return as_list(value, where)


def _ratio_list(size: int) -> Callable[[Any, str], Any]:
    def check(value: Any, where: str) -> list[Fraction]:
        return [as_ratio(item, f"{where}[{i}]")
                for i, item in enumerate(as_list(value, where, size))]
    return check


def _maybe_ratio(value: Any, where: str) -> Fraction | None:
    return as_maybe(value, where, as_ratio)


def _ratio_or_amount(value: Any, where: str) -> Fraction | int:
    return as_int(value, where) if type(value) is int else as_ratio(value, where)


def _maybe_cap(value: Any, where: str) -> Fraction | int | None:
    return as_maybe(value, where, _ratio_or_amount)


_SHAPES: dict[int, Callable[[Any, str], Any]] = {
    0: as_ratio, 1: as_int, INCOME_RATIO: _int_list(4), 3: as_int, 4: as_int, 5: as_int,
    6: as_int, 7: as_int, 8: _any_list, LOAN_VALIDATOR: as_hash, 10: as_int,
    INTEREST_MODEL: _ratio_list(4), 12: as_ratio, 13: as_ratio, 14: as_int, 15: as_ratio,
    16: as_ratio, 17: as_ratio, 18: as_ratio, 19: as_ratio, ACTION_VALIDATOR: as_hash,
    BATCH_VALIDATOR: as_hash, 22: as_hash, 23: as_constr, 24: as_hash, 25: as_constr,
    26: _any_list, 27: as_int, 28: as_int, 29: as_int, 30: as_constr, 31: as_constr,
    BORROW_CAP: _maybe_ratio, SUPPLY_CAP: _maybe_cap,
}
_NAMED = {INCOME_RATIO, LOAN_VALIDATOR, INTEREST_MODEL, ACTION_VALIDATOR, BATCH_VALIDATOR,
          BORROW_CAP, SUPPLY_CAP}


def decode_market_params(datum_cbor: bytes) -> MarketParams:
    items = as_list(decode(datum_cbor, "MarketParams"), "MarketParams", MARKET_PARAMS_SIZE)
    read = [_SHAPES[i](item, f"MarketParams[{i}]") for i, item in enumerate(items)]

    sum_, suppliers, dividends, treasury = read[INCOME_RATIO]
    where = f"MarketParams[{INCOME_RATIO}] (income ratio)"
    if sum_ <= 0 or min(suppliers, dividends, treasury) < 0 or suppliers > sum_:
        raise layout_error(where, f"not [sum > 0, suppliers <= sum, dividends, treasury]: "
                                  f"{read[INCOME_RATIO]}")

    base, multiplier, jump, kink = read[INTEREST_MODEL]
    where = f"MarketParams[{INTEREST_MODEL}] (interest model)"
    if min(base, multiplier, jump) < 0 or not 0 <= kink <= 1:
        raise layout_error(where, f"rates must be >= 0 and the kink in [0, 1]: "
                                  f"{[str(r) for r in read[INTEREST_MODEL]]}")
    borrow_cap, supply_cap = read[BORROW_CAP], read[SUPPLY_CAP]
    if borrow_cap is not None and not 0 < borrow_cap <= 1:
        raise layout_error(f"MarketParams[{BORROW_CAP}] (borrow cap)",
                           f"not in (0, 1]: {borrow_cap}")
    if supply_cap is not None and supply_cap <= 0:
        raise layout_error(f"MarketParams[{SUPPLY_CAP}] (supply cap)",
                           f"not positive: {supply_cap}")

    return MarketParams(
        rate_model=RateModel(base_rate=base, util_multiplier=multiplier, jump_multiplier=jump,
                             kink=kink, borrow_cap=borrow_cap, supply_cap=supply_cap),
        income=IncomeRatio(sum=sum_, suppliers=suppliers, dividends=dividends,
                           treasury=treasury),
        loan_validator=read[LOAN_VALIDATOR],
        action_validator=read[ACTION_VALIDATOR],
        batch_validator=read[BATCH_VALIDATOR],
        unnamed={i: plain(item, f"MarketParams[{i}]")
                 for i, item in enumerate(items) if i not in _NAMED},
    )
