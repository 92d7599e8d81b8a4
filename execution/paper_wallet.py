"""A paper wallet's UTxOs: what a venue that builds from the wallet's CIP-30 UTxOs (Liqwid)
is given in paper mode. Pure.

A paper position's wallet holds nothing on any chain, yet Liqwid's API builds only from
the UTxOs it is handed. So the engine hands it made-up ones: exactly what the leg spends,
plus an ADA float for the fee and the deposits, under refs derived from the leg (the same
leg, the same UTxOs). The pre-signing check then knows every input of the wallet, so what
leaves it is checked to the unit.
"""
from __future__ import annotations

import hashlib
from typing import Mapping

import cbor2

from core.units import ADA, Asset
from execution.addresses import address_bytes

#: The ADA-only UTxO a paper wallet holds beside what a leg spends: the fee, and the
#: script collateral a Plutus transaction names (no more than the check lets be at risk).
PAPER_FLOAT_LOVELACE = 5_000_000
#: The ADA beside the tokens a leg spends: the min-ADA of a new loan UTxO.
PAPER_TOKEN_LOVELACE = 3_000_000


def paper_utxos(address: str, spends: Mapping[Asset, int], label: str) -> tuple[str, ...]:
    """CIP-30 [input, output] CBOR hex pairs at `address`: one ADA-only UTxO holding the
    float, one holding `spends` (with the lovelace it names, if any, and PAPER_TOKEN_LOVELACE)."""
    raw = address_bytes(address)

    def ref(index: int) -> list[object]:
        return [hashlib.blake2b(f"paper-wallet:{label}".encode(), digest_size=32).digest(),
                index]

    pairs = [cbor2.dumps([ref(0), {0: raw, 1: PAPER_FLOAT_LOVELACE}]).hex()]
    tokens: dict[bytes, dict[bytes, int]] = {}
    for asset, quantity in sorted(spends.items(), key=lambda item: item[0].unit):
        if quantity <= 0 or asset == ADA:
            continue
        tokens.setdefault(bytes.fromhex(asset.policy), {})[bytes.fromhex(asset.name)] = quantity
    lovelace = spends.get(ADA, 0)
    if tokens or lovelace > 0:
        value: object = [lovelace + PAPER_TOKEN_LOVELACE, tokens] if tokens else lovelace + PAPER_TOKEN_LOVELACE
        pairs.append(cbor2.dumps([ref(1), {0: raw, 1: value}]).hex())
    return tuple(pairs)
