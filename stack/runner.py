"""The stack runner behind `dhl run`: the whole system in one terminal, in paper mode
on embedded defaults.

It decides where Redis and MongoDB are (the operator's URLs, a Redis already on
127.0.0.1:6379, or local servers it starts itself), creates the indexes, then runs
every Procfile process with honcho until Ctrl-C, and stops the services it started
after the processes that use them.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import urllib.request
from contextlib import ExitStack
from typing import Mapping

from core.settings import PROJECT_ROOT, Settings, settings_from_mapping
from stack.console import say
from stack.honcho_manager import orphan_proof_manager
from stack.procfile import load_processes
from stack.processes import ServiceError, wait_until
from stack.resolve import resolve_mongo, resolve_node, resolve_redis
from stack.runtime_env import write_runtime_env


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


def run_stack(settings: Settings, environ: Mapping[str, str]) -> int:
    from store.indexes import ensure_indexes
    from store.mongo import connect

    processes = load_processes(PROJECT_ROOT / "Procfile")
    with ExitStack() as cleanup:
        try:
            redis_url = resolve_redis(settings, cleanup)
            mongo_url = resolve_mongo(settings, cleanup)
            node_env = resolve_node(settings, cleanup)
        except ServiceError as error:
            print(f"dhl run: {error}", file=sys.stderr, flush=True)
            return 1
        env = child_environment(environ, settings, redis_url, mongo_url)
        if node_env is None:
            processes.pop("follower", None)
        else:
            env.update(node_env)
        operator_set = settings.explicit
        settings = settings_from_mapping(env)  # what the children will see, checked once here
        client = connect(mongo_url)
        ensure_indexes(client[settings.mongo_db])
        client.close()

        runtime = write_runtime_env(settings.data_dir, env, operator_set)
        cleanup.callback(runtime.unlink, missing_ok=True)
        manager = orphan_proof_manager()
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
