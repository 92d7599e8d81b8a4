"""The registry of lending venues: adding a venue is adding one package that registers.

indexer/watchers.py runs every registered venue beside the engine's own watchers (our
wallets and our own transactions).
"""
from __future__ import annotations

from typing import Callable

from core.settings import Settings
from protocols.base import UtxoWatcher

Factory = Callable[[Settings], UtxoWatcher]

_REGISTRY: dict[str, Factory] = {}
#: The engine's own watchers (indexer/watchers.py); no venue may take these names.
RESERVED = frozenset({"wallets", "own-txs"})


def register(name: str, factory: Factory) -> None:
    if name in _REGISTRY or name in RESERVED:
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


def registered_venues(settings: Settings) -> dict[str, UtxoWatcher]:
    return {name: factory(settings) for name, factory in sorted(_REGISTRY.items())}
