"""A stub batcher for the sandbox chain: fills the CSWAP orders the DexHunter stub built,
in the block after the one that holds them, at a given price less the pool fee.

CSWAP is the one route the DexHunter stub writes (stubs/dexhunter_tx.py), so the batcher
reads that order datum: `Constr 0 [receiver, targets, inputs, type, slippage, fee]`,
targets `[[policy, name, minimum]]` (a token wanted comes with 2 ADA riding back). An
order offers what its UTxO holds less the batcher fee and that deposit. A fill spends the
order and the pool's UTxO (a genesis output at the pool address, holding the reserves)
and pays the receiver the bought amount (and the deposit), the pool taking the rest; a
fill is a transaction of script inputs only, which the sandbox does not run (docs/
live.md), so it needs no signature. One fill per order, chained through the pool's
output, in the order of the refs. An order whose fill would be below its minimum is left
where it is (the engine's overdue order; a stub batcher that refunds it may come later).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Callable, Mapping

import cbor2

from chain.ledger import TxOut
from chain.ledger.tx import TxIn

#: Where the sandbox's CSWAP pool lives: a made-up script address (mainnet, no stake part;
#: the script hash is not CSWAP's: the sandbox runs no script).
POOL_SCRIPT = bytes(range(100, 128))
#: CSWAP's order script (execution/dex/cswap.py ORDER_SCRIPTS; the stub's builds pay it).
CSWAP_ORDER_SCRIPT = bytes.fromhex("da5b47aed3955c9132ee087796fa3b58a1ba6173fa31a7bc29e56d4e")


def pool_address(network: int) -> bytes:
    return bytes([0x70 | network]) + POOL_SCRIPT


#: The live build's batcher fee (execution/dex/cswap.py says the same of CSWAP).
BATCHER_FEE_LOVELACE = 690_000
#: The network fee a fill pays (out of the batcher fee).
FILL_FEE_LOVELACE = 200_000
TTL_SLOTS = 3_600
Unit = str  # "" for ADA, else policy + name hex


@dataclass(frozen=True)
class Order:
    ref: TxIn
    receiver: bytes  # address bytes
    want: Unit
    minimum: int
    deposit: int
    offer_unit: Unit
    offer: int  # base units offered (lovelace less batcher fee and deposit, or tokens)
    lovelace: int  # what the order UTxO holds in lovelace


class CswapBatcher:
    """`price(unit)`: ADA per whole token now; `decimals(unit)`: the token's decimals;
    either None when unknown (the token's orders wait)."""

    def __init__(self, order_script: bytes, pool_address: bytes,
                 price: Callable[[Unit], Decimal | None],
                 decimals: Callable[[Unit], int | None], *,
                 pool_fee: Decimal = Decimal("0.002")) -> None:
        self.order_script = order_script
        self.pool_address = pool_address
        self.price = price
        self.decimals = decimals
        self.pool_fee = pool_fee

    def fills(self, utxos: Mapping[TxIn, TxOut], slot: int) -> list[bytes]:
        """The fill transactions of every order on chain now, chained through the pool."""
        pools = sorted(ref for ref, out in utxos.items() if out.address_bytes == self.pool_address)
        if not pools:
            return []
        pool_ref, pool = pools[0], utxos[pools[0]]
        pool_lovelace, pool_assets = pool.lovelace, dict(pool.assets)
        found: list[bytes] = []
        for ref in sorted(utxos):
            out = utxos[ref]
            order = self.read(ref, out)
            if order is None:
                continue
            got = self.fill_amount(order)
            if got is None or got < order.minimum:
                continue  # no price for it, or below its minimum: it waits
            bought_token = _key(order.want)
            if order.want:
                if pool_assets.get(bought_token, 0) < got:
                    continue  # the pool cannot pay it
                paid: Any = [order.deposit, {bought_token[0]: {bought_token[1]: got}}]
                pool_assets[bought_token] -= got
                pool_lovelace += order.lovelace - order.deposit - FILL_FEE_LOVELACE
            else:
                paid = got + order.deposit
                pool_lovelace += order.lovelace - paid - FILL_FEE_LOVELACE
            for key, quantity in out.assets.items():
                pool_assets[key] = pool_assets.get(key, 0) + quantity
            pool_value = _value(pool_lovelace, pool_assets)
            body = {0: sorted([list(ref), list(pool_ref)]),
                    1: [{0: order.receiver, 1: paid}, {0: self.pool_address, 1: pool_value}],
                    2: FILL_FEE_LOVELACE, 3: slot + TTL_SLOTS}
            raw = cbor2.dumps([body, {}, True, None])
            found.append(raw)
            pool_ref = (hashlib.blake2b(cbor2.dumps(body), digest_size=32).digest(), 1)
        return found

    def read(self, ref: TxIn, out: TxOut) -> Order | None:
        """The order an output is, or None when it is not one the batcher can fill."""
        address = out.address_bytes
        if len(address) < 29 or address[0] >> 4 not in (1, 3, 5, 7) \
                or address[1:29] != self.order_script or out.inline_datum is None:
            return None
        try:
            datum = cbor2.loads(out.inline_datum)
            receiver_data, targets = datum.value[0], datum.value[1]
            receiver = _address(receiver_data, address[0] & 0x0F)
            wanted = [(bytes(p), bytes(n), int(q)) for p, n, q in targets]
        except (ValueError, TypeError, AttributeError, IndexError, cbor2.CBORDecodeError):
            return None
        tokens = [(p, n, q) for p, n, q in wanted if p]
        if len(tokens) > 1:
            return None
        if tokens:
            policy, name, minimum = tokens[0]
            deposit = sum(q for p, _, q in wanted if not p)
            want = (policy + name).hex()
        else:
            minimum, deposit, want = wanted[0][2], 2_000_000, ""
        if out.assets:
            if len(out.assets) != 1:
                return None
            (policy_b, name_b), quantity = next(iter(out.assets.items()))
            return Order(ref, receiver, want, minimum, deposit, (policy_b + name_b).hex(),
                         quantity, out.lovelace)
        offer = out.lovelace - BATCHER_FEE_LOVELACE - deposit
        return None if offer <= 0 else Order(ref, receiver, want, minimum, deposit, "",
                                              offer, out.lovelace)

    def fill_amount(self, order: Order) -> int | None:
        """What the order buys at the price now, less the pool fee (rounded down); None
        without a price."""
        token = order.want or order.offer_unit
        price = self.price(token)  # ADA per whole token
        places = self.decimals(token) if price is not None and price > 0 else None
        if price is None or places is None:
            return None
        scale = Decimal(10) ** places
        keep = 1 - self.pool_fee
        if order.want:  # lovelace in, tokens out
            amount = Decimal(order.offer) / Decimal(1_000_000) / price * scale * keep
        else:  # tokens in, lovelace out
            amount = Decimal(order.offer) / scale * price * Decimal(1_000_000) * keep
        return int(amount.to_integral_value(rounding=ROUND_FLOOR))


def _key(unit: Unit) -> tuple[bytes, bytes]:
    raw = bytes.fromhex(unit)
    return raw[:28], raw[28:]


def _value(lovelace: int, assets: Mapping[tuple[bytes, bytes], int]) -> Any:
    grouped: dict[bytes, dict[bytes, int]] = {}
    for (policy, name), quantity in sorted(assets.items()):
        if quantity:
            grouped.setdefault(policy, {})[name] = quantity
    return [lovelace, grouped] if grouped else lovelace


def _address(data: Any, network: int) -> bytes:
    """Address bytes from Plutus `Address` data: Constr 0 [payment credential, Maybe
    staking]; a credential is Constr 0 [key hash] or Constr 1 [script hash]."""
    payment, staking = data.value
    pay_script = payment.tag == 122
    pay_hash = bytes(payment.value[0])
    if staking.tag == 122:  # Nothing: an enterprise address
        return bytes([(0x70 if pay_script else 0x60) | network]) + pay_hash
    stake_cred = staking.value[0].value[0]
    stake_script = stake_cred.tag == 122
    header = (0x10 if pay_script else 0x00) | (0x20 if stake_script else 0x00)
    return bytes([header | network]) + pay_hash + bytes(stake_cred.value[0])
