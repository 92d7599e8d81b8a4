from __future__ import annotations

from core.settings import settings_from_mapping
from tasks.celeryconfig import QUEUES, build_config
from tasks.schedule import beat_schedule


def config():
    return build_config(settings_from_mapping({"REDIS_URL": "redis://r:6379/3",
                                               "REDIS_NAMESPACE": "ns1"}))


def test_json_only():
    c = config()
    assert c["task_serializer"] == c["result_serializer"] == "json"
    assert c["accept_content"] == ["json"] and c["result_accept_content"] == ["json"]


def test_at_least_once_delivery():
    c = config()
    assert c["task_acks_late"] is True
    assert c["task_reject_on_worker_lost"] is True
    assert c["worker_prefetch_multiplier"] == 1


def test_each_queue_has_its_own_binding():
    c = config()
    assert QUEUES == ("chain", "watchers", "execution", "guards", "notify")
    bindings = {(q.name, q.exchange.name, q.routing_key) for q in c["task_queues"]}
    assert bindings == {(q, q, q) for q in QUEUES}
    for queue in QUEUES:
        assert c["task_routes"][f"{queue}.*"] == {"queue": queue}


def test_keys_live_under_the_namespace():
    c = config()
    assert c["broker_url"] == "redis://r:6379/3"
    assert c["broker_transport_options"]["global_keyprefix"] == "ns1:"
    assert c["redbeat_key_prefix"].startswith("ns1:")


def test_single_beat_through_redbeat():
    c = config()
    assert c["beat_scheduler"] == "redbeat.RedBeatScheduler"
    assert c["redbeat_redis_url"] == "redis://r:6379/3"


def test_every_scheduled_task_is_registered_and_routed():
    from tasks.celery_app import TASK_MODULES, make_celery

    app = make_celery(settings_from_mapping({}))
    for module in TASK_MODULES:
        __import__(module)
    for entry in beat_schedule(settings_from_mapping({})).values():
        assert entry["task"] in app.tasks
        assert entry["task"].split(".")[0] in QUEUES


def test_heartbeat_period_comes_from_the_settings():
    entry = beat_schedule(settings_from_mapping({"HEARTBEAT_SECONDS": "7"}))["worker-heartbeat"]
    assert entry["schedule"] == 7.0 and entry["options"]["expires"] == 14.0
