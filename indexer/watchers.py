"""Every chain watcher the pipeline runs: the registered lending venues, our wallets and
our own transactions.

The venues come from protocols/ (one package per lending venue, registered by name);
the wallets and own-txs watchers are the engine's own and live here.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

from core.settings import Settings
from protocols.base import LeverageSource, UtxoWatcher, Watch
from protocols.registry import load_venue_modules, registered_venues

WALLETS = "wallets"
OWN_TXS = "own-txs"


@dataclass
class OwnTxWatcher:
    """Our own submitted transactions: seen in which block, undone by rollbacks."""

    name: str = OWN_TXS
    kind: str = "own-txs"


Watcher = UtxoWatcher | OwnTxWatcher


def wallet_watcher(settings: Settings) -> UtxoWatcher:
    return UtxoWatcher(WALLETS, Watch(addresses=_address_bytes(settings.watch_addresses)))


def with_managed(watcher: UtxoWatcher, managed: Iterable[str]) -> UtxoWatcher:
    """The wallets watcher also watching the managed accounts' addresses (allocated while
    the stack runs, so read afresh for every batch of blocks)."""
    extra = _address_bytes(managed)
    if extra <= watcher.watch.addresses:
        return watcher
    return replace(watcher, watch=replace(watcher.watch,
                                          addresses=watcher.watch.addresses | extra))


def _address_bytes(addresses: Iterable[str]) -> frozenset[bytes]:
    from pycardano import Address

    return frozenset(bytes(Address.from_primitive(a).to_primitive()) for a in addresses)


def active_watchers(settings: Settings) -> dict[str, Watcher]:
    """What the follower and the workers run. Imports VENUE_MODULES first, so a module
    that does not import is a ConfigError at start."""
    import protocols.venues  # noqa: F401  (registers every venue package)

    load_venue_modules(settings.venue_modules)
    watchers: dict[str, Watcher] = {name: venue for name, venue in registered_venues(settings).items()
                                    if _runs_in_pipeline(venue)}
    watchers[WALLETS] = wallet_watcher(settings)
    watchers[OWN_TXS] = OwnTxWatcher()
    return watchers


def _runs_in_pipeline(venue: UtxoWatcher) -> bool:
    """A lending venue that is off (VENUES, no configuration) or watches nothing on this
    network has no chain state to keep; other watchers always run."""
    if isinstance(venue, LeverageSource):
        return venue.enabled and bool(venue.watch.needles)
    return True


def watcher_names(settings: Settings) -> list[str]:
    return sorted(active_watchers(settings))
