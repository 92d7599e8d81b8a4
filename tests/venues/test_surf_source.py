"""The Surf source: registered, on or off per network and settings (and why), its watch
learned from the API and the chain and saved, its loans listed from the API."""
from __future__ import annotations

from pathlib import Path

import pytest

import protocols.venues  # noqa: F401  (registers every venue)
from core.settings import settings_from_mapping
from protocols.errors import Unsupported, VenueDisabled
from protocols.registry import registered_venues
from protocols.venues.surf.source import SurfSource, learn_from_records
from protocols.venues.surf.tokens import load_book
from stubs.server import StubServer
from stubs.surf import load_demo
from tests.venues.cases.surf import demo_source


def source(tmp_path: Path, **values: str) -> SurfSource:
    settings = settings_from_mapping({"DATA_DIR": str(tmp_path), **values})
    made = registered_venues(settings)["surf"]
    assert isinstance(made, SurfSource)
    return made


def test_on_mainnet_surf_runs_against_its_api(tmp_path: Path) -> None:
    surf = source(tmp_path)
    assert surf.enabled and surf.network.name == "mainnet"
    assert surf.api is not None and surf.api.http.base_url == "https://surflending.org/api"
    assert surf.watch.needles == []  # nothing known on mainnet until learned
    assert set(surf.watched_kinds()) == {"pool", "vault", "oracle"}


def test_off_where_no_deployment_is_known_unless_an_api_is_set(tmp_path: Path) -> None:
    surf = source(tmp_path, CARDANO_NETWORK="preprod", CARDANO_NODE="tcp://127.0.0.1:3001")
    assert not surf.enabled
    assert "no Surf deployment is known on preprod" in (surf.disabled_reason or "")
    with pytest.raises(VenueDisabled):
        surf.fetch_markets()
    stubbed = source(tmp_path, CARDANO_NETWORK="preprod", CARDANO_NODE="tcp://127.0.0.1:3001",
                     SURF_API_URL="http://127.0.0.1:9/api")
    assert stubbed.enabled
    assert source(tmp_path, VENUES="liqwid").disabled_reason == "not in VENUES"


def test_learning_the_watch_from_the_api_and_the_chain(tmp_path: Path) -> None:
    stub = load_demo(mainnet=True)
    with StubServer(stub) as server:
        surf = source(tmp_path, SURF_API_URL=server.url + "/api")
        book = surf.learn()
    pools = list(stub.pools.values())
    assert book.pool_scripts == {p.pool_script for p in pools}
    assert book.vault_scripts == {p.info.vault_script_hash for p in pools}
    again = source(tmp_path, SURF_API_URL="http://127.0.0.1:9/api")
    assert set(again.watch.credentials) == book.pool_scripts | book.vault_scripts
    assert load_book("mainnet", tmp_path / "surf" / "mainnet.json") == book
    from protocols.venues.surf import chain
    from protocols.venues.surf.datums import encode
    from tests.venues.test_surf_chain import info_out
    record = chain.read_output(book.add("pool_auth_policies", [bytes.fromhex("e1" * 28)]),
                               "aa#0", info_out(), encode(pools[0].info))
    assert record is not None
    learned = learn_from_records(book, [record])
    assert pools[0].info.order_script_hash in learned.order_scripts
    assert bytes.fromhex(pools[0].info.vault_authtoken.policy) in learned.vault_auth_policies


def test_the_market_refresh_discovers_the_watch_for_the_next_start(tmp_path: Path) -> None:
    """The beat's refresh (tasks/venues.refresh_all) asks each venue to discover its
    identifiers: Surf's script addresses from getPoolAddresses, saved for the next start;
    a second discovery learns nothing new."""
    from tasks.venues import _discover

    stub = load_demo(mainnet=True)
    with StubServer(stub) as server:
        surf = source(tmp_path, SURF_API_URL=server.url + "/api")
        assert surf.watch.needles == []
        found = _discover(surf)
        assert found is not None and found.endswith("(watched from the next start)")
        assert _discover(surf) is None
    restarted = source(tmp_path, SURF_API_URL="http://127.0.0.1:9/api")
    assert restarted.watch.needles
    # The API down: one log line, nothing raised.
    assert _discover(restarted) is None


def test_loans_from_the_api(tmp_path: Path) -> None:
    stub = load_demo(mainnet=True)
    address = next(iter(stub.wallets))
    with StubServer(stub) as server:
        surf = demo_source(stub, server.url + "/api")
        [loan] = surf.fetch_loans(address)
        assert loan["loan"] == stub.wallets[address].positions[0]["borrow_id"]
        assert loan["current_ref"] == stub.wallets[address].positions[0]["out_ref"]
        assert loan["principal"] == 1_000_000_000 and loan["interest_rate"] == "0.088"
        with pytest.raises(Unsupported):
            surf.fetch_loans(None)
