"""Fixtures of the block-pipeline tests: the demo watchers over the recorded preprod chain,
and a database of the test's own with the project's indexes."""
from __future__ import annotations

import pytest

from protocols import demo
from tests.support.stores import indexed_database


@pytest.fixture
def env(test_env):
    return {**test_env, "CARDANO_NETWORK": "preprod", "WATCH_ADDRESSES": demo.WALLET,
            "VENUE_MODULES": "protocols.demo"}


@pytest.fixture
def stores(env, namespace):
    with indexed_database(env, namespace) as opened:
        yield opened
