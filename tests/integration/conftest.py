"""Fixtures of the block-pipeline tests: the demo watchers over the recorded preprod chain,
and a database of the test's own with the project's indexes."""
from __future__ import annotations

import pytest

from core.settings import settings_from_mapping
from protocols import demo
from store.indexes import ensure_indexes
from store.mongo import close_all, connect


@pytest.fixture
def env(test_env):
    return {**test_env, "CARDANO_NETWORK": "preprod", "WATCH_ADDRESSES": demo.WALLET,
            "VENUE_MODULES": "protocols.demo"}


@pytest.fixture
def stores(env, namespace):
    settings = settings_from_mapping(env)
    client = connect(settings.mongo_url)
    db = client[namespace]
    ensure_indexes(db)
    yield settings, db
    client.drop_database(db.name)
    client.close()
    close_all()
