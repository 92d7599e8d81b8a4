"""Shared fixtures: the real services (the MongoDB server, Redis) and per-test isolation.

Each test gets its own MongoDB database and Redis key namespace, so tests never see
each other's data and nothing needs flushing. Services the fixtures start listen on
127.0.0.1 only and are stopped at the end of the session.

The Redis may be shared (with other runs, other people), so every key a test's
namespace owns is deleted when the test ends, and the run fails, naming them, if keys
of its namespaces are still there at the end (a process that outlived its test).
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import redis as redis_lib

from core.settings import Settings, settings_from_mapping
from stack.processes import LocalService
from stack.services import redis_answers, start_mongo, start_redis
from store import mongo as store_mongo

LOCAL_REDIS = "redis://127.0.0.1:6379/0"
NAMESPACE_PREFIX = "dhltest_"

#: Every Redis key namespace this session handed out (only these are checked and deleted:
#: other sessions may share the Redis).
_namespaces: set[str] = set()
_leftovers = pytest.StashKey[list[str]]()


def keys_of(client: redis_lib.Redis, namespaces: set[str]) -> list[bytes]:
    """Every key that contains one of `namespaces`, wherever in the key (one SCAN)."""
    if not namespaces:
        return []
    match = f"*{next(iter(namespaces))}*" if len(namespaces) == 1 else f"*{NAMESPACE_PREFIX}*"
    wanted = [ns.encode() for ns in namespaces]
    return sorted(key for key in client.scan_iter(match=match, count=1000)
                  if any(ns in key for ns in wanted))


def delete_keys(client: redis_lib.Redis, keys: list[bytes]) -> None:
    for start in range(0, len(keys), 500):
        client.delete(*keys[start:start + 500])


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """TEST_MONGO_URL if given, else an nx-27017 server started for the session (in memory,
    each database in a store of its own: dropping a test's database leaves the others)."""
    given = os.environ.get("TEST_MONGO_URL")
    if given:
        yield given
        return
    service = start_mongo(tmp_path_factory.mktemp("mongo"), in_memory=True)
    yield service.url
    service.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory,
              pytestconfig: pytest.Config) -> Iterator[str]:
    """TEST_REDIS_URL, else the machine's Redis on 6379, else one started for the session.

    At the end of the session (after every test's teardown), keys still there under this
    session's namespaces are recorded for `pytest_sessionfinish`, then deleted."""
    given = os.environ.get("TEST_REDIS_URL")
    service: LocalService | None = None
    if given:
        url = given
    elif redis_answers(LOCAL_REDIS):
        url = LOCAL_REDIS
    else:
        service = start_redis(tmp_path_factory.mktemp("redis"), persist=False)
        url = service.url
    yield url
    client = redis_lib.Redis.from_url(url)
    try:
        left = keys_of(client, _namespaces)
        pytestconfig.stash[_leftovers] = [k.decode(errors="replace") for k in left]
        delete_keys(client, left)
    finally:
        client.close()
        if service is not None:
            service.stop()


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A fresh Redis key namespace (and MongoDB database name) for one test. Every fixture
    that starts processes under it depends on it, so they are stopped before the keys of
    the namespace (queues, bindings, results, redbeat, flags) are deleted here."""
    name = f"{NAMESPACE_PREFIX}{uuid.uuid4().hex[:12]}"
    _namespaces.add(name)
    yield name
    client = redis_lib.Redis.from_url(redis_url)
    try:
        delete_keys(client, keys_of(client, {name}))
    finally:
        client.close()


@pytest.fixture
def test_env(mongo_url: str, redis_url: str, namespace: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a test's processes: its own database and key namespace."""
    return {
        "MONGO_URL": mongo_url,
        "MONGO_DB": namespace,
        "REDIS_URL": redis_url,
        "REDIS_NAMESPACE": namespace,
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "INFO",
        # Nothing reaches the network: the venue and DexHunter APIs point at a closed loopback port
        # unless a test starts their stubs (tests/venues, the stack test of `dhl run`).
        "LIQWID_API_URL": "http://127.0.0.1:9/graphql",
        "SURF_API_URL": "http://127.0.0.1:9/api",
        "DEXHUNTER_API_URL": "http://127.0.0.1:9",
    }


@pytest.fixture
def settings(test_env: dict[str, str]) -> Settings:
    return settings_from_mapping(test_env)


@pytest.fixture
def db(settings: Settings, namespace: str) -> Iterator:
    client = store_mongo.connect(settings.mongo_url)
    yield client[namespace]
    client.drop_database(namespace)
    client.close()


@pytest.fixture
def redis_client(settings: Settings) -> Iterator[redis_lib.Redis]:
    """A client of the test's Redis; the `namespace` fixture deletes the test's keys."""
    client = redis_lib.Redis.from_url(settings.redis_url)
    yield client
    client.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Keys a test left in a shared Redis fail the run, even when every test passed.
    if session.config.stash.get(_leftovers, None) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    left = config.stash.get(_leftovers, None)
    if left:
        terminalreporter.section("Redis keys left by this run (now deleted)", red=True)
        for key in left[:40]:
            terminalreporter.write_line(key)
        if len(left) > 40:
            terminalreporter.write_line(f"... and {len(left) - 40} more")
