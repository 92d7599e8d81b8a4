"""A user's live feed in Redis (store/live_feed.py): appended in order and pushed at once
with its id; replayed after an id, and said incomplete when that id is gone or more was
missed than a replay holds."""
from __future__ import annotations

import redis as redis_lib
import pytest

from store import live_feed

pytestmark = pytest.mark.integration


def test_a_feed_replays_after_an_id_and_says_when_it_cannot(
        redis_client: redis_lib.Redis, namespace: str) -> None:
    listener = redis_client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(live_feed.channel(namespace))
    listener.get_message(timeout=1)
    ids = [live_feed.append(redis_client, namespace, "alice", {"n": n}, keep=1000, ttl_s=60)
           for n in range(10)]
    live_feed.append(redis_client, namespace, "bob", {"n": "bob's"}, keep=1000, ttl_s=60)
    assert ids == sorted(ids, key=live_feed.entry_order) and len(set(ids)) == 10
    pushed = []
    while (message := listener.get_message(timeout=0.5)) is not None:
        pushed.append(live_feed.parse_published(message["data"]))
    listener.close()
    assert [(e.entry_id, e.user, e.message["n"]) for e in pushed[:10]] == [
        (i, "alice", n) for n, i in enumerate(ids)]
    assert pushed[10].user == "bob" and len(pushed) == 11
    assert 0 < redis_client.pttl(live_feed.stream_key(namespace, "alice")) <= 60_000

    after = live_feed.since(redis_client, namespace, "alice", ids[4], limit=10)
    assert after.complete and [e.message["n"] for e in after.entries] == [5, 6, 7, 8, 9]
    assert live_feed.since(redis_client, namespace, "alice", ids[9], limit=10) == \
        live_feed.Replay([], complete=True)
    too_many = live_feed.since(redis_client, namespace, "alice", ids[0], limit=3)
    assert not too_many.complete and [e.message["n"] for e in too_many.entries] == [7, 8, 9]
    gone = live_feed.since(redis_client, namespace, "alice", "1-0", limit=100)
    assert not gone.complete and len(gone.entries) == 10
    newest = live_feed.since(redis_client, namespace, "alice", None, limit=2)
    assert newest.complete and [e.message["n"] for e in newest.entries] == [8, 9]
    assert live_feed.newest_id(redis_client, namespace, "alice") == ids[9]
    assert live_feed.newest_id(redis_client, namespace, "carol") is None
    with pytest.raises(ValueError):
        live_feed.since(redis_client, namespace, "alice", "5", limit=1)
    for bad in (b"{}", b"[]", b'{"id": "1-0", "user": "a", "m": "[]"}', b"nope"):
        with pytest.raises(ValueError):
            live_feed.parse_published(bad)
