"""The stack's Redis key namespace: one of its own, so stacks sharing a Redis stay apart.

Without REDIS_NAMESPACE it is derived from DATA_DIR (one data directory, one namespace).
A running stack claims its namespace with a key that expires unless refreshed, so a
second stack given the same namespace refuses, instead of sharing queues, results and
redbeat's schedule with the first.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
from pathlib import Path

import redis

from core.errors import ConfigConflict
from core.settings import Settings
from stack import lock

log = logging.getLogger(__name__)

#: A claim of a stack that died expires after this long (sooner on the same machine: see
#: `_abandoned`); a live stack refreshes it three times as often.
CLAIM_TTL_S = 30
REFRESH_S = CLAIM_TTL_S / 3

# Compare-and-act, so a stack only ever refreshes or deletes its own claim.
_REFRESH = "if redis.call('get', KEYS[1]) == ARGV[1] then " \
           "return redis.call('expire', KEYS[1], ARGV[2]) else return 0 end"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then " \
           "return redis.call('del', KEYS[1]) else return 0 end"
# Take over an abandoned claim only if it is still the one we judged: two stacks that
# found the same dead claim cannot both take it.
_TAKE_OVER = "if redis.call('get', KEYS[1]) == ARGV[1] then " \
             "return redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3]) else return 0 end"


def namespace_for(settings: Settings) -> str:
    """REDIS_NAMESPACE when set, else one derived from DATA_DIR."""
    if "REDIS_NAMESPACE" in settings.explicit:
        return settings.redis_namespace
    digest = hashlib.sha256(str(settings.data_dir).encode()).hexdigest()[:10]
    return f"dhl-{digest}"


def claim_key(namespace: str) -> str:
    return f"{namespace}:stack"


class NamespaceClaim:
    """This stack's claim on a namespace, refreshed in the background until `release()`."""

    def __init__(self, client: redis.Redis, key: str, value: str) -> None:
        self._client = client
        self._key = key
        self._value = value
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._refresh, name="namespace-claim",
                                        daemon=True)
        self._thread.start()

    def _refresh(self) -> None:
        while not self._stop.wait(REFRESH_S):
            try:
                if not self._client.eval(_REFRESH, 1, self._key, self._value, CLAIM_TTL_S):
                    log.warning("the claim on Redis namespace key %s was lost", self._key)
            except redis.RedisError as error:
                log.warning("could not refresh the Redis namespace claim: %s",
                            type(error).__name__)

    def release(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self._client.eval(_RELEASE, 1, self._key, self._value)
        except redis.RedisError:
            pass  # it expires by itself
        self._client.close()

    def __enter__(self) -> "NamespaceClaim":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim_namespace(redis_url: str, namespace: str, data_dir: Path,
                    facts: dict[str, str]) -> NamespaceClaim:
    """Claim `namespace` for the stack of `data_dir`, or raise ConfigConflict naming the
    stack that has it."""
    client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    key = claim_key(namespace)
    mine = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                       "data_dir": str(data_dir), **facts}, sort_keys=True)
    try:
        for _ in range(5):  # a claim that expires or is taken while we look: look again
            if client.set(key, mine, nx=True, ex=CLAIM_TTL_S):
                return NamespaceClaim(client, key, mine)
            raw = client.get(key)
            if raw is None:
                continue
            other = _claim_of(raw)
            if other is not None and not _abandoned(other, data_dir):
                where = f", web {other['web']}" if other.get("web") else ""
                raise ConfigConflict(
                    "REDIS_NAMESPACE", f"{namespace!r} is in use by the stack of DATA_DIR "
                    f"{other.get('data_dir')} (pid {other.get('pid')} on {other.get('host')}"
                    f"{where}); give this stack a REDIS_NAMESPACE of its own, or unset it to "
                    "derive one from DATA_DIR")
            if client.eval(_TAKE_OVER, 1, key, raw, mine, CLAIM_TTL_S):
                return NamespaceClaim(client, key, mine)
        raise ConfigConflict("REDIS_NAMESPACE", f"the claim on {namespace!r} keeps changing "
                                                "hands; is another stack starting with it?")
    except BaseException:
        client.close()
        raise


def _claim_of(raw: bytes) -> dict[str, object] | None:
    """A claim written by a stack, or None for anything else found under the key (it is
    then treated as abandoned: no stack of ours wrote it)."""
    try:
        claim = json.loads(raw)
    except ValueError:
        return None
    return claim if isinstance(claim, dict) else None


def _abandoned(claim: dict[str, object], data_dir: Path) -> bool:
    """Whether a claim found in Redis belongs to a stack that is gone.

    On this machine the claimant's DATA_DIR lock tells (a claim under our own DATA_DIR,
    which we hold now, is a crashed run's); elsewhere only the claim's expiry does.
    """
    if claim.get("host") != socket.gethostname():
        return False
    claimed_dir = Path(str(claim.get("data_dir")))
    return claimed_dir == data_dir or not lock.is_held(claimed_dir)
