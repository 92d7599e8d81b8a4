"""/ready tells the truth: stop a real service and it is named; bring it back and it is not."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from app import create_app
from core.settings import settings_from_mapping
from stack.services import start_mongo, start_redis
from store import heartbeats
from store.mongo import close_all, database

pytestmark = pytest.mark.integration


@pytest.fixture
def own_services(tmp_path):
    """Services of this test alone, since it stops them."""
    started = {"redis": start_redis(tmp_path / "redis", persist=False),
               "broker": start_redis(tmp_path / "broker", persist=False),
               "mongodb": start_mongo(tmp_path / "mongo", in_memory=True)}
    yield started
    # The clients first, while their servers still answer: a MongoClient closed after its
    # server is gone waits out its server-selection timeout (seconds) to end its sessions.
    close_all()
    for service in started.values():
        service.stop()


@pytest.fixture
def client(own_services, namespace, tmp_path):
    settings = settings_from_mapping({
        "MONGO_URL": own_services["mongodb"].url, "MONGO_DB": namespace,
        "REDIS_URL": own_services["redis"].url, "CELERY_BROKER_URL": own_services["broker"].url,
        "REDIS_NAMESPACE": namespace, "DATA_DIR": str(tmp_path)})
    app = create_app(settings)
    yield app.test_client()
    app.extensions["dhl"].close()


def ready(client):
    response = client.get("/ready")
    return response.status_code, response.get_json()


def test_all_up_is_ready(client):
    status, body = ready(client)
    assert status == 200, body
    assert body["ready"] is True and body["down"] == []
    assert {"mongodb", "redis", "broker", "follower"} <= set(body["checks"])
    assert body["checks"]["broker"]["info"]["queues"] == \
        {"chain": 0, "watchers": 0, "execution": 0, "guards": 0, "notify": 0}


@pytest.mark.parametrize("name", ["redis", "broker", "mongodb"])
def test_a_stopped_service_is_named_and_recovers(client, own_services, tmp_path, name):
    service = own_services[name]
    port = service.port
    service.stop()
    status, body = ready(client)
    assert status == 503
    assert body["down"] == [name]
    assert body["checks"][name]["ok"] is False and body["checks"][name]["detail"]

    if name == "mongodb":
        own_services[name] = start_mongo(tmp_path / "mongo2", port=port, in_memory=True)
    else:
        own_services[name] = start_redis(tmp_path / f"{name}2", port=port, persist=False)
    status, body = ready(client)
    assert status == 200, body


def test_follower_lag_is_reported_and_can_be_required(own_services, namespace, tmp_path):
    env = {"MONGO_URL": own_services["mongodb"].url, "MONGO_DB": namespace,
           "REDIS_URL": own_services["redis"].url, "REDIS_NAMESPACE": namespace,
           "DATA_DIR": str(tmp_path), "REQUIRE_FOLLOWER": "true",
           "FOLLOWER_MAX_LAG_SECONDS": "60"}
    settings = settings_from_mapping(env)
    app = create_app(settings)
    client = app.test_client()
    status, body = ready(client)
    assert (status, body["down"]) == (503, ["follower"])

    db = database(settings)
    heartbeats.record(db, "follower", datetime.now(timezone.utc), {"lag_seconds": 600})
    status, body = ready(client)
    assert status == 503 and "600s behind" in body["checks"]["follower"]["detail"]

    heartbeats.record(db, "follower", datetime.now(timezone.utc), {"lag_seconds": 3})
    status, body = ready(client)
    assert status == 200 and body["checks"]["follower"]["info"]["lag_seconds"] == 3
    app.extensions["dhl"].close()
