"""A DexHunter swap, quoted and built but never signed: the pre-signing check of what it
would do (`dhl swap --dry-run`). Amounts are turned into base units here and only here."""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from core.units import ADA, Asset, UnitError, to_base
from execution.addresses import key_hashes
from execution.check import Network, check_transaction
from execution.dex.reader import unreadable_dexes
from execution.dexhunter.api import DexHunterApi
from execution.expectation import ExpectedOrder, Expectation
from execution.order_reader import DexOrderReader
from protocols.model import Intent, Transfer

#: The most network fee a swap may pay unless told otherwise (lovelace).
DEFAULT_FEE_CAP = 1_000_000


def base_amount(api: DexHunterApi, asset: Asset, amount_display: Decimal | str) -> int:
    """Display units of `asset` to base units, with the decimals DexHunter reports."""
    amount = to_base(amount_display, api.token(asset).decimals, what="--amount")
    if amount <= 0:
        raise UnitError(f"--amount must be positive, got {amount_display}")
    return amount


def dry_run_swap(api: DexHunterApi, address: str, sell: Asset, buy: Asset,
                 amount_display: Decimal | str, slippage_pct: Decimal, *,
                 readers: Sequence[DexOrderReader], now_slot: int, network: Network,
                 fee_addresses: Sequence[str] = (),
                 fee_cap: int = DEFAULT_FEE_CAP) -> dict[str, Any]:
    """Quote, build and check a swap of `amount_display` of `sell` for `buy` from `address`;
    the check's summary (JSON-ready), with the quote beside it. DexHunter routes around
    every DEX none of `readers` can read. `fee_addresses`: where the partner and DexHunter
    fees may go (each capped at the quoted fees); any other unknown output is refused."""
    if sell == buy:
        raise UnitError("--sell and --buy are the same token")
    amount_in = base_amount(api, sell, amount_display)
    blacklist = unreadable_dexes(readers)
    quote = api.estimate(sell, buy, amount_in, slippage_pct, blacklisted_dexes=blacklist)
    built = api.build(address, sell, buy, amount_in, slippage_pct,
                      blacklisted_dexes=blacklist)
    floor = max(quote.total_output, built.quote.total_output)
    fees = built.quote.fees
    platform = fees.partner + fees.dexhunter
    intent = Intent(
        action="swap", venue="dexhunter", market=f"{sell.unit or 'ADA'}/{buy.unit or 'ADA'}",
        wallet=address, leaves=(Transfer("order", sell, amount_in),),
        comes_back=(Transfer(address, buy, floor),),
        fees=tuple(Transfer(party, ADA, platform) for party in fee_addresses),
        settles="batched")
    expected = Expectation(
        intent=intent, ours=frozenset({address}), fee_cap=fee_cap,
        signers=key_hashes({address}),
        order=ExpectedOrder(want=buy, min_receive=floor,
                            dexes=frozenset(built.quote.dexes) or None,
                            max_batcher_fee=fees.batcher))
    result = check_transaction(built.tx_cbor, expected, readers=readers, now_slot=now_slot,
                               network=network)
    summary = result.summary()
    summary.update(tx_id=built.tx_id, quoted_floor=floor, amount_in=amount_in,
                   blacklisted_dexes=blacklist, dexes=list(built.quote.dexes),
                   quoted_fees={"batcher": fees.batcher, "partner": fees.partner,
                                "dexhunter": fees.dexhunter, "deposits": fees.deposits})
    return summary
