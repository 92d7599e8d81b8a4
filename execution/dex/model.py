"""The typed records of DEX orders: what a datum says, what the order UTxO holds, and
what happened to it (filled or cancelled). Amounts are ints in base units."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from protocols.errors import DatumLayoutError

Kind = Literal["swap", "deposit"]


class DexDatumError(DatumLayoutError):
    """An order datum whose layout this code does not know: never a guessed number."""


class UnsupportedOrder(DexDatumError):
    """A datum of a known layout holding an order kind this code does not read
    (a stop-loss, a withdrawal, a multisig owner): refused, not guessed."""


@dataclass(frozen=True)
class Value:
    """An output's value: lovelace and {"<policy hex>.<name hex>": quantity}."""
    lovelace: int
    assets: dict[str, int] = field(default_factory=dict)

    def json(self) -> dict[str, object]:
        return {"lovelace": self.lovelace, "assets": dict(sorted(self.assets.items()))}

    def get(self, unit: str) -> int:
        return self.lovelace if unit == "lovelace" else self.assets.get(unit, 0)


@dataclass(frozen=True)
class OrderDatum:
    """What an order datum promises.

    owner: the payment key hash (hex) that may cancel; receiver: the bech32 address paid
    on success; want: "lovelace" or "<policy>.<name hex>", None where the datum names only
    the pool's side (SundaeSwap v1, Minswap v2 swaps: the pair lives in the pool datum);
    min_receive: the least of `want` the batcher may pay; batcher_fee and deposit in
    lovelace (the most the batcher may keep, and what comes back with the fill)."""
    dex: str
    kind: Kind
    owner: str
    receiver: str
    want: str | None
    min_receive: int
    batcher_fee: int
    deposit: int


@dataclass(frozen=True)
class Order:
    ref: str  # "<tx id>#<index>" of the order UTxO
    datum: OrderDatum
    offer: Value  # what the order UTxO holds

    @property
    def dex(self) -> str:
        return self.datum.dex


@dataclass(frozen=True)
class Fill:
    dex: str
    order_ref: str | None  # the order UTxO spent; None when only its datum was seen
    tx_id: str
    paid_to: str
    received: Value


@dataclass(frozen=True)
class Cancel:
    dex: str
    ref: str
    tx_id: str
    paid_to: str
    returned: Value
