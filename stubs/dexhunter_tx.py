"""SYNTHESISED CSWAP swap transactions for the DexHunter stub, made from the one LIVE build
(fixtures dexhunter/swap-build.response.json `cbor`, 20 ADA → USDCx) used as a template.

What is rewritten, what is kept (the template's body keys 0, 1, 2, 3, 7, 8, 14, 15):
- inputs (0): one fake input whose tx id is blake2b-256 of the request's fields, so the
  same request gives the same transaction and another amount or buyer another one;
- outputs (1): the order at the template's CSWAP order script address (network byte of the
  buyer's) holding, for a buy, amount_in + batcher fee + deposits lovelace, for a sell
  the sold token plus batcher fee + deposits lovelace; its inline datum rebuilt in the
  CSWAP layout (execution/dex/cswap.py) for the buyer. Then one fee output at the
  template's fee address with partner + DexHunter fees (left out when both are 0). Then
  the template's outputs to its buyer, sent to our buyer with the same lovelace (change);
- fee (2), auxiliary data and its hash (7): the template's;
- validity start (8) and TTL (3): the template's window (one hour) moved to start at
  `Swap.valid_from` (the stub gives the wall clock's slot, rounded down to 10 minutes, so a
  build passes a check made now); without it, the template's own window (slots
  199_657_255..199_660_855);
- required signers (14): the buyer's payment (and stake) key hashes; network id (15): the
  buyer's.
This module must not import execution/ (docs/architecture.md): the datum is encoded here.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import cbor2
from pycardano import Address
from pycardano.exception import DecodingException

TEMPLATE_VALIDITY_START = 199_657_255
TEMPLATE_TTL = 199_660_855
#: The template datum's slippage and platformFee fields, kept as recorded.
DATUM_SLIPPAGE = 100
DATUM_PLATFORM_FEE = 15


def constr(index: int, fields: list[Any]) -> cbor2.CBORTag:
    """Plutus Constr `index` (0..6 use tags 121..127)."""
    return cbor2.CBORTag(121 + index, fields)


@dataclass(frozen=True)
class Swap:
    """One order to build: units are `policy+name` hex ("" for ADA), amounts base units."""

    buyer: str  # bech32
    sell: str
    buy: str
    amount_in: int
    min_out: int  # the datum's minimum: the quote's total_output
    batcher_fee: int
    deposits: int
    platform_fee: int  # partner + DexHunter fees, lovelace
    request_key: bytes  # what the fake input's tx id is hashed from
    valid_from: int | None = None  # the window's first slot; None: the template's
    #: The buyer's UTxOs on a chain the stub can read (the sandbox's), to spend instead
    #: of a fake input: (tx id, index, lovelace, {(policy, name): quantity}).
    utxos: tuple[tuple[bytes, int, int, dict[tuple[bytes, bytes], int]], ...] | None = None


class NotEnoughFunds(ValueError):
    """The buyer's UTxOs do not cover the order, the fees and a change output."""


#: The least change output the stub leaves (an output's min-ADA, roughly).
MIN_CHANGE_LOVELACE = 1_000_000


def plutus_address(address: Address) -> cbor2.CBORTag:
    """The Plutus `Address` data of a bech32 address (base or enterprise)."""
    def credential(part: Any) -> cbor2.CBORTag:
        is_script = type(part).__name__ == "ScriptHash"
        return constr(1 if is_script else 0, [part.payload])

    staking = address.staking_part
    if staking is None:
        stake = constr(1, [])  # Nothing
    elif hasattr(staking, "payload"):
        stake = constr(0, [constr(0, [credential(staking)])])  # Just (StakingHash cred)
    else:
        raise ValueError("pointer addresses are not supported by the stub")
    return constr(0, [credential(address.payment_part), stake])


def _unit_parts(unit: str) -> tuple[bytes, bytes]:
    return (b"", b"") if not unit else (bytes.fromhex(unit[:56]), bytes.fromhex(unit[56:]))


def order_datum(swap: Swap, address: Address) -> bytes:
    policy, name = _unit_parts(swap.buy)
    targets: list[list[Any]] = [[policy, name, swap.min_out]]
    if swap.buy:  # a token wanted: its 2 ADA deposit rides back with it, as recorded
        targets.insert(0, [b"", b"", swap.deposits])
    sold = _unit_parts(swap.sell)
    datum = constr(0, [plutus_address(address), targets, [[sold[0], sold[1], 0]],
                       constr(0, []), DATUM_SLIPPAGE, DATUM_PLATFORM_FEE])
    return cbor2.dumps(datum)


def _on_network(raw: bytes, network: int) -> bytes:
    """`raw` with its header's network nibble set to `network` (0 testnet, 1 mainnet)."""
    return bytes([(raw[0] & 0xF0) | network]) + raw[1:]


def _value(lovelace: int, unit: str, quantity: int) -> Any:
    if not unit or not quantity:
        return lovelace
    policy, name = _unit_parts(unit)
    return [lovelace, {policy: {name: quantity}}]


def read_address(text: str) -> Address:
    """The buyer's address, or ValueError (pycardano raises its own kinds)."""
    try:
        return Address.from_primitive(text)
    except (DecodingException, TypeError) as error:
        raise ValueError(f"not an address: {error}") from None


def build_tx(template: bytes, swap: Swap) -> bytes:
    """The template transaction rewritten for `swap` (see the module docstring); ValueError
    for an address it cannot write."""
    tx = cbor2.loads(template)
    body = tx[0]
    address = read_address(swap.buyer)
    network = 1 if address.network.value == 1 else 0
    buyer = bytes(address)
    order, fee, *rest = body[1]
    template_buyer = rest[0][0]
    sold_lovelace = 0 if swap.sell else swap.amount_in
    sold_token = swap.amount_in if swap.sell else 0
    outputs = [{0: _on_network(order[0], network),
                1: _value(sold_lovelace + swap.batcher_fee + swap.deposits, swap.sell,
                          sold_token),
                2: [1, cbor2.CBORTag(24, order_datum(swap, address))]}]
    if swap.platform_fee > 0:
        outputs.append({0: _on_network(fee[0], network), 1: swap.platform_fee})
    if swap.utxos is None:
        outputs += [{**out, 0: buyer} for out in rest if out[0] == template_buyer]
        body[0] = [[hashlib.blake2b(swap.request_key, digest_size=32).digest(), 0]]
    else:  # spend the buyer's own UTxOs; all the rest comes back as one change output
        body[0], change = _spend(swap, outputs, int(body[2]))
        outputs.append({0: buyer, 1: change})
    body[1] = outputs
    body[14] = [part.payload for part in (address.payment_part, address.staking_part)
                if part is not None and type(part).__name__ == "VerificationKeyHash"]
    body[15] = network
    if swap.valid_from is not None:
        body[8] = swap.valid_from
        body[3] = swap.valid_from + (TEMPLATE_TTL - TEMPLATE_VALIDITY_START)
    return bytes(cbor2.dumps(tx))


def _spend(swap: Swap, outputs: list[dict[int, Any]], fee: int) -> tuple[list[list[Any]], Any]:
    """Inputs (largest first) covering the outputs, the fee and MIN_CHANGE_LOVELACE, and
    the change value: exactly what is left, so value balances to the unit."""
    assert swap.utxos is not None
    need_lovelace = fee + MIN_CHANGE_LOVELACE
    need_tokens: dict[tuple[bytes, bytes], int] = {}
    for out in outputs:
        value = out[1]
        if isinstance(value, list):
            need_lovelace += value[0]
            for policy, names in value[1].items():
                for name, quantity in names.items():
                    key = (policy, name)
                    need_tokens[key] = need_tokens.get(key, 0) + quantity
        else:
            need_lovelace += value
    chosen: list[list[Any]] = []
    lovelace = 0
    tokens: dict[tuple[bytes, bytes], int] = {}
    for tx_id, index, amount, assets in sorted(swap.utxos, key=lambda u: (-u[2], u[0], u[1])):
        if lovelace >= need_lovelace and all(tokens.get(k, 0) >= q
                                             for k, q in need_tokens.items()):
            break
        chosen.append([tx_id, index])
        lovelace += amount
        for key, quantity in assets.items():
            tokens[key] = tokens.get(key, 0) + quantity
    short = [f"{q - tokens.get(k, 0)} of {(k[0] + k[1]).hex()}" for k, q in need_tokens.items()
             if tokens.get(k, 0) < q]
    if lovelace < need_lovelace:
        short.insert(0, f"{need_lovelace - lovelace} lovelace")
    if short:
        raise NotEnoughFunds(f"the buyer's UTxOs are short of {', '.join(short)}")
    left = {k: q - need_tokens.get(k, 0) for k, q in tokens.items() if q - need_tokens.get(k, 0)}
    change_lovelace = lovelace - need_lovelace + MIN_CHANGE_LOVELACE
    if not left:
        return chosen, change_lovelace
    grouped: dict[bytes, dict[bytes, int]] = {}
    for (policy, name), quantity in sorted(left.items()):
        grouped.setdefault(policy, {})[name] = quantity
    return chosen, [change_lovelace, grouped]
