"""The refs a UTxO watcher holds unspent, kept in memory while one `apply_pending` call
applies a batch: one query at the start instead of one per block.

The watcher's lease makes that call the only writer of the watcher's UTxOs, so the set
follows the store as the call creates and spends. It never misses a ref the store holds
unspent; it can hold a few more while a block is applied a second time after a crash
(the store keeps the later spend, the set takes the output as new). That is harmless:
every spend is written with the store's own `spent_slot` guard, and an extra ref can only
make a block look as if it might concern the watcher, never the reverse.
"""
from __future__ import annotations

from collections.abc import Iterable

from store.mongo import Database

from store import utxos

#: Above this many distinct tx ids, searching a block's bytes for each of them would
#: cost about as much as decoding the block: measured on the recorded blocks, one
#: `bytes.find` that finds nothing costs ~1/150 (preprod) to ~1/350 (mainnet) of
#: decoding a block and working out its effects. Past the bound every block is decoded.
MAX_SEARCHED_TX_IDS = 128


class Holdings:
    def __init__(self, db: Database, watcher: str) -> None:
        self._db = db
        self._watcher = watcher
        self._refs: set[str] = set()
        self._tx_ids: list[bytes] | None = None
        self._tx_ids_known = False  # `_tx_ids` is built on demand, dropped on change
        self.reload()

    def reload(self) -> None:
        """Read the set again from the store (after a rollback, which the store applies)."""
        self._refs = utxos.unspent_refs(self._db, self._watcher)
        self._tx_ids_known = False

    def held(self, refs: Iterable[str]) -> set[str]:
        """Which of `refs` the watcher holds."""
        return {ref for ref in refs if ref in self._refs}

    def add(self, refs: Iterable[str]) -> None:
        self._refs.update(refs)
        self._tx_ids_known = False

    def remove(self, refs: Iterable[str]) -> None:
        self._refs.difference_update(refs)
        self._tx_ids_known = False

    def tx_ids(self) -> list[bytes] | None:
        """The distinct tx ids of the held refs as bytes, which any block spending one
        of them carries verbatim (inputs are `[tx id, index]`); None when there are too
        many to search for."""
        if not self._tx_ids_known:
            ids = {ref.partition("#")[0] for ref in self._refs}
            self._tx_ids = (None if len(ids) > MAX_SEARCHED_TX_IDS
                            else [bytes.fromhex(tx_id) for tx_id in ids])
            self._tx_ids_known = True
        return self._tx_ids
