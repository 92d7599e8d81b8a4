"""The embedded MongoDB server (nx-27017) as `dhl run` and the tests start it.

Each database is its own: dropping one leaves the others' data (in one shared file or
one shared in-memory store, nx-27017 keeps every database's collections together).
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from stack.processes import ServiceError
from stack.services import start_mongo
from store.mongo import connect

pytestmark = pytest.mark.integration


def assert_databases_apart(url: str) -> tuple[str, str]:
    """Write to two databases, drop the first: the second keeps its data. Returns the names."""
    first, second = (f"dhltest_{uuid.uuid4().hex[:12]}" for _ in range(2))
    client = connect(url)
    try:
        client[first]["things"].insert_one({"_id": "a"})
        client[second]["things"].insert_one({"_id": "b"})
        assert client[first]["things"].count_documents({}) == 1
        client.drop_database(first)
        assert client[first]["things"].count_documents({}) == 0
        assert list(client[second]["things"].find()) == [{"_id": "b"}]
    finally:
        client.close()
    return first, second


def test_the_test_server_keeps_databases_apart(mongo_url):
    _, second = assert_databases_apart(mongo_url)
    client = connect(mongo_url)
    client.drop_database(second)
    client.close()


def test_file_server_keeps_databases_apart_across_restarts(tmp_path: Path):
    data_dir = tmp_path / "mongo"
    data_dir.mkdir()
    # A killed server leaves its pid file; here it names a live process that is not
    # nx-27017 (this test), which nx-27017 alone would take for itself already running.
    (data_dir / "nx.pid").write_text(str(os.getpid()))
    service = start_mongo(data_dir)
    try:
        _, second = assert_databases_apart(service.url)
        assert (data_dir / "db" / f"{second}.db").is_file()  # a file of its own
        with pytest.raises(ServiceError, match=r"already serves .* \(pid \d+\)"):
            start_mongo(data_dir)
    finally:
        service.stop()
    assert not (data_dir / "nx.pid").exists()

    again = start_mongo(data_dir)
    try:
        client = connect(again.url)
        assert list(client[second]["things"].find()) == [{"_id": "b"}]
        client.close()
    finally:
        again.stop()
    assert sorted(p.name for p in data_dir.iterdir()) == ["db", "mongo.log"]
    assert (data_dir / "mongo.log").read_text().count("starting mongodb") == 2
