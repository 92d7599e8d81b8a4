"""Redis locks that say who holds them, so a lock left by a dead process on this machine
is taken over at once instead of after its timeout.

A lock's value (redis-py's token) is "<host>/<pid>/<random>". A worker that finds the
lock busy reads it: held by a process of this host that no longer exists (a pool
process killed mid-task, whose task Celery gives back), it deletes the lock — only if
the value is still the one it read — and asks again. Anything else (another host, a live
or unknown process, a value of another shape) waits for the timeout as before. A reused
pid only makes it wait: never two holders.
"""
from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from redis.exceptions import RedisError, WatchError


def holder_token() -> str:
    """A lock token naming this process: host, pid and a random part."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex}"


def holder_of(token: bytes | str | None) -> tuple[str, int] | None:
    """(host, pid) of a token made by `holder_token`; None for anything else."""
    if isinstance(token, bytes):
        token = token.decode("utf-8", "replace")
    if not isinstance(token, str):
        return None
    parts = token.split("/")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or a pid we cannot judge: assume alive
    return True


def take_from_dead_holder(redis: Any, name: str) -> bool:
    """Delete the lock `name` if its holder is a process of this host that has exited;
    True when it was deleted (the caller may acquire it now)."""
    try:
        with redis.pipeline() as pipe:
            pipe.watch(name)
            value = pipe.get(name)
            holder = holder_of(value)
            if holder is None or holder[0] != socket.gethostname() or holder[1] == os.getpid() \
                    or process_exists(holder[1]):
                return False
            pipe.multi()
            pipe.delete(name)
            pipe.execute()
            return True
    except (WatchError, RedisError):
        return False
