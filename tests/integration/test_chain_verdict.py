"""tasks/chain_verdict.py over the MongoDB server: a submitted leg's verdict from what the
pipeline stored — own_txs (seen, rolled back), the follower's tip, our wallets' UTxOs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from indexer.watchers import WALLETS
from store import own_txs, utxos
from store.chain_cursor import MongoCursorStore
from tasks.chain_verdict import chain_verdict

pytestmark = pytest.mark.integration

TX, OTHER = "aa" * 32, "bb" * 32
REF = "cc" * 32 + "#0"


@dataclass(frozen=True)
class Out:
    address: str = "addr1test"
    lovelace: int = 5_000_000
    assets: dict[Any, int] = None  # type: ignore[assignment]
    datum_hash: bytes | None = None
    inline_datum: bytes | None = None
    script_ref: bytes | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "assets", self.assets or {})


@dataclass(frozen=True)
class Created:
    ref: str
    tx_id: str
    out: Out
    datum: dict[str, Any] | None = None


def tip(db, slot: int, height: int) -> None:  # type: ignore[no-untyped-def]
    MongoCursorStore(db).save([{"slot": slot, "hash": "dd" * 32, "height": height}])


def test_a_legs_verdict_follows_the_stored_chain(db) -> None:  # type: ignore[no-untyped-def]
    utxos.create(db, WALLETS, [Created(REF, "cc" * 32, Out())], slot=1, height=1)
    own_txs.record_submitted(db, TX, "swap")
    tip(db, slot=50, height=10)
    # Submitted, not seen, still valid: (re)submit.
    assert chain_verdict(db, TX, ttl=100, inputs=[REF]).move == "resubmit"
    # Seen in block 9, the tip at 10: confirmed, two deep.
    own_txs.mark_seen(db, [TX], slot=45, height=9, block="ee" * 32)
    utxos.spend_all(db, WALLETS, [(TX, [REF])], slot=45, height=9)
    seen = chain_verdict(db, TX, ttl=100, inputs=[REF], needed=2)
    assert (seen.move, seen.confirmations) == ("confirm", 2)
    # Rolled back past it (its own spend undone too): in flight again, still valid.
    own_txs.rollback(db, slot=40)
    utxos.rollback(db, WALLETS, slot=40)
    tip(db, slot=60, height=8)
    assert chain_verdict(db, TX, ttl=100, inputs=[REF]).move == "resubmit"
    # Its window passes with its input unspent: expired, failed.
    tip(db, slot=100, height=12)
    expired = chain_verdict(db, TX, ttl=100, inputs=[REF])
    assert expired.move == "fail" and "expired" in expired.why
    # Spent by another transaction (a retry's double spend that won): a conflict.
    utxos.spend_all(db, WALLETS, [(OTHER, [REF])], slot=101, height=13)
    tip(db, slot=102, height=13)
    conflict = chain_verdict(db, TX, ttl=100, inputs=[REF])
    assert conflict.move == "fail" and "another transaction" in conflict.why
    # An input the pipeline never indexed: wait, never fail on a guess.
    assert chain_verdict(db, TX, ttl=100, inputs=["ff" * 32 + "#3"]).move == "wait"
