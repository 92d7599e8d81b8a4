"""Shared fixtures: the real services (the MongoDB server, Redis) and per-test isolation.

Each test gets its own MongoDB database and Redis key namespace, so tests never see
each other's data and nothing needs flushing. Services the fixtures start listen on
127.0.0.1 only and are stopped at the end of the session.
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
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """TEST_REDIS_URL, else the machine's Redis on 6379, else one started for the session."""
    given = os.environ.get("TEST_REDIS_URL")
    if given:
        yield given
        return
    if redis_answers(LOCAL_REDIS):
        yield LOCAL_REDIS
        return
    service: LocalService = start_redis(tmp_path_factory.mktemp("redis"), persist=False)
    yield service.url
    service.stop()


@pytest.fixture
def namespace() -> str:
    return f"dhltest_{uuid.uuid4().hex[:12]}"


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
    client = redis_lib.Redis.from_url(settings.redis_url)
    yield client
    keys = list(client.scan_iter(match=f"{settings.redis_namespace}*", count=500))
    if keys:
        client.delete(*keys)
    client.close()
