"""The registry of chain watchers: adding a venue is adding one package that registers.

`active_watchers(settings)` is what the follower and the workers run: every registered
venue, our wallets (WATCH_ADDRESSES and, later, the managed wallets) and our own txs.
"""
from __future__ import annotations

from typing import Callable

from core.settings import Settings
from protocols.base import OwnTxWatcher, UtxoWatcher, Watch

Factory = Callable[[Settings], UtxoWatcher]

_REGISTRY: dict[str, Factory] = {}


def register(name: str, factory: Factory) -> None:
    if name in _REGISTRY or name in ("wallets", "own-txs"):
        raise ValueError(f"a watcher named {name!r} is already registered")
    _REGISTRY[name] = factory


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def load_venue_modules(names: tuple[str, ...]) -> None:
    """Import the modules that register venues (VENUE_MODULES); a missing one is a
    configuration error, reported at start rather than at the first block."""
    import importlib

    from core.errors import ConfigError

    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise ConfigError("VENUE_MODULES", "importable Python modules",
                              f"{name!r} ({error})") from None
        except Exception as error:  # a module that fails while importing: still one line
            first_line = (str(error).splitlines() or [""])[0]
            raise ConfigError("VENUE_MODULES", "importable Python modules",
                              f"{name!r} ({type(error).__name__}: {first_line})") from None


def wallet_watcher(settings: Settings) -> UtxoWatcher:
    from pycardano import Address

    addresses = frozenset(bytes(Address.from_primitive(a).to_primitive())
                          for a in settings.watch_addresses)
    return UtxoWatcher("wallets", Watch(addresses=addresses))


def active_watchers(settings: Settings) -> dict[str, UtxoWatcher | OwnTxWatcher]:
    watchers: dict[str, UtxoWatcher | OwnTxWatcher] = {
        name: factory(settings) for name, factory in sorted(_REGISTRY.items())}
    watchers["wallets"] = wallet_watcher(settings)
    watchers["own-txs"] = OwnTxWatcher()
    return watchers
