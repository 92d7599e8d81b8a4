"""Crafted blocks carrying Liqwid UTxOs, for the venue-through-the-pipeline tests.

The recorded chunk is preprod and Liqwid lives on mainnet, so these blocks put real
Liqwid datums (the fixtures) into outputs holding the real mainnet tokens, on the
headers of real blocks (tests/support/crafted.py), and carry the real signed MarketParams
update tx 1c280d01 byte for byte. Which datum sits in which crafted output is ours; the
datums and the tokens are real.
"""
from __future__ import annotations

from dataclasses import dataclass

from chain.ledger import Block
from tests.support.crafted import FUNDS, CraftedTx, RawTx, craft_block, output
from tests.support.fixtures import fixtures_dir, require

#: Mainnet Ada market (market_script_hashes_mainnet.csv in the fixtures).
MARKET_STATE_POLICY = bytes.fromhex("5a3cb4f52fb3a00ab5abe62080618623811ccafab9c760d0b686e44c")
MARKET_STATE_SCRIPT = bytes.fromhex("8d258b9d08dcab73f3165a11751d464b46056264091c1789da588726")
ACTION_POLICY = bytes.fromhex("7807209cec9f79c9f6cf5bea2ab7826e6e46b6a7583a337b7e20fb36")
ACTION_SCRIPT = bytes.fromhex("31415bb210164cf6b84d1b12537f0792d2912d156e0f1ed1d91c83ce")
OTHER = bytes([0x61]) + b"\x04" * 28  # a mainnet key address no venue watches


def _hex(*parts: str) -> bytes:
    path = require(fixtures_dir().joinpath("protocols", "liqwid", *parts), "Liqwid fixtures")
    return bytes.fromhex(path.read_text().strip())


def script_address(script_hash: bytes) -> bytes:
    return bytes([0x71]) + script_hash  # mainnet enterprise address, script credential


@dataclass
class LiqwidChain:
    blocks: list[Block]
    txs: dict[str, CraftedTx | RawTx]

    def ref(self, name: str, index: int) -> str:
        return f"{self.txs[name].id.hex()}#{index}"


def liqwid_chain(templates: list[Block]) -> LiqwidChain:
    """block 0  A: MarketState (real Ada datum), Action (real datum before a supply),
                   an output no venue watches
    block 1  B: spends the Action, recreates it with the real datum after the supply
             P: the real MarketParams update 1c280d01 (Ada and DJED MarketParams)
    block 2  C: a batch: spends MarketState and Action, recreates both (Action reset)"""
    state = _hex("datums", "marketstate_ada_utxo_07ad1a23_1.hex")
    before = _hex("action_datum_ada_before_supply_tx08b82a63.hex")
    after = _hex("action_datum_ada_after_supply_tx08b82a63.hex")
    params_tx = _hex("txs", "tx_1c280d01_marketparams_update.hex")
    state_out = output(script_address(MARKET_STATE_SCRIPT), 3_000_000,
                       {MARKET_STATE_POLICY: {b"": 1}}, inline=state)
    a = CraftedTx([FUNDS[0]], [
        state_out,
        output(script_address(ACTION_SCRIPT), 50_000_000, {ACTION_POLICY: {b"": 1}},
               inline=before),
        output(OTHER, 1_000_000),
    ])
    b = CraftedTx([(a.id, 1)], [
        output(script_address(ACTION_SCRIPT), 50_000_000 + 40_875_220_504,
               {ACTION_POLICY: {b"": 1}}, inline=after),
    ])
    p = RawTx.from_signed(params_tx)
    c = CraftedTx([(a.id, 0), (b.id, 0)], [
        state_out,
        output(script_address(ACTION_SCRIPT), 50_000_000, {ACTION_POLICY: {b"": 1}},
               inline=before),
    ])
    blocks = [craft_block(templates[0], [a]), craft_block(templates[1], [b, p]),
              craft_block(templates[2], [c])]
    return LiqwidChain(blocks, {"A": a, "B": b, "P": p, "C": c})
