"""`dhl run`: the whole system in one terminal, in paper mode on embedded defaults.

It decides where Redis and MongoDB are (the operator's URLs, a Redis already on
127.0.0.1:6379, or local servers it starts itself), creates the indexes, then runs
every Procfile process with honcho until Ctrl-C, and stops the services it started
after the processes that use them.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import urllib.request
from contextlib import ExitStack
from typing import Mapping

from core.settings import PROJECT_ROOT, Settings, settings_from_mapping
from dhl.procfile import load_processes
from dhl.services import (LocalService, ServiceError, die_with_parent, mongo_answers,
                          redis_answers, start_mongo, start_redis, start_simulator, wait_until)

log = logging.getLogger("dhl.run")

DEFAULT_LOCAL_REDIS = "redis://127.0.0.1:6379/0"
#: Written in DATA_DIR while `dhl run` runs: where its services are, for `dhl state`.
RUNTIME_ENV = "run.env"
#: The line of RUNTIME_ENV with the pid of the `dhl run` that wrote it.
RUNTIME_PID = "DHL_RUN_PID"


def say(message: str) -> None:
    print(f"dhl run | {message}", flush=True)


def resolve_redis(settings: Settings, stack: ExitStack) -> str:
    if "REDIS_URL" in settings.explicit:
        if not redis_answers(settings.redis_url, timeout_s=2):
            raise ServiceError("REDIS_URL is set but nothing answers there; start that Redis "
                               "or unset REDIS_URL to use a local one")
        return settings.redis_url
    if redis_answers(DEFAULT_LOCAL_REDIS):
        say("using the Redis already running at 127.0.0.1:6379")
        return DEFAULT_LOCAL_REDIS
    service = start_redis(settings.data_dir / "redis")
    stack.callback(_stop, service)
    say(f"started an embedded Redis at {service.url} (data in {settings.data_dir / 'redis'})")
    return service.url


def resolve_mongo(settings: Settings, stack: ExitStack) -> str:
    if "MONGO_URL" in settings.explicit:
        if not mongo_answers(settings.mongo_url, timeout_ms=3000):
            raise ServiceError("MONGO_URL is set but no MongoDB answers there; start it or "
                               "unset MONGO_URL to use the embedded server")
        return settings.mongo_url
    service = start_mongo(settings.data_dir / "mongo")
    stack.callback(_stop, service)
    say(f"started the embedded MongoDB server (nx-27017) at {service.url} "
        f"(data in {settings.data_dir / 'mongo'})")
    return service.url


#: What the demo replays when no node is configured: 864 real linked preprod blocks.
DEMO_CHUNK = ("cardano", "segments", "preprod-babbage-chunk01285", "01285.chunk")
DEMO_INITIAL_BLOCKS = 50
DEMO_BLOCK_INTERVAL_S = 2.0


def resolve_node(settings: Settings, stack: ExitStack) -> dict[str, str] | None:
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
    stack.callback(_stop, service)
    say(f"started the node simulator at {service.url}: it replays {chunk.name}, 864 recorded "
        f"preprod blocks ({DEMO_INITIAL_BLOCKS} at once, then one every "
        f"{DEMO_BLOCK_INTERVAL_S:.0f}s)")
    return {"CARDANO_NODE": service.url, "CARDANO_NETWORK": "preprod", "FOLLOW_FROM": "origin"}


def _stop(service: LocalService) -> None:
    service.stop()
    say(f"stopped the embedded {service.name}")


def child_environment(environ: Mapping[str, str], settings: Settings, redis_url: str,
                      mongo_url: str) -> dict[str, str]:
    env = dict(environ)
    env.update({
        "REDIS_URL": redis_url,
        "MONGO_URL": mongo_url,
        "PORT": str(settings.port),
        "FLOWER_PORT": str(settings.flower_port),
        "PYTHONUNBUFFERED": "1",
        # The Procfile's commands (gunicorn, celery) come from this virtual environment.
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")]),
    })
    return env


def _announce_when_up(settings: Settings, stop: threading.Event) -> None:
    host = "127.0.0.1" if settings.bind_host in ("0.0.0.0", "::") else settings.bind_host
    base = f"http://{host}:{settings.port}"

    def healthy() -> bool:
        with urllib.request.urlopen(base + "/health", timeout=1) as response:
            return response.status == 200

    if wait_until(lambda: stop.is_set() or healthy(), timeout_s=120, interval_s=0.5) \
            and not stop.is_set():
        say(f"API      {base}/   (health {base}/health, readiness {base}/ready)")
        say(f"API docs {base}/docs   (OpenAPI {base}/openapi.json)")
        say(f"Flower   http://127.0.0.1:{settings.flower_port}/")
        say(f"mode     {settings.mode}; Ctrl-C stops everything")


def _orphan_proof_manager():  # type: ignore[no-untyped-def]
    """A honcho Manager whose processes die with `dhl run`, even when it is SIGKILLed.

    honcho relays each process's output through a forked helper that ignores SIGTERM:
    the helper gets SIGKILL when `dhl run` dies, and the command (exec'd by the shell,
    so it is the helper's direct child) gets SIGTERM when the helper dies.
    """
    from honcho import process as honcho_process
    from honcho.manager import Manager

    class ChildPopen(honcho_process.Popen):
        def __init__(self, cmd, **kwargs):  # type: ignore[no-untyped-def]
            kwargs.setdefault("preexec_fn", die_with_parent)
            super().__init__(f"exec {cmd}", **kwargs)

    class Process(honcho_process.Process):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            self._child_ctor = ChildPopen

        def run(self, events=None, ignore_signals=False):  # type: ignore[no-untyped-def]
            die_with_parent(signal.SIGKILL)
            super().run(events, ignore_signals)

    manager = Manager()
    manager._process_ctor = Process
    return manager


def run_stack(settings: Settings, environ: Mapping[str, str]) -> int:
    from store.indexes import ensure_indexes
    from store.mongo import connect

    processes = load_processes(PROJECT_ROOT / "Procfile")
    with ExitStack() as stack:
        try:
            redis_url = resolve_redis(settings, stack)
            mongo_url = resolve_mongo(settings, stack)
            node_env = resolve_node(settings, stack)
        except ServiceError as error:
            print(f"dhl run: {error}", file=sys.stderr, flush=True)
            return 1
        env = child_environment(environ, settings, redis_url, mongo_url)
        if node_env is None:
            processes.pop("follower", None)
        else:
            env.update(node_env)
        if settings.cardano_node is None:
            # Replay: every process is on the replayed network (what `settings` were
            # checked against), with or without recorded blocks to follow.
            env["CARDANO_NETWORK"] = settings.cardano_network.name
        operator_set = settings.explicit
        settings = settings_from_mapping(env)  # what the children will see, checked once here
        client = connect(mongo_url)
        ensure_indexes(client[settings.mongo_db])
        client.close()

        runtime = settings.data_dir / RUNTIME_ENV
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # Only what this run chose itself: an operator's URLs (and their passwords) are
        # theirs to keep, not written to disk. The pid tells `dhl config` and `dhl state`
        # whether this stack still runs (a SIGKILLed run leaves the file behind).
        runtime.write_text("".join(f"{k}={env[k]}\n" for k in
                                   ("MONGO_URL", "REDIS_URL", "CARDANO_NODE", "CARDANO_NETWORK",
                                    "FOLLOW_FROM")
                                   if env.get(k) and k not in operator_set)
                           + f"{RUNTIME_PID}={os.getpid()}\n")
        stack.callback(runtime.unlink, missing_ok=True)
        manager = _orphan_proof_manager()
        for name, command in processes.items():
            manager.add_process(name, command, env=env, cwd=str(PROJECT_ROOT))
        stop = threading.Event()
        announcer = threading.Thread(target=_announce_when_up, args=(settings, stop), daemon=True)
        announcer.start()
        started = time.monotonic()
        manager.loop()
        stop.set()
        say(f"all processes stopped after {time.monotonic() - started:.0f}s")
        return manager.returncode or 0
