"""The protocol parameters our offline transaction builders (Levvy, Surf) price with, and
pycardano's ChainContext over them. Fixed here and documented, because the builders are
offline: no node, no chain index.

The values are mainnet's Conway-era parameters (the same on preview and preprod when
written): txFeePerByte 44, txFeeFixed 155,381, utxoCostPerByte 4,310, executionUnitPrices
mem 577/10,000 and steps 721/10,000,000, collateralPercentage 150, maxCollateralInputs 3,
maxTxSize 16,384, maxValueSize 5,000, maxTxExecutionUnits 14,000,000 mem /
10,000,000,000 steps, minFeeRefScriptCostPerByte 15 (multiplied by 1.2 for each further
25,600 bytes). If the chain raises them, a fee computed here can be too small or a minimum
ADA too low, and a node then refuses the transaction (FeeTooSmallUTxO,
BabbageOutputTooSmallUTxO; nothing is spent): rebuild with the new values.

The Plutus cost models are protocol parameters too, but long and changed by hard forks, so
none is fixed here: a builder that spends a script is given one (Surf's
`plutus_v3_cost_model`; Levvy's comes from LEVVY_CONFIG_FILE, `builder.cost_model`).

pycardano's ChainContext over them is protocols/offline_context.py: importing pycardano
costs a process 1.5 to 3 s, paid only by what builds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class ProtocolParams:
    min_fee_a: int = 44
    min_fee_b: int = 155_381
    coins_per_utxo_byte: int = 4_310
    price_mem: Fraction = Fraction(577, 10_000)
    price_step: Fraction = Fraction(721, 10_000_000)
    collateral_percent: int = 150
    max_collateral_inputs: int = 3
    max_tx_size: int = 16_384
    max_val_size: int = 5_000
    max_tx_ex_mem: int = 14_000_000
    max_tx_ex_steps: int = 10_000_000_000
    ref_script_cost_per_byte: Fraction = Fraction(15)
    ref_script_tier_bytes: int = 25_600
    ref_script_tier_multiplier: Fraction = Fraction(6, 5)
    #: The network's PlutusV3 cost model, for a builder that spends a PlutusV3 script
    #: through OfflineContext; None: not known offline.
    plutus_v3_cost_model: tuple[int, ...] | None = None

    def script_fee(self, mem: int, steps: int) -> int:
        return math.ceil(self.price_mem * mem + self.price_step * steps)

    def reference_scripts_fee(self, size: int) -> int:
        """Conway's tiered fee for the reference scripts a transaction uses."""
        fee = Fraction(0)
        price = self.ref_script_cost_per_byte
        left = size
        while left > 0:
            chunk = min(left, self.ref_script_tier_bytes)
            fee += chunk * price
            left -= chunk
            price *= self.ref_script_tier_multiplier
        return math.floor(fee)

    def min_lovelace(self, output_size: int) -> int:
        """Babbage's minimum ADA of an output of `output_size` CBOR bytes."""
        return (160 + output_size) * self.coins_per_utxo_byte


MAINNET_CONWAY = ProtocolParams()
