"""`/ws`: a signed-in user's live view (flask-sock), docs/api.md "WebSocket".

Authenticated by `Authorization: Bearer …` on the upgrade request (bots), or — since a
browser cannot set that header — by a first message `{"type": "auth", "token": …}`
within AUTH_WAIT_S (never in the URL, which access logs keep). A reconnecting client
names the last event id it saw (`last_event_id` in the auth message or the query) and
gets what it missed from its feed (store/live_feed.py), or `resync` when its feed no
longer holds that far back.

Then, as they happen: its positions' events and leg transitions (`event`, each followed
by the position as `dhl positions show` figures it), its alerts (`alert`), prices
(`price`) and applied blocks (`block`), each re-marking its open positions
(`position`: health, liquidation price, PnL); a `heartbeat` when nothing was sent for
WS_HEARTBEAT_SECONDS. A client too slow to keep up is dropped (app/live_hub.py).
"""
from __future__ import annotations

import json
import logging
import socket
import time
from typing import Any, Mapping

from flask import Flask, current_app, request
from flask_sock import Sock
from redis.exceptions import RedisError
from simple_websocket import ConnectionClosed
from werkzeug.exceptions import HTTPException

from app.auth import user_of_token
from app.live_hub import Connection, Hub
from app.ownership import desk
from app.services import services
from core.settings import Settings
from store import live_feed
from store import positions as store
from store.redis import client_for

log = logging.getLogger(__name__)

AUTH_WAIT_S = 10.0
#: The largest message a client may send (it has little to say: auth, ping).
MAX_CLIENT_MESSAGE = 16 * 1024
#: The kernel's send buffer per client: bounded memory, and a client that stops reading
#: fills it soon, so its mailbox overflows and it is dropped.
SEND_BUFFER_BYTES = 64 * 1024
#: Open positions re-marked per block or price (the newest).
MARK_LIMIT = 100
LIVE_STATES = ("requested", "opening", "open", "closing")

CLOSE_UNAUTHORISED = 4401
CLOSE_BAD_REQUEST = 4400
CLOSE_TOO_SLOW = 4408
CLOSE_RATE = 4429


def init_app(app: Flask, settings: Settings) -> None:
    app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": 25,
                                         "max_message_size": MAX_CLIENT_MESSAGE}
    app.extensions["dhl_hub"] = Hub(settings.redis_url, settings.redis_namespace)
    Sock(app).route("/ws")(live)


class Refused(Exception):
    def __init__(self, code: int, field: str, message: str) -> None:
        super().__init__(message)
        self.code, self.field, self.message = code, field, message


def live(ws: Any) -> None:
    try:
        user, last_id = _authenticate(ws)
    except Refused as refused:
        _refuse(ws, refused)
        return
    settings = services().settings
    _shrink_send_buffer(ws)
    hub: Hub = current_app.extensions["dhl_hub"]
    connection = Connection(user, settings.ws_max_pending, lambda: _shut(ws))
    hub.register(connection)
    try:
        LiveSession(ws, connection, settings).run(last_id)
    except (ConnectionClosed, OSError):
        pass  # the client went, or was dropped
    finally:
        hub.unregister(connection)
    if connection.dropped:
        log.info("WebSocket of %s closed: %s", user, connection.dropped)


def _authenticate(ws: Any) -> tuple[str, str | None]:
    last_id = request.args.get("last_event_id")
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raw = ws.receive(timeout=AUTH_WAIT_S)
        if raw is None:
            raise Refused(CLOSE_UNAUTHORISED, "token",
                          f"send {{\"type\": \"auth\", \"token\": …}} within {AUTH_WAIT_S:g} s")
        first = _parsed(raw)
        if first.get("type") != "auth":
            raise Refused(CLOSE_UNAUTHORISED, "type", "the first message must be type auth")
        token = first.get("token")
        if not isinstance(token, str):
            raise Refused(CLOSE_UNAUTHORISED, "token", "a string: an API key or session token")
        last_id = first.get("last_event_id", last_id)
    if last_id is not None and (not isinstance(last_id, str)
                                or not live_feed.ENTRY_ID.fullmatch(last_id)):
        raise Refused(CLOSE_BAD_REQUEST, "last_event_id", "an event id as sent: <ms>-<seq>")
    try:
        user = user_of_token(token.strip())
    except HTTPException as error:  # the key's rate spent
        raise Refused(CLOSE_RATE, "token", str(error.description)) from None
    if user is None:
        raise Refused(CLOSE_UNAUTHORISED, "token", "not a valid API key or session token")
    return user, last_id


def _parsed(raw: Any) -> dict[str, Any]:
    try:
        message = json.loads(raw)
    except (TypeError, ValueError):
        raise Refused(CLOSE_BAD_REQUEST, "message", "not JSON") from None
    if not isinstance(message, dict):
        raise Refused(CLOSE_BAD_REQUEST, "message", "a JSON object")
    return message


def _refuse(ws: Any, refused: Refused) -> None:
    try:
        ws.send(json.dumps({"type": "error", "code": refused.code, "field": refused.field,
                            "message": refused.message}))
        ws.close(reason=refused.code, message=refused.message[:100])
    except (ConnectionClosed, OSError):
        pass


def _raw_socket(ws: Any) -> socket.socket | None:
    found = getattr(ws, "sock", None)
    return found if isinstance(found, socket.socket) else None


def _shrink_send_buffer(ws: Any) -> None:
    raw = _raw_socket(ws)
    if raw is not None:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)


def _shut(ws: Any) -> None:
    raw = _raw_socket(ws)
    if raw is not None:
        raw.shutdown(socket.SHUT_RDWR)


class LiveSession:
    """One connection's loop: replay, then what the hub hands over, and heartbeats."""

    def __init__(self, ws: Any, connection: Connection, settings: Settings) -> None:
        self.ws = ws
        self.connection = connection
        self.settings = settings
        self.user = connection.user
        self.desk = desk()
        self.last_id: str | None = None
        self.last_sent_s = time.monotonic()

    def send(self, message: Mapping[str, Any]) -> None:
        self.ws.send(json.dumps(dict(message), default=str, separators=(",", ":")))
        self.last_sent_s = time.monotonic()

    def run(self, last_id: str | None) -> None:
        resuming = last_id is not None
        if not resuming:  # from now on: the newest id is where a reconnect resumes
            last_id = self._redis(lambda c: live_feed.newest_id(
                c, self.settings.redis_namespace, self.user))
        self.last_id = last_id
        self.send({"type": "hello", "user": self.user, "last_event_id": last_id,
                   "heartbeat_s": self.settings.ws_heartbeat_seconds})
        if resuming:
            self._catch_up()
        self.send({"type": "positions", "positions": [self._view(doc)
                                                      for doc in self._positions()]})
        heartbeat_s = float(self.settings.ws_heartbeat_seconds)
        while self.ws.connected:
            self._read_client()
            pending = self.connection.take(min(1.0, heartbeat_s))
            if self.connection.dropped:
                self._close(CLOSE_TOO_SLOW, self.connection.dropped)
                return
            if pending.resume:
                self._catch_up()
            touched: set[str] = set()
            for entry in pending.feed:
                position = entry.message.get("position")
                if self._deliver(entry) and entry.message.get("type") == "event" \
                        and isinstance(position, str):
                    touched.add(position)
            for price in pending.prices.values():
                self.send(price)
            if pending.block is not None:
                self.send(pending.block)
            self._send_positions(touched, pending.block, remark=bool(pending.block or pending.prices))
            if time.monotonic() - self.last_sent_s >= heartbeat_s:
                self.send({"type": "heartbeat", "at_ms": int(time.time() * 1000),
                           "last_event_id": self.last_id})

    def _redis(self, call: Any) -> Any:
        try:
            return call(client_for(self.settings.redis_url))
        except RedisError as error:
            log.info("WebSocket of %s: Redis not answering (%s)", self.user, error)
            return None

    def _catch_up(self) -> None:
        replay = self._redis(lambda c: live_feed.since(
            c, self.settings.redis_namespace, self.user, self.last_id,
            limit=self.settings.ws_replay_events))
        if replay is None:
            return
        if not replay.complete:
            self.send({"type": "resync", "message": "events were missed: reload your state"})
        for entry in replay.entries:
            self._deliver(entry)

    def _deliver(self, entry: live_feed.FeedEntry) -> bool:
        if self.last_id is not None and (live_feed.entry_order(entry.entry_id)
                                         <= live_feed.entry_order(self.last_id)):
            return False  # already sent (replayed, then pushed too)
        self.send({**entry.message, "id": entry.entry_id})
        self.last_id = entry.entry_id
        return True

    def _positions(self) -> list[dict[str, Any]]:
        return store.of_user(self.desk.db, self.user, limit=MARK_LIMIT)

    def _send_positions(self, touched: set[str], block: dict[str, Any] | None,
                        remark: bool) -> None:
        docs = {}
        if remark:
            docs = {d["_id"]: d for d in self._positions() if d.get("state") in LIVE_STATES}
        for position_id in touched - set(docs):
            found = store.read(self.desk.db, position_id)
            if found is not None and store.user_of(found) == self.user:
                docs[position_id] = dict(found)
        for doc in docs.values():
            message: dict[str, Any] = {"type": "position", "view": self._view(doc)}
            if block is not None:
                message["block"] = {k: block.get(k) for k in ("slot", "height", "hash",
                                                              "applied_ms")}
            self.send(message)

    def _view(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        from tasks.position_orders import describe

        return dict(describe(self.desk, doc))

    def _read_client(self) -> None:
        raw = self.ws.receive(timeout=0)
        if raw is None:
            return
        try:
            message = _parsed(raw)
        except Refused as refused:
            self.send({"type": "error", "code": refused.code, "field": refused.field,
                       "message": refused.message})
            return
        if message.get("type") == "ping":
            self.send({"type": "pong", "at_ms": int(time.time() * 1000)})
        else:
            self.send({"type": "error", "code": CLOSE_BAD_REQUEST, "field": "type",
                       "message": "only ping is understood after auth"})

    def _close(self, code: int, reason: str) -> None:
        try:
            self.ws.close(reason=code, message=reason[:100])
        except (ConnectionClosed, OSError):
            pass
