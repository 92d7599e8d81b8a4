"""The offline builders' protocol parameters (protocols/offline_chain.py): the tiered
reference-script fee, and pycardano's ChainContext given the same figures."""
from __future__ import annotations

from pycardano import Network
from pycardano.utils import tiered_reference_script_fee

from protocols.offline_chain import MAINNET_CONWAY, ProtocolParams
from protocols.offline_context import OfflineContext


def test_reference_scripts_cost_more_per_byte_in_each_further_tier() -> None:
    assert MAINNET_CONWAY.reference_scripts_fee(0) == 0
    assert MAINNET_CONWAY.reference_scripts_fee(25_600) == 25_600 * 15
    assert MAINNET_CONWAY.reference_scripts_fee(25_601) == 25_600 * 15 + 18  # 15 × 1.2


def test_the_chain_context_prices_with_the_same_parameters() -> None:
    context = OfflineContext(MAINNET_CONWAY, mainnet=False, slot=7)
    params = context.protocol_param
    assert (params.min_fee_coefficient, params.min_fee_constant) == (44, 155_381)
    assert params.coins_per_utxo_byte == MAINNET_CONWAY.coins_per_utxo_byte
    assert (params.collateral_percent, params.max_tx_size) == (150, 16_384)
    assert params.cost_models == {}
    assert (context.network, context.last_block_slot) == (Network.TESTNET, 7)
    for size in (25_600, 25_601):
        assert tiered_reference_script_fee(context, size) == \
            MAINNET_CONWAY.reference_scripts_fee(size)


def test_a_cost_model_is_given_only_when_known() -> None:
    params = OfflineContext(ProtocolParams(plutus_v3_cost_model=(5, 6)), True).protocol_param
    assert params.cost_models == {"PlutusV3": {0: 5, 1: 6}}
