"""The WebSocket `/ws` (issue 12): authenticated, pushes a user's own events, alerts,
prices and blocks, re-marks their positions, heartbeats, replays what a reconnecting
client missed, and drops a slow client without slowing the others. The real app served
on a loopback port, the real Redis, the test MongoDB."""
from __future__ import annotations

import base64
import dataclasses
import json
import os
import socket
import time
from contextlib import ExitStack
from decimal import Decimal
from typing import Any, Callable, Iterator

import pytest
from simple_websocket import Client, ConnectionClosed

from app import create_app
from core.api_keys import new_key
from core.units import ADA, Asset
from stack.processes import wait_until
from store import api_keys
from tasks.alerts import Alert, raise_alert
from tasks.live_push import push_state, to_feed
from tasks.position_orders import OpenRequest, open_position
from tasks.positions import desk_for
from tests.positions.support import STRIKE, paper_desk, start_stubs
from tests.support.served import served

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(mongo_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[dict[str, Any]]:
    """The app served with small limits (one for the module: each test its own users,
    but for alice's paper position, requested), a key per user."""
    with ExitStack() as stack:
        paper = stack.enter_context(paper_desk(mongo_url, redis_url,
                                               tmp_path_factory.mktemp("ws"),
                                               start_stubs(stack)))
        settings = dataclasses.replace(paper.settings, ws_max_pending=200,
                                       ws_heartbeat_seconds=1, ws_replay_events=50)
        answer = open_position(desk_for(settings), OpenRequest(
            "long", Asset.from_unit(STRIKE), ADA, 100_000_000, Decimal("1.5"), user="alice"),
            lambda _pid: None)
        keys = {}
        for user in ("alice", "bob", "idle", "replayer", "flooded"):
            key_id, kept, keys[user] = new_key()
            api_keys.add(paper.desk.db, key_id, user, kept, 1)
        app = create_app(settings)
        stack.callback(app.extensions["dhl"].close)
        base = stack.enter_context(served(app))
        world = {"url": "ws" + base[4:] + "/ws", "keys": keys, "settings": settings,
                 "db": paper.desk.db, "position": answer["position"], "app": app}
        yield world


@pytest.fixture
def ws_world(world: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The module's world with this test's clients, closed after it."""
    with ExitStack() as stack:
        yield {**world, "stack": stack}


def connect(world: dict[str, Any], user: str, last_id: str | None = None) -> Client:
    """A client signed in as a browser does: the key in a first message."""
    ws = Client.connect(world["url"])
    world["stack"].callback(close_quietly, ws)
    auth: dict[str, Any] = {"type": "auth", "token": world["keys"][user]}
    if last_id is not None:
        auth["last_event_id"] = last_id
    ws.send(json.dumps(auth))
    return ws


def close_quietly(ws: Client) -> None:
    try:
        ws.close()
    except ConnectionClosed:
        pass


def until(ws: Client, wanted: Callable[[dict[str, Any]], bool], timeout_s: float = 10.0
          ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The first message `wanted` accepts, and every message before it."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        raw = ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        if raw is None:
            break
        message = json.loads(raw)
        if wanted(message):
            return message, seen
        seen.append(message)
    raise AssertionError(f"not received in {timeout_s} s; got {seen}")


def of_type(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("type") == kind


def event(world: dict[str, Any], user: str, n: int, pad: str = "") -> str | None:
    return to_feed(world["settings"], user, {"type": "event", "position": world["position"],
                                             "seq": n, "event": "test", "pad": pad})


def test_a_client_signs_in_or_is_refused(ws_world: dict[str, Any]) -> None:
    world = ws_world
    ws = Client.connect(world["url"])
    world["stack"].callback(close_quietly, ws)
    ws.send(json.dumps({"type": "auth", "token": "dhl_" + "0" * 16 + "_" + "1" * 64}))
    refused, _ = until(ws, of_type("error"))
    assert refused["code"] == 4401 and refused["field"] == "token"
    with pytest.raises(ConnectionClosed):
        until(ws, lambda m: False, 5)
    for first, field in (("not json", "message"), (json.dumps({"type": "hi"}), "type"),
                         (json.dumps({"type": "auth", "token": 7}), "token"),
                         (json.dumps({"type": "auth", "token": world["keys"]["bob"],
                                      "last_event_id": "x"}), "last_event_id")):
        ws = Client.connect(world["url"])
        world["stack"].callback(close_quietly, ws)
        ws.send(first)
        refused, _ = until(ws, of_type("error"))
        assert refused["field"] == field, refused
    # A bot: the key in the upgrade request's header; the key never comes back.
    bot = Client.connect(world["url"], headers={
        "Authorization": f"Bearer {world['keys']['alice']}"})
    world["stack"].callback(close_quietly, bot)
    hello, _ = until(bot, of_type("hello"))
    assert hello["user"] == "alice" and world["keys"]["alice"] not in json.dumps(hello)
    positions, _ = until(bot, of_type("positions"))
    assert [p["position"] for p in positions["positions"]] == [world["position"]]


def test_events_alerts_prices_and_blocks_reach_their_user_only(ws_world: dict[str, Any]) -> None:
    world = ws_world
    alice, bob = connect(world, "alice"), connect(world, "bob")
    for ws in (alice, bob):
        until(ws, of_type("positions"))
    first = event(world, "alice", 1)
    pushed, _ = until(alice, of_type("event"))
    assert pushed["id"] == first and pushed["position"] == world["position"]
    update, _ = until(alice, of_type("position"))  # the position as it is now
    assert update["view"]["position"] == world["position"]
    raise_alert(world["db"], world["settings"],
                Alert("ws-alert", "alice", "health", "warning", "health 1.3", 1,
                      world["position"]), lambda *_: None)
    alert, _ = until(alice, of_type("alert"))
    assert alert["message"] == "health 1.3" and alert["id"] > first
    push_state(world["settings"], "prices", {"unit": STRIKE, "price": "0.61",
                                             "source": "paper (set)", "at_ms": 1})
    price, _ = until(alice, of_type("price"))
    assert price["price"] == "0.61"
    push_state(world["settings"], "blocks", {"slot": 7, "height": 3, "hash": "ab" * 32})
    block, _ = until(alice, of_type("block"))
    marked, _ = until(alice, lambda m: m.get("type") == "position" and "block" in m)
    assert block["slot"] == 7 and marked["block"]["height"] == 3
    assert marked["view"]["position"] == world["position"]
    # bob heard the price and the block, nothing of alice's.
    _, bobs = until(bob, lambda m: m.get("type") == "block")
    assert {m["type"] for m in bobs} <= {"price", "heartbeat"}


def test_an_idle_client_hears_heartbeats(ws_world: dict[str, Any]) -> None:
    world = ws_world
    alice = connect(world, "idle")
    until(alice, of_type("positions"))
    started = time.monotonic()
    beat, _ = until(alice, of_type("heartbeat"), 5)
    assert time.monotonic() - started < 3 and "at_ms" in beat
    alice.send(json.dumps({"type": "ping"}))
    until(alice, of_type("pong"))
    alice.send("{")  # bad input: answered, the connection stays
    bad, _ = until(alice, of_type("error"))
    assert bad["field"] == "message"
    alice.send(json.dumps({"type": "ping"}))
    until(alice, of_type("pong"))


def test_a_reconnecting_client_gets_what_it_missed(ws_world: dict[str, Any]) -> None:
    world = ws_world
    alice = connect(world, "replayer")
    until(alice, of_type("positions"))
    seen = event(world, "replayer", 1)
    got, _ = until(alice, of_type("event"))
    assert got["id"] == seen
    alice.close()
    missed = [event(world, "replayer", n) for n in (2, 3, 4)]
    again = connect(world, "replayer", last_id=seen)
    hello, _ = until(again, of_type("hello"))
    assert hello["last_event_id"] == seen
    replayed = [until(again, of_type("event"))[0] for _ in missed]
    assert [m["id"] for m in replayed] == missed and [m["seq"] for m in replayed] == [2, 3, 4]
    until(again, of_type("positions"))
    live = event(world, "replayer", 5)  # and live from there, once
    got, before = until(again, of_type("event"))
    assert got["id"] == live and not [m for m in before if m.get("type") == "event"]
    # An id the feed no longer holds (trimmed or never ours): resync, then all it holds.
    stale = connect(world, "replayer", last_id="1-0")
    until(stale, of_type("resync"))
    kept = [until(stale, of_type("event"))[0]["seq"] for _ in range(5)]
    assert kept == [1, 2, 3, 4, 5]


def _stalled_client(world: dict[str, Any]) -> socket.socket:
    """A client that signs in, then never reads again (a tiny receive buffer)."""
    raw = socket.socket()
    world["stack"].callback(raw.close)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = world["url"][5:].split("/")[0].split(":")
    raw.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall((f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += raw.recv(1)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    payload = json.dumps({"type": "auth", "token": world["keys"]["flooded"]}).encode()
    mask = os.urandom(4)
    assert len(payload) < 126
    frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(
        b ^ mask[i % 4] for i, b in enumerate(payload))
    raw.sendall(frame)
    return raw


def test_a_slow_client_is_dropped_and_never_slows_the_others(ws_world: dict[str, Any]) -> None:
    world = ws_world
    hub = world["app"].extensions["dhl_hub"]
    fast = connect(world, "flooded")
    until(fast, of_type("positions"))
    stalled = _stalled_client(world)
    assert wait_until(lambda: hub.connections("flooded") == 2, 10)  # the stalled one signed in
    pad = "x" * 2000
    sent: list[str | None] = []
    for burst in range(20):  # 1,000 events of 2 kB in bursts of 50
        sent += [event(world, "flooded", burst * 50 + n, pad) for n in range(50)]
        time.sleep(0.05)
    got = [until(fast, of_type("event"))[0]["id"] for _ in sent]
    assert got == sent  # every one, in order, while the other stalls
    assert wait_until(lambda: hub.connections("flooded") == 1, 10)  # the stalled one dropped
    stalled.settimeout(5)
    drained = 0
    try:  # what the kernel buffered, then the end: the server closed it
        while chunk := stalled.recv(65536):
            drained += len(chunk)
    except ConnectionResetError:
        pass
    assert drained < 1000 * 2000
    after = event(world, "flooded", 1000)
    assert until(fast, of_type("event"))[0]["id"] == after
