"""Where the stack's Redis, MongoDB and Cardano node are: the operator's, or embedded ones.

Each `resolve_*` returns what the processes should use and registers the stop of any
service it started on `cleanup`, so they stop last, after the processes using them.
"""
from __future__ import annotations

from contextlib import ExitStack

from core.settings import Settings
from stack.console import say
from stack.processes import LocalService, ServiceError
from stack.supervisor import Supervised
from stack.services import (MONGO_DATABASES, mongo_answers, redis_answers, start_mongo,
                            start_redis, start_simulator)

DEFAULT_LOCAL_REDIS = "redis://127.0.0.1:6379/0"

#: Where earlier versions kept every database in one nx-27017 file.
OLD_SINGLE_FILE = "dhl.db"

#: What the demo replays when no node is configured: 864 real linked preprod blocks.
DEMO_CHUNK = ("cardano", "segments", "preprod-babbage-chunk01285", "01285.chunk")
DEMO_INITIAL_BLOCKS = 50
DEMO_BLOCK_INTERVAL_S = 2.0


def resolve_redis(settings: Settings, cleanup: ExitStack) -> str:
    if "REDIS_URL" in settings.explicit:
        if not redis_answers(settings.redis_url, timeout_s=2):
            raise ServiceError("REDIS_URL is set but nothing answers there; start that Redis "
                               "or unset REDIS_URL to use a local one")
        return settings.redis_url
    if redis_answers(DEFAULT_LOCAL_REDIS):
        say("using the Redis already running at 127.0.0.1:6379")
        return DEFAULT_LOCAL_REDIS
    redis_dir = settings.data_dir / "redis"
    service = start_redis(redis_dir)
    cleanup.callback(Supervised(service, lambda port: start_redis(redis_dir, port=port)).stop)
    say(f"started an embedded Redis at {service.url} (data in {settings.data_dir / 'redis'})")
    return service.url


def resolve_mongo(settings: Settings, cleanup: ExitStack) -> str:
    if "MONGO_URL" in settings.explicit:
        if not mongo_answers(settings.mongo_url, timeout_ms=3000):
            raise ServiceError("MONGO_URL is set but no MongoDB answers there; start it or "
                               "unset MONGO_URL to use the embedded server")
        return settings.mongo_url
    data_dir = settings.data_dir / "mongo"
    service = start_mongo(data_dir)
    cleanup.callback(Supervised(service, lambda port: start_mongo(data_dir, port=port)).stop)
    say(f"started the embedded MongoDB server (nx-27017) at {service.url} "
        f"(a file per database in {data_dir / MONGO_DATABASES}, log {service.log_path})")
    if (data_dir / OLD_SINGLE_FILE).exists():
        say(f"{data_dir / OLD_SINGLE_FILE} held every database in one file and is no longer "
            "read; delete it (and its nx-* logs) when you do not need it")
    return service.url


def resolve_node(settings: Settings, cleanup: ExitStack) -> dict[str, str] | None:
    """Environment for the follower, or None when there is nothing to follow."""
    if settings.cardano_node is not None:  # a blank CARDANO_NODE= line means replay too
        return {}
    chunk = settings.fixtures_dir.joinpath(*DEMO_CHUNK)
    if not chunk.is_file():
        say(f"no CARDANO_NODE and no recorded blocks at {chunk}: the follower is not started "
            "(set CARDANO_NODE, or FIXTURES_DIR to the recorded fixtures)")
        return None
    service = start_simulator([chunk], settings.data_dir / "simulator", network="preprod",
                              initial=DEMO_INITIAL_BLOCKS, interval_s=DEMO_BLOCK_INTERVAL_S)
    cleanup.callback(_stop, service)
    say(f"started the node simulator at {service.url}: it replays {chunk.name}, 864 recorded "
        f"preprod blocks ({DEMO_INITIAL_BLOCKS} at once, then one every "
        f"{DEMO_BLOCK_INTERVAL_S:.0f}s)")
    return {"CARDANO_NODE": service.url, "CARDANO_NETWORK": "preprod", "FOLLOW_FROM": "origin"}


def _stop(service: LocalService) -> None:
    service.stop()
    say(f"stopped the embedded {service.name}")


#: The venue APIs `dhl run` stands in for in paper mode: setting -> (stub, path of the API).
VENUE_STUBS = {"LIQWID_API_URL": ("liqwid", "/graphql"), "SURF_API_URL": ("surf", "/api"),
               "DEXHUNTER_API_URL": ("dexhunter", "")}
#: What each stub answers from, under FIXTURES_DIR (None: data kept in the project).
STUB_DATA = {"liqwid": ("protocols", "liqwid-api", "recorded"), "surf": None,
             "dexhunter": ("dexhunter",)}
#: Stubs that stand in for a lending venue (started only while the venue is in VENUES).
VENUE_NAMES = frozenset({"liqwid", "surf"})


def resolve_venue_stubs(settings: Settings, cleanup: ExitStack) -> dict[str, str]:
    """In paper mode, a loopback stub for each venue API (and DexHunter's) the operator did
    not set: the demo's markets and quotes come from recorded bodies, and nothing reaches
    the network."""
    from stack.services import start_api_stub

    if not settings.paper:
        return {}
    env: dict[str, str] = {}
    for variable, (name, path) in VENUE_STUBS.items():
        if variable in settings.explicit or (name in VENUE_NAMES and name not in settings.venues):
            continue
        data = STUB_DATA[name]
        if data is not None and not settings.fixtures_dir.joinpath(*data).is_dir():
            say(f"no recorded {name} API bodies at {settings.fixtures_dir.joinpath(*data)}: "
                f"{name} has no markets in this demo (set FIXTURES_DIR, or {variable})")
            continue
        service = start_api_stub(name, settings.fixtures_dir, settings.data_dir / "stubs")
        cleanup.callback(_stop, service)
        env[variable] = service.url + path
        say(f"started the {name} API stub at {service.url} (paper mode: it answers from the "
            f"recorded bodies in {settings.fixtures_dir}; set {variable} to use another API)")
    return env
