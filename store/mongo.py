"""MongoDB connections: one client per process (pymongo clients do not survive fork)."""
from __future__ import annotations

import os
import threading

from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import PyMongoError

# Other packages name these through store/, so pymongo is imported here only.
__all__ = ["Database", "MongoClient", "PyMongoError", "client_for", "close_all", "connect",
           "database", "ping"]

from core.settings import Settings

_lock = threading.Lock()
_clients: dict[tuple[int, str], MongoClient] = {}


def connect(url: str, *, timeout_ms: int = 5000, app_name: str = "dhl") -> MongoClient:
    """A new client with the options the project relies on everywhere.

    `connect=False`: nothing is resolved or dialled before the first operation, so a
    mongodb+srv:// name that does not resolve is a failed operation (MongoDB down, as
    /ready and the follower's retries report it), not a traceback at process start.
    """
    return MongoClient(
        url,
        connect=False,
        tz_aware=True,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=max(timeout_ms * 6, 30000),
        appname=app_name,
    )


def client_for(settings: Settings) -> MongoClient:
    """The process's shared client for `settings.mongo_url`, made anew after a fork."""
    key = (os.getpid(), settings.mongo_url)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = connect(settings.mongo_url)
            _clients[key] = client
        return client


def database(settings: Settings) -> Database:
    return client_for(settings)[settings.mongo_db]


def close_all() -> None:
    """Close this process's clients (at shutdown, and in tests between services)."""
    with _lock:
        for (pid, _), client in list(_clients.items()):
            if pid == os.getpid():
                client.close()
        _clients.clear()


def ping(client: MongoClient) -> None:
    """Raises when the server does not answer within the client's selection timeout."""
    client.admin.command("ping")
