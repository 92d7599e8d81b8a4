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
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from pycardano import ChainContext, GenesisParameters, Network, ProtocolParameters, UTxO


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


class OfflineContext(ChainContext):
    """pycardano's ChainContext with no network: fixed parameters, the wallet's UTxOs."""

    def __init__(self, params: ProtocolParams, mainnet: bool, utxos: Sequence[UTxO] = (),
                 slot: int = 0) -> None:
        self._params = params
        self._network = Network.MAINNET if mainnet else Network.TESTNET
        self._utxo_list = list(utxos)
        self._slot = slot

    @property
    def protocol_param(self) -> ProtocolParameters:
        p = self._params
        cost_models = {} if p.plutus_v3_cost_model is None else {
            "PlutusV3": {i: v for i, v in enumerate(p.plutus_v3_cost_model)}}
        return ProtocolParameters(
            min_fee_constant=p.min_fee_b, min_fee_coefficient=p.min_fee_a,
            max_block_size=90_112, max_tx_size=p.max_tx_size, max_block_header_size=1_100,
            key_deposit=2_000_000, pool_deposit=500_000_000, pool_influence=Fraction(3, 10),
            monetary_expansion=Fraction(3, 1000), treasury_expansion=Fraction(1, 5),
            decentralization_param=Fraction(0), extra_entropy="", protocol_major_version=10,
            protocol_minor_version=0, min_utxo=0, min_pool_cost=170_000_000,
            price_mem=p.price_mem, price_step=p.price_step, max_tx_ex_mem=p.max_tx_ex_mem,
            max_tx_ex_steps=p.max_tx_ex_steps, max_block_ex_mem=62_000_000,
            max_block_ex_steps=20_000_000_000, max_val_size=p.max_val_size,
            collateral_percent=p.collateral_percent,
            max_collateral_inputs=p.max_collateral_inputs, coins_per_utxo_word=0,
            coins_per_utxo_byte=p.coins_per_utxo_byte, cost_models=cost_models,
            maximum_reference_scripts_size={"bytes": 200_000},
            # Exact Fractions handed over; pycardano sums them from 0.0 (a float) and
            # rounds up, so at worst it asks 1 lovelace more than the exact tiered fee
            # (`ProtocolParams.reference_scripts_fee`), never less: a fee the ledger accepts.
            min_fee_reference_scripts={"base": p.ref_script_cost_per_byte,
                                       "range": p.ref_script_tier_bytes,
                                       "multiplier": p.ref_script_tier_multiplier})

    @property
    def genesis_param(self) -> GenesisParameters:
        return GenesisParameters(
            active_slots_coefficient=Fraction(1, 20), update_quorum=5,
            max_lovelace_supply=45_000_000_000_000_000, network_magic=764_824_073,
            epoch_length=432_000, system_start=1_506_203_091, slots_per_kes_period=129_600,
            slot_length=1, max_kes_evolutions=62, security_param=2_160)

    @property
    def network(self) -> Network:
        return self._network

    @property
    def epoch(self) -> int:
        return 0

    @property
    def last_block_slot(self) -> int:
        return self._slot

    def _utxos(self, address: str) -> list[UTxO]:
        return [u for u in self._utxo_list if str(u.output.address) == address]
