"""A WebSocket connection's mailbox (app/live_hub.py): feed entries queue in order up to
WS_MAX_PENDING, then the connection is dropped and its socket shut (a blocked send ends);
blocks and prices keep only the newest (per token); the hub never waits for a client."""
from __future__ import annotations

import threading
import time

from app.live_hub import Connection, Hub
from store.live_feed import FeedEntry


def entry(n: int) -> FeedEntry:
    return FeedEntry(f"{n}-0", "alice", {"type": "event", "seq": n})


def test_entries_queue_in_order_and_an_overflow_drops_the_client() -> None:
    shut: list[bool] = []
    connection = Connection("alice", 3, lambda: shut.append(True))
    for n in range(3):
        connection.offer_entry(entry(n))
    taken = connection.take(0)
    assert [e.entry_id for e in taken.feed] == ["0-0", "1-0", "2-0"] and not shut
    for n in range(4):  # one more than may wait
        connection.offer_entry(entry(n))
    assert connection.dropped and "too slow" in connection.dropped and shut == [True]
    connection.offer_entry(entry(9))  # after the drop: nothing more is kept
    assert connection.take(0).feed == []


def test_blocks_and_prices_keep_only_the_newest() -> None:
    connection = Connection("alice", 10, lambda: None)
    for height in (1, 2, 3):
        connection.offer_block({"height": height})
    connection.offer_price({"unit": "a", "price": "1"})
    connection.offer_price({"unit": "a", "price": "2"})
    connection.offer_price({"unit": "b", "price": "5"})
    taken = connection.take(0)
    assert taken.block == {"height": 3}
    assert {u: p["price"] for u, p in taken.prices.items()} == {"a": "2", "b": "5"}
    assert not connection.take(0)  # emptied


def test_take_waits_for_something_and_wakes_at_once() -> None:
    connection = Connection("alice", 10, lambda: None)
    started = time.monotonic()
    assert not connection.take(0.2) and time.monotonic() - started >= 0.19
    threading.Timer(0.05, connection.resume).start()
    started = time.monotonic()
    assert connection.take(5).resume and time.monotonic() - started < 2


def test_the_hub_dispatches_to_the_users_connections_and_ignores_strangers() -> None:
    hub = Hub("redis://127.0.0.1:1/0", "ns")
    alice, bob = Connection("alice", 10, lambda: None), Connection("bob", 10, lambda: None)
    with hub._lock:  # registered without starting the subscriber thread
        hub._by_user.update({"alice": {alice}, "bob": {bob}})
    hub._dispatch(b"ns:feed", b'{"id": "5-0", "user": "alice", "m": "{\\"type\\": \\"alert\\"}"}')
    hub._dispatch(b"ns:blocks", b'{"type": "block", "height": 9}')
    hub._dispatch(b"ns:prices", b"not json")  # logged and ignored
    a, b = alice.take(0), bob.take(0)
    assert [e.entry_id for e in a.feed] == ["5-0"] and b.feed == []
    assert a.block == b.block == {"type": "block", "height": 9} and not a.prices
    hub.unregister(alice)
    assert hub.connections() == 1
