"""The stack runner behind `dhl run`: the whole system in one terminal, in paper mode
on embedded defaults.

In order: it locks DATA_DIR (one stack per data directory), checks where it will
listen, decides where Redis and MongoDB are (the operator's URLs, a Redis already on
127.0.0.1:6379, or local servers it starts itself), claims its Redis namespace, creates
the indexes, then runs every Procfile process with honcho until Ctrl-C, and stops the
services it started after the processes that use them. A stack with another DATA_DIR
shares nothing with it: not the data, the namespace, the ports nor gunicorn's control
socket.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import ExitStack
from typing import Mapping

import redis

from core.errors import ConfigError
from core.settings import PROJECT_ROOT, Settings, redact_url, settings_from_mapping
from stack import lock
from stack.announce import announce_when_up, web_base
from stack.console import say
from stack.honcho_manager import orphan_proof_manager
from stack.namespace import claim_namespace, namespace_for
from stack.ports import Listen, choose_listen
from stack.procfile import load_processes
from stack.processes import LOOPBACK, ServiceError, reserve_ports
from stack.resolve import resolve_mongo, resolve_node, resolve_redis, resolve_venue_stubs
from stack.runtime_env import write_runtime_env


def child_environment(environ: Mapping[str, str], settings: Settings, listen: Listen,
                      namespace: str, redis_url: str, mongo_url: str) -> dict[str, str]:
    """What every Procfile process sees: the choices made here, over the operator's."""
    env = dict(environ)
    env.update({
        "REDIS_URL": redis_url,
        "MONGO_URL": mongo_url,
        "REDIS_NAMESPACE": namespace,
        "PORT": str(listen.port),
        "FLOWER_PORT": str(listen.flower_port),
        "FLOWER_URL": settings.flower_url or f"http://{LOOPBACK}:{listen.flower_port}/",
        # gunicorn's control socket lives in DATA_DIR: every child must agree on it.
        "DATA_DIR": str(settings.data_dir),
        "PYTHONUNBUFFERED": "1",
        # The Procfile's commands (gunicorn, celery) come from this virtual environment.
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")]),
    })
    return env


def _say_moved(settings: Settings, listen: Listen) -> None:
    if listen.port != settings.port:
        say(f"port {settings.port} is taken: the web process listens on {listen.port} "
            "(set PORT to choose)")
    if listen.flower_port != settings.flower_port:
        say(f"port {settings.flower_port} is taken: Flower listens on {listen.flower_port} "
            "(set FLOWER_PORT to choose)")


def run_stack(settings: Settings, environ: Mapping[str, str]) -> int:
    from store.indexes import ensure_indexes
    from store.mongo import connect

    processes = load_processes(PROJECT_ROOT / "Procfile")
    with ExitStack() as cleanup:
        redis_url = settings.redis_url  # until resolved: for the error line below
        try:
            # First the lock: a second stack in this DATA_DIR must not touch anything.
            held = cleanup.enter_context(lock.acquire(settings.data_dir))
            listen = choose_listen(settings)  # before any process starts
            # The services started below pick free ports: never these two, which nothing
            # listens on until the web process and Flower start.
            reserve_ports(listen.port, listen.flower_port)
            namespace = namespace_for(settings)
            web = web_base(settings.bind_host, listen.port) + "/"
            held.describe(web=web, flower=f"http://{LOOPBACK}:{listen.flower_port}/",
                          namespace=namespace)
            _say_moved(settings, listen)
            redis_url = resolve_redis(settings, cleanup)
            cleanup.enter_context(claim_namespace(redis_url, namespace, settings.data_dir,
                                                  {"web": web}))
            mongo_url = resolve_mongo(settings, cleanup)
            node_env = resolve_node(settings, cleanup)
            stub_env = resolve_venue_stubs(settings, cleanup)
        except ConfigError as error:
            print(f"config error: {error}", file=sys.stderr, flush=True)
            return 2
        except ServiceError as error:
            print(f"dhl run: {error}", file=sys.stderr, flush=True)
            return 1
        except redis.RedisError as error:  # it answered a ping, then refused (ACL, replica)
            print(f"dhl run: the Redis at {redact_url(redis_url)} refused the stack's claim "
                  f"on its namespace ({type(error).__name__}: {error})", file=sys.stderr,
                  flush=True)
            return 1
        except KeyboardInterrupt:  # Ctrl-C while services start: stop them, no traceback
            return 130
        env = child_environment(environ, settings, listen, namespace, redis_url, mongo_url)
        env.update(stub_env)
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

        runtime = write_runtime_env(settings.data_dir, env, operator_set)
        cleanup.callback(runtime.unlink, missing_ok=True)
        manager = orphan_proof_manager()
        for name, command in processes.items():
            manager.add_process(name, command, env=env, cwd=str(PROJECT_ROOT))
        stop = threading.Event()
        announcer = threading.Thread(target=announce_when_up, args=(settings, stop), daemon=True)
        announcer.start()
        started = time.monotonic()
        manager.loop()
        stop.set()
        say(f"all processes stopped after {time.monotonic() - started:.0f}s")
        return manager.returncode or 0
