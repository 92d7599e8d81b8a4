"""What the Liqwid stub adds to the recorded markets for paper trading (`paper_markets`).

The recorded markets page has no `receiptAsset`, `exchangeRate` or `parameters`: without
them no position can be planned on Liqwid (no collateral option, no qToken rate). Paper
mode fills them in for two markets whose every script and token the project knows
(protocols/venues/liqwid/networks/mainnet.json): Ada and DJED, so a long DJED (qDJED
locked, ADA borrowed) and a short DJED (qADA locked, DJED borrowed) can run end to end.

Where each figure comes from:
- qADA's and qDJED's policies: the market registry in the fixtures (real);
- Ada's exchange rate: the qTokenRate of the real 2026 Ada MarketState datum in the
  fixtures (real, read at run time);
- DJED's exchange rate 0.02 and both qTokens' 6 decimals: SYNTHETIC;
- the collateral parameters: Liqwid's own for qADA on the Ada market (effective max LTV
  0.704, liquidation threshold 0.81, penalty 0.10; lending.md §6.1), applied to the two
  pairs above: SYNTHETIC for those pairs.
"""
from __future__ import annotations

from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import cbor2

QADA = "a04ce7a52545e5e33c2867e148898d9e667a69602285f6a1298f9d68"
QDJED = "6df63e2fdde8b2c3b3396265b0cc824aa4fb999396b1c154280f6b0c"
#: The real Ada MarketState datum whose qTokenRate (field 9, num/den) is qADA's rate.
ADA_MARKET_STATE = Path("protocols") / "liqwid" / "datums" / "marketstate_ada_utxo_07ad1a23_1.hex"
DJED_EXCHANGE_RATE = Decimal("0.02")  # SYNTHETIC
QTOKEN_DECIMALS = 6  # SYNTHETIC
#: Liqwid's figures for qADA on the Ada market (lending.md §6.1), used for both pairs.
MAX_LTV, LIQUIDATION_THRESHOLD, PENALTY = Decimal("0.704"), Decimal("0.81"), Decimal("0.10")


def ada_exchange_rate(fixtures_dir: Path) -> Decimal:
    """ADA per qADA (whole per whole) from the real MarketState's qTokenRate."""
    datum = cbor2.loads(bytes.fromhex((fixtures_dir / ADA_MARKET_STATE).read_text().strip()))
    num, den = datum[9]
    with localcontext() as context:
        context.prec = 16  # as the API's float would say it
        return Decimal(num) / Decimal(den)


def _option(borrow_market: str, qtoken: str, collateral_market: str) -> dict[str, Any]:
    return {"maxLoanToValue": None, "liquidationThreshold": None,
            "liquidationPenalty": PENALTY, "collateralWeight": None,
            "weightedMaxLoanToValue": MAX_LTV, "weightedLiquidationThreshold": LIQUIDATION_THRESHOLD,
            "collateral": {"id": f"{borrow_market}.{qtoken}", "market": {"id": collateral_market}}}


def paper_market_extras(fixtures_dir: Path) -> dict[str, dict[str, Any]]:
    """The fields the stub adds to the Ada and DJED rows in paper mode."""
    return {
        "Ada": {"receiptAsset": {"currencySymbol": QADA, "name": "", "symbol": "qADA",
                                 "decimals": QTOKEN_DECIMALS},
                "exchangeRate": ada_exchange_rate(fixtures_dir), "batching": False,
                "parameters": {"minValue": None,
                               "collateralParameters": [_option("Ada", QDJED, "DJED")]}},
        "DJED": {"receiptAsset": {"currencySymbol": QDJED, "name": "", "symbol": "qDJED",
                                  "decimals": QTOKEN_DECIMALS},
                 "exchangeRate": DJED_EXCHANGE_RATE, "batching": False,
                 "parameters": {"minValue": None,
                                "collateralParameters": [_option("DJED", QADA, "Ada")]}},
    }
