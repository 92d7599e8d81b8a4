"""A venue's state read back: its indexed UTxOs as a `ChainView`, its current records,
and its current markets (the API snapshot with every figure the chain knows replaced
by the chain's), each flagged stale past MARKET_MAX_AGE_SECONDS.

At start a venue's markets come from its API (`refresh_markets`, on the beat); chain
state replaces them as blocks arrive (`current_markets`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

from chain.ledger import TxOut
from chain.slots import SlotTimeError, slot_to_ms
from core.errors import AppError
from core.settings import Settings
from protocols.base import LeverageSource, StoredUtxo
from protocols.errors import Unsupported, VenueDisabled
from protocols.market_codec import MarketCodecError, market_from_dict, market_to_dict
from protocols.model import Market, VenueRecord
from store import own_txs, utxos, venue_markets, watcher_cursors
from store.codec import now_ms as store_now_ms
from store.mongo import Database

log = logging.getLogger(__name__)


# --- the venues ---------------------------------------------------------------------------

def leverage_sources(settings: Settings) -> dict[str, LeverageSource]:
    """Every registered lending venue (on or off, watching something on this network or
    not: a venue with no token data here still has API markets), by name. Imports
    VENUE_MODULES."""
    import protocols.venues  # noqa: F401  (registers every venue package)
    from protocols.registry import load_venue_modules, registered_venues

    load_venue_modules(settings.venue_modules)
    return {name: w for name, w in registered_venues(settings).items()
            if isinstance(w, LeverageSource)}


def off_reason(settings: Settings, source: LeverageSource) -> str | None:
    """Why a venue is off here, or None when it runs."""
    if source.name not in settings.venues:
        chosen = ",".join(settings.venues) or "none"
        return f"not in VENUES ({chosen})"
    return source.disabled_reason


# --- the chain as the pipeline stored it ---------------------------------------------------

def _stored_utxo(row: dict[str, Any]) -> StoredUtxo:
    return StoredUtxo(ref=row["ref"], address=row["address"], lovelace=row["lovelace"],
                      assets=dict(row["assets"]), inline_datum=row["inline_datum"],
                      created_slot=row["created_slot"], spent_tx=row["spent_tx"],
                      spent_slot=row["spent_slot"])


class StoreChainView:
    """`protocols.base.ChainView` over the pipeline's store: one venue's UTxOs
    (watcher_utxos), our own transactions (own_txs), and slot times of `network`."""

    def __init__(self, db: Database, venue: str, *, network: str) -> None:
        self.db = db
        self.venue = venue
        self.network = network

    def utxo(self, ref: str) -> StoredUtxo | None:
        row = utxos.read_one(self.db, self.venue, ref)
        return None if row is None else _stored_utxo(row)

    def unspent_with_policy(self, policy: str) -> list[StoredUtxo]:
        return [_stored_utxo(r) for r in utxos.unspent_of(self.db, self.venue, policy)]

    def created_by(self, tx_id: str) -> list[StoredUtxo]:
        return [_stored_utxo(r) for r in utxos.created_by(self.db, self.venue, tx_id)]

    def spent_by(self, tx_id: str) -> list[StoredUtxo]:
        return [_stored_utxo(r) for r in utxos.spent_by(self.db, self.venue, tx_id)]

    def is_ours(self, tx_id: str) -> bool:
        return own_txs.exists(self.db, tx_id)

    def slot_time_ms(self, slot: int) -> int:
        return slot_to_ms(self.network, slot)


def address_bytes(address: str) -> bytes:
    """The raw bytes of a bech32 address (what watchers match on); b"" when it is not one."""
    from pycardano import Address

    try:
        return bytes(Address.from_primitive(address).to_primitive())
    except Exception:  # a Byron address, or garbage: no venue output is either
        return b""


def tx_out(row: dict[str, Any]) -> TxOut:
    """A stored UTxO as the ledger's TxOut, for `LeverageSource.read_output`."""
    return TxOut(address=row["address"], address_bytes=address_bytes(row["address"]),
                 lovelace=row["lovelace"],
                 assets={(bytes.fromhex(p), bytes.fromhex(n)): q
                         for (p, n), q in row["assets"].items()},
                 datum_hash=bytes.fromhex(row["datum_hash"]) if row["datum_hash"] else None,
                 inline_datum=row["inline_datum"])


def current_records(db: Database, source: LeverageSource) -> list[tuple[VenueRecord, int]]:
    """The venue's unspent UTxOs read through `source.read_output`, each with the time
    of the block that created it (ms). Only inline datums are stored, so an output whose
    datum sits in its transaction's witnesses is read without it. An output the venue's
    code cannot read any more is left out, with a warning (its market keeps the API's
    figures)."""
    network = source.network.name
    records: list[tuple[VenueRecord, int]] = []
    for row in utxos.unspent_of(db, source.name):
        try:
            record = source.read_output(row["ref"], tx_out(row), row["inline_datum"])
        except AppError as error:
            log.warning("venue %s: utxo %s not read (%s: %s)", source.name, row["ref"],
                        type(error).__name__, _first_line(error))
            continue
        if record is not None:
            records.append((record, slot_to_ms(network, row["created_slot"])))
    return records


# --- markets ----------------------------------------------------------------------------

@dataclass(frozen=True)
class MarketView:
    market: Market
    stale: bool
    age_s: float


def stored_markets(db: Database, venue: str) -> tuple[list[Market], int | None]:
    """The venue's API snapshot (markets by id) and when it was fetched (None: never)."""
    snapshot = venue_markets.read_venue(db, venue)
    if snapshot is None:
        return [], None
    markets = []
    for market_id, doc in sorted(snapshot.markets.items()):
        try:
            markets.append(market_from_dict(doc))
        except MarketCodecError as error:
            log.warning("venue %s: stored market %s not read (%s)", venue, market_id, error)
    return markets, snapshot.fetched_ms


def current_markets(db: Database, source: LeverageSource, settings: Settings,
                    now_ms: int) -> list[MarketView]:
    """The stored API snapshot merged with chain state (`source.markets_from_chain`),
    by market id, each flagged stale when older than MARKET_MAX_AGE_SECONDS.

    Chain figures hold until something spends the UTxOs they come from, so a market the
    chain describes is as fresh as the last block the venue's watcher applied (its
    cursor), not only as the block that last touched the market."""
    api, _ = stored_markets(db, source.name)
    markets = api
    try:
        records = current_records(db, source)
        markets = source.markets_from_chain(records, api)
    except Exception as error:  # one venue's reader failing must not hide every market
        log.warning("venue %s: chain state not merged, showing the API's figures (%s: %s)",
                    source.name, type(error).__name__, _first_line(error))
    applied_ms = _applied_through_ms(db, source)
    if applied_ms is not None:
        markets = [_fresh_through(m, applied_ms) for m in markets]
    max_age = settings.market_max_age_seconds
    return [MarketView(m, m.stale(now_ms, max_age), m.provenance.age_s(now_ms))
            for m in sorted(markets, key=lambda m: m.market_id)]


def _applied_through_ms(db: Database, source: LeverageSource) -> int | None:
    cursor = watcher_cursors.read(db, source.name)
    if cursor is None or cursor.slot < 0:
        return None
    try:
        return slot_to_ms(source.network.name, cursor.slot)
    except SlotTimeError:
        return None


def _fresh_through(market: Market, applied_ms: int) -> Market:
    if market.provenance.source != "chain" or market.provenance.as_of_ms >= applied_ms:
        return market
    detail = market.provenance.detail
    return replace(market, provenance=replace(
        market.provenance, as_of_ms=applied_ms,
        detail=f"{detail}; unchanged through the last applied block" if detail
        else "unchanged through the last applied block"))


@dataclass(frozen=True)
class RefreshResult:
    venue: str
    stored: int | None  # how many markets were stored; None when nothing was
    error: str | None = None  # why not (one line)


def refresh_markets(db: Database, source: LeverageSource,
                    clock: Callable[[], int] = store_now_ms) -> RefreshResult:
    """Fetch the venue's markets from its API (I/O) and make them its snapshot. A fetch
    that fails keeps the previous snapshot and logs one line; a venue without a markets
    API (or off) is skipped."""
    if not source.enabled:
        return RefreshResult(source.name, None, f"off: {source.disabled_reason}")
    try:
        markets = source.fetch_markets()
        docs = _stored_forms(source, markets)
    except (Unsupported, VenueDisabled) as error:
        return RefreshResult(source.name, None, _first_line(error))
    except Exception as error:  # any failure of one venue leaves its old snapshot
        line = f"{type(error).__name__}: {_first_line(error)}"
        log.warning("venue %s: markets not refreshed, the previous snapshot stays (%s)",
                    source.name, line)
        return RefreshResult(source.name, None, line)
    venue_markets.replace_venue(db, source.name, docs, clock())
    return RefreshResult(source.name, len(docs))


def _stored_forms(source: LeverageSource, markets: Sequence[Market]) -> dict[str, dict]:
    docs: dict[str, dict] = {}
    for market in markets:
        if market.venue != source.name:
            raise ValueError(f"a market of venue {market.venue!r} among {source.name}'s")
        if market.market_id in docs:
            raise ValueError(f"market {market.market_id!r} twice in one answer")
        docs[market.market_id] = market_to_dict(market)
    return docs


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [""])[0]
