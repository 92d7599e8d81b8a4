"""An in-memory `ChainView` (protocols/base.py) for any venue's tests: UTxOs added and spent
by hand, a set of transactions that are ours, and mainnet slot times by default."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterable, Mapping

from protocols.base import StoredUtxo

#: Mainnet: Shelley began at slot 4 492 800, 2020-07-29T21:44:51Z, with 1-second slots.
SHELLEY_SLOT = 4_492_800
SHELLEY_TIME_MS = 1_596_059_091_000


def mainnet_slot_time_ms(slot: int) -> int:
    return SHELLEY_TIME_MS + (slot - SHELLEY_SLOT) * 1000


class MemoryChainView:
    """UTxOs by ref ("txid#ix"), spent or not; `created_by(tx)` are those whose ref starts
    with that tx id."""

    def __init__(self, utxos: Iterable[StoredUtxo] = (), *, ours: Iterable[str] = (),
                 slot_time_ms: Callable[[int], int] = mainnet_slot_time_ms) -> None:
        self.utxos: dict[str, StoredUtxo] = {}
        self.ours: set[str] = set(ours)
        self._slot_time_ms = slot_time_ms
        for utxo in utxos:
            self.put(utxo)

    # -- building the view --------------------------------------------------------------
    def put(self, utxo: StoredUtxo) -> StoredUtxo:
        if "#" not in utxo.ref:
            raise ValueError(f"a UTxO ref is txid#index, not {utxo.ref!r}")
        self.utxos[utxo.ref] = utxo
        return utxo

    def add(self, ref: str, *, address: str = "", lovelace: int = 2_000_000,
            assets: Mapping[tuple[str, str], int] | None = None,
            datum: bytes | None = None, slot: int = 0) -> StoredUtxo:
        return self.put(StoredUtxo(ref=ref, address=address, lovelace=lovelace,
                                   assets=dict(assets or {}), inline_datum=datum,
                                   created_slot=slot))

    def spend(self, ref: str, tx_id: str, slot: int = 0, *, ours: bool = False) -> StoredUtxo:
        spent = replace(self.utxos[ref], spent_tx=tx_id, spent_slot=slot)
        self.utxos[ref] = spent
        if ours:
            self.ours.add(tx_id)
        return spent

    # -- ChainView ------------------------------------------------------------------------
    def utxo(self, ref: str) -> StoredUtxo | None:
        return self.utxos.get(ref)

    def unspent_with_policy(self, policy: str) -> list[StoredUtxo]:
        return [u for u in self.utxos.values()
                if u.spent_tx is None and any(p == policy and q > 0
                                              for (p, _), q in u.assets.items())]

    def created_by(self, tx_id: str) -> list[StoredUtxo]:
        return sorted((u for ref, u in self.utxos.items() if ref.split("#")[0] == tx_id),
                      key=lambda u: int(u.ref.split("#")[1]))

    def is_ours(self, tx_id: str) -> bool:
        return tx_id in self.ours

    def slot_time_ms(self, slot: int) -> int:
        return self._slot_time_ms(slot)
