"""What every lending venue promises, as data a venue's case module provides
(tests/venues/cases/<venue>.py) and checks tests/venues/test_contract.py runs on each.

A case module defines `make_case(stack: ExitStack) -> VenueCase`: it starts the venue's
stub servers (closing them through `stack`) and returns a source pointed at them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from core.units import Asset
from protocols.base import ChainView, LeverageSource
from protocols.model import LoanState, UnsignedTx, Wallet


@dataclass
class BuildCase:
    """One builder call, and the input values the wallet spends (ref -> (lovelace,
    assets)) so the check can account for what leaves it."""

    name: str
    build: Callable[[LeverageSource], UnsignedTx]
    wallet: Wallet


@dataclass
class FateCase:
    name: str
    view: ChainView
    loan_ref: str
    expected: LoanState
    debt: int | None = None
    collateral: dict[Asset, int] | None = None


@dataclass
class VenueCase:
    source: LeverageSource
    builds: list[BuildCase]
    fates: list[FateCase]
    #: Builders the venue does not offer, each checked to raise Unsupported.
    unsupported: list[Callable[[LeverageSource], object]] = field(default_factory=list)
    #: Whether the venue has a markets API (Levvy has none: its markets come from chain).
    has_markets_api: bool = True
    markets_from_chain: Callable[[LeverageSource], list] | None = None
