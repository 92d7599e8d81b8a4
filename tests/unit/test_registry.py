from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.settings import settings_from_mapping
from indexer.watchers import OwnTxWatcher, active_watchers
from protocols.base import UtxoWatcher, Watch
from protocols.registry import load_venue_modules, register, unregister

MAINNET_ADDR = ("addr1qx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3n0d3vllmyqwsx5wktcd8cc3s"
                "q835lu7drv2xwl2wywfgse35a3x")


def test_registered_venues_run_beside_wallets_and_own_txs():
    register("unit-venue", lambda s: UtxoWatcher("unit-venue", Watch(policies=frozenset({b"p"}))))
    try:
        watchers = active_watchers(settings_from_mapping({"WATCH_ADDRESSES": MAINNET_ADDR}))
        assert set(watchers) >= {"unit-venue", "wallets", "own-txs"}
        assert isinstance(watchers["own-txs"], OwnTxWatcher)
        (address,) = watchers["wallets"].watch.addresses
        assert address[0] == 0x01 and len(address) == 57  # base address, mainnet
        with pytest.raises(ValueError, match="already registered"):
            register("unit-venue", lambda s: UtxoWatcher("unit-venue"))
        with pytest.raises(ValueError):
            register("wallets", lambda s: UtxoWatcher("wallets"))
    finally:
        unregister("unit-venue")


def test_venue_modules_that_do_not_import_are_config_errors():
    load_venue_modules(("json",))
    with pytest.raises(ConfigError, match="VENUE_MODULES"):
        load_venue_modules(("surely_not_a_module_here",))
