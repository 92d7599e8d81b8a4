"""pycardano's ChainContext over the fixed protocol parameters of protocols/offline_chain.py,
for the offline builders (Levvy, Surf). Apart from the parameters because pycardano is a
heavy import: only what builds a transaction pays it."""
from __future__ import annotations

from fractions import Fraction
from typing import Sequence

from pycardano import ChainContext, GenesisParameters, Network, ProtocolParameters, UTxO

from protocols.offline_chain import ProtocolParams


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
