"""The trader's API, first part (issue 12): API keys (made by `dhl apikey create`, kept
hashed, shown once), and a user's positions and alerts — only their own: another user's
position is 404, as if it did not exist. Through the real app over the test MongoDB."""
from __future__ import annotations

import json
import time
from contextlib import ExitStack
from decimal import Decimal
from typing import Any, Iterator

import pytest

from app import create_app
from core.api_keys import new_key
from core.units import ADA, Asset
from store import alerts as alert_store
from store import api_keys
from tasks.alerts import Alert
from tasks.position_orders import OpenRequest, open_position
from tasks.positions import desk_for
from tests.positions.support import STRIKE, USDM, paper_settings, start_stubs, store_markets
from tests.support.cli import run_dhl

pytestmark = pytest.mark.integration


@pytest.fixture
def world(test_env: dict[str, str], db) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Two users' paper positions (requested: no worker needed) and alerts, a key each."""
    with ExitStack() as stack:
        stubs = start_stubs(stack)
        env = {**test_env, **stubs.env()}
        settings = paper_settings(test_env, stubs)
        store_markets(settings)
        desk = desk_for(settings)
        ids = {}
        for user, token in (("alice", STRIKE), ("bob", USDM)):
            answer = open_position(desk, OpenRequest("long", Asset.from_unit(token), ADA,
                                                     100_000_000, Decimal("1.5"), user=user),
                                   lambda _pid: None)
            ids[user] = answer["position"]
            alert_store.record(db, Alert(f"a-{user}", user, "health", "warning",
                                         f"{user}'s alert", 1, ids[user]).doc())
        keys = {}
        for user in ("alice", "bob"):  # as `dhl apikey create` makes them (tested below)
            key_id, kept, keys[user] = new_key()
            api_keys.add(db, key_id, user, kept, 1)
        app = create_app(settings)
        stack.callback(app.extensions["dhl"].close)
        yield {"client": app.test_client(), "ids": ids, "keys": keys, "env": env, "db": db,
               "settings": settings, "stack": stack}


def get(world: dict[str, Any], path: str, user: str | None = None,
        token: str | None = None) -> Any:
    headers = {}
    if user is not None or token is not None:
        headers["Authorization"] = f"Bearer {token or world['keys'][user]}"
    return world["client"].get(path, headers=headers)


def test_a_key_is_shown_once_and_kept_hashed(world: dict[str, Any]) -> None:
    made = run_dhl(["apikey", "create", "carol"], world["env"])
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["key"]
    assert key.startswith("dhl_") and len(key) == 4 + 16 + 1 + 64
    carols = world["client"].get("/alerts", headers={"Authorization": f"Bearer {key}"})
    assert carols.status_code == 200 and carols.get_json()["alerts"] == []
    [kept] = api_keys.of_user(world["db"], "carol")
    stored = world["db"]["api_keys"].find_one({"_id": kept["_id"]})
    assert key.split("_")[2] not in json.dumps(stored, default=str)  # the secret is not kept
    listed = run_dhl(["apikey", "list", "--user", "carol"], world["env"])
    assert listed.returncode == 0 and key.split("_")[2] not in listed.stdout
    assert "digest" not in listed.stdout
    bad = run_dhl(["apikey", "create", "-bad user-"], world["env"])
    assert bad.returncode == 2 and "USER" in bad.stderr


def test_without_a_valid_key_nothing_is_answered(world: dict[str, Any]) -> None:
    for answer in (get(world, "/positions"), get(world, "/positions", token="nope"),
                   get(world, "/positions", token="dhl_" + "0" * 16 + "_" + "0" * 64),
                   get(world, "/alerts", token=world["keys"]["alice"][:-1] + "x")):
        assert answer.status_code == 401 and answer.is_json, answer.data
        assert "Bearer" in answer.get_json()["message"]
    key_id = world["keys"]["bob"].split("_")[1]
    revoked = run_dhl(["apikey", "revoke", key_id], world["env"])
    assert revoked.returncode == 0, revoked.stderr
    assert get(world, "/positions", "bob").status_code == 401


def test_a_user_sees_only_their_own(world: dict[str, Any]) -> None:
    ids = world["ids"]
    mine = get(world, "/positions", "alice").get_json()["positions"]
    assert [p["position"] for p in mine] == [ids["alice"]]
    shown = get(world, f"/positions/{ids['alice']}", "alice")
    assert shown.status_code == 200 and shown.get_json()["position"] == ids["alice"]
    assert "history" in shown.get_json()
    for other in (ids["bob"], "pos-nosuchthing", "../etc"):
        answer = get(world, f"/positions/{other}", "alice")
        assert answer.status_code == 404 and answer.is_json
        assert ids["bob"] not in json.dumps(get(world, "/positions", "alice").get_json())
    alerts = get(world, "/alerts", "alice").get_json()["alerts"]
    assert [a["id"] for a in alerts] == ["a-alice"] and alerts[0]["message"] == "alice's alert"
    bad = get(world, "/alerts?limit=0", "alice")
    assert bad.status_code == 422 and "limit" in json.dumps(bad.get_json())


def test_the_endpoints_are_in_the_openapi_document(world: dict[str, Any]) -> None:
    spec = world["client"].get("/openapi.json").get_json()
    assert {"/positions", "/positions/{position_id}", "/alerts"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


def post(world: dict[str, Any], path: str, body: Any, user: str | None = "alice",
         **headers: str) -> Any:
    if user is not None:
        headers["Authorization"] = f"Bearer {world['keys'][user]}"
    return world["client"].post(path, json=body, headers=headers)


ORDER = {"side": "long", "asset": STRIKE, "collateral": "ADA", "amount": "50",
         "leverage": "1.5"}


def count(world: dict[str, Any]) -> int:
    return int(world["db"]["positions"].count_documents({}))


def test_a_plan_places_nothing(world: dict[str, Any]) -> None:
    before = count(world)
    answer = post(world, "/plans", ORDER)
    assert answer.status_code == 200, answer.get_json()
    plan = answer.get_json()
    assert plan["ok"] and plan["venue"] == "surf" and plan["legs"]
    assert count(world) == before


def test_bad_orders_are_refused_naming_the_field_and_store_nothing(world: dict[str, Any]) -> None:
    before = count(world)
    assert post(world, "/orders", ORDER, user=None).status_code == 401
    for field, value in (("side", "sideways"), ("amount", "abc"), ("amount", "-5"),
                         ("leverage", "1"), ("asset", "ADA"), ("collateral", "BTC"),
                         ("mode", "demo"), ("signing", "hardware")):
        answer = post(world, "/orders", {**ORDER, field: value})
        assert answer.status_code == 422, (field, answer.get_json())
        assert field in json.dumps(answer.get_json()), (field, answer.get_json())
    # Live: a wallet-signed order needs a wallet sign-in (alice signed in with a key);
    # a managed one, the master key file this web process was not given.
    wallet = post(world, "/orders", {**ORDER, "mode": "live", "signing": "wallet"})
    assert wallet.status_code == 422 and "wallet sign-in" in json.dumps(wallet.get_json())
    managed = post(world, "/orders", {**ORDER, "mode": "live", "venue": "surf"})
    assert managed.status_code == 422 and "MASTER_KEY_FILE" in json.dumps(managed.get_json())
    missing = post(world, "/orders", {k: v for k, v in ORDER.items() if k != "leverage"})
    assert missing.status_code == 422 and "leverage" in json.dumps(missing.get_json())
    refused = post(world, "/orders", {**ORDER, "leverage": "40"})  # past the max LTV
    assert refused.status_code == 422 and refused.get_json()["errors"]["plan"]["ok"] is False
    assert count(world) == before


def test_an_order_with_an_idempotency_key_is_placed_once(world: dict[str, Any]) -> None:
    before = count(world)
    first = post(world, "/orders", ORDER, **{"Idempotency-Key": "retry-1"})
    assert first.status_code == 201, first.get_json()
    pid = first.get_json()["position"]
    again = post(world, "/orders", ORDER, **{"Idempotency-Key": "retry-1"})
    assert again.status_code == 200 and again.get_json()["position"] == pid
    assert count(world) == before + 1
    other = post(world, "/orders", {**ORDER, "leverage": "1.8"},
                 **{"Idempotency-Key": "retry-1"})
    assert other.status_code == 422 and "Idempotency-Key" in json.dumps(other.get_json())
    bobs = post(world, "/orders", ORDER, user="bob", **{"Idempotency-Key": "retry-1"})
    assert bobs.status_code == 201 and bobs.get_json()["position"] != pid  # keys are per user
    assert get(world, f"/orders/{pid}", "alice").get_json()["position"] == pid
    assert get(world, f"/orders/{pid}", "bob").status_code == 404
    assert world["db"]["positions"].find_one({"_id": pid})["order"]["user"] == "alice"


def put(world: dict[str, Any], path: str, body: Any, user: str = "alice") -> Any:
    return world["client"].put(path, json=body,
                               headers={"Authorization": f"Bearer {world['keys'][user]}"})


def test_acting_on_a_position_is_yours_only_and_checked(world: dict[str, Any]) -> None:
    """The positions here are requested (no worker runs them): guards may be set, a close
    or collateral is refused (422, saying why); another user's is 404; a bad field 422."""
    mine, bobs = world["ids"]["alice"], world["ids"]["bob"]
    guards = put(world, f"/positions/{mine}/guards",
                 {"take_profit": [{"price": "0.9"}], "stop_loss": "0.3", "alert_below": "1.5"})
    assert guards.status_code == 200, guards.get_json()
    assert {t["kind"] for t in guards.get_json()["triggers"]} == {
        "take_profit", "stop_loss", "health_alert"}
    assert put(world, f"/positions/{bobs}/guards", {"stop_loss": "0.3"}).status_code == 404
    bad = put(world, f"/positions/{mine}/guards", {"stop_loss": "abc"})
    assert bad.status_code == 422 and "stop_loss" in json.dumps(bad.get_json())
    nonsense = put(world, f"/positions/{mine}/guards", {"trailing_pct": "150"})
    assert nonsense.status_code == 422 and "trailing_pct" in nonsense.get_json()["message"]
    closing = post(world, f"/positions/{mine}/close", {})
    assert closing.status_code == 422 and "requested" in closing.get_json()["message"]
    assert post(world, f"/positions/{bobs}/close", {}).status_code == 404
    assert post(world, f"/positions/{mine}/close", {"fraction": "x"}).status_code == 422
    added = post(world, f"/positions/{mine}/collateral", {"amount": "5"})
    assert added.status_code == 422 and "open position" in added.get_json()["message"]
    assert post(world, f"/positions/{bobs}/collateral", {"amount": "5"}).status_code == 404


def test_your_kill_switch_stops_your_orders(world: dict[str, Any]) -> None:
    on = put(world, "/kill-switch", {"state": "on"})
    assert on.status_code == 200 and on.get_json()["state"] == "on"
    refused = post(world, "/orders", ORDER)
    assert refused.status_code == 422 and "kill switch" in refused.get_json()["message"]
    assert post(world, "/orders", ORDER, user="bob").status_code == 201  # bob's is off
    assert put(world, "/kill-switch", {"state": "maybe"}).status_code == 422
    assert put(world, "/kill-switch", {"state": "off"}).get_json()["state"] == "off"
    assert post(world, "/orders", ORDER).status_code == 201


def limited(world: dict[str, Any], **changes: Any) -> Any:
    """A client of the app built with other settings (the same database and keys)."""
    from dataclasses import replace

    app = create_app(replace(world["settings"], **changes))
    world["stack"].callback(app.extensions["dhl"].close)
    return app.test_client()


def test_bodies_cors_and_rates_are_limited(world: dict[str, Any]) -> None:
    auth = {"Authorization": f"Bearer {world['keys']['alice']}"}
    big = world["client"].post("/orders", data=b"x" * 300_000, headers={
        **auth, "Content-Type": "application/json"})
    assert big.status_code == 413 and big.is_json
    client = limited(world, cors_origins=("https://app.example",), api_rate_per_minute=4)
    while time.time() % 60 > 50:  # the window is a clock minute: not across its end
        time.sleep(0.5)
    ok = client.get("/alerts", headers={**auth, "Origin": "https://app.example"})
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Authorization" in ok.headers["Access-Control-Allow-Headers"]
    evil = client.get("/alerts", headers={**auth, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in evil.headers
    preflight = client.options("/orders", headers={"Origin": "https://app.example",
                                                   "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    answers = [client.get("/alerts", headers=auth).status_code for _ in range(4)]
    assert answers[:2] == [200, 200] and 429 in answers  # 4 a minute: 2 used above
    limited_answer = client.get("/alerts", headers=auth)
    assert limited_answer.status_code == 429 and limited_answer.is_json
    assert 0 < int(limited_answer.headers["Retry-After"]) <= 60
    bobs = client.get("/alerts", headers={"Authorization": f"Bearer {world['keys']['bob']}"})
    assert bobs.status_code == 200  # per key


def test_venues_markets_and_quotes(world: dict[str, Any]) -> None:
    client = world["client"]
    venues = {v["venue"]: v for v in client.get("/venues").get_json()["venues"]}
    assert venues["surf"]["enabled"] is True and venues["levvy"]["enabled"] is False
    assert venues["levvy"]["reason"]
    markets = client.get("/markets").get_json()["markets"]
    assert {m["venue"] for m in markets} == {"surf"} and len(markets) >= 2
    assert all(isinstance(m["borrow_apr"], str) for m in markets)  # exact, not floats
    quote = client.get(f"/quotes?side=long&asset={STRIKE}&size=100&leverage=1.8")
    assert quote.status_code == 200, quote.get_json()
    answer = quote.get_json()
    assert answer["chosen"].startswith("surf/") and answer["candidates"][0]["chosen"]
    assert any(c["reasons"] for c in answer["candidates"][1:])  # the others say why not
    for bad, field in (("side=up", "side"), ("size=-1", "size"), ("asset=ab", "asset")):
        query = {"side": "long", "asset": STRIKE, "size": "100", "leverage": "1.8"}
        key, value = bad.split("=")
        query[key] = value
        answer = client.get("/quotes", query_string=query)
        assert answer.status_code == 422 and field in json.dumps(answer.get_json()), bad
    unknown = client.get("/quotes", query_string={"side": "long", "asset": "ab" * 28,
                                                  "size": "100", "leverage": "1.8"})
    assert unknown.status_code == 422 and "no venue" in json.dumps(unknown.get_json())


def test_an_order_not_started_is_withdrawn(world: dict[str, Any]) -> None:
    mine = world["ids"]["alice"]
    client = world["client"]
    auth = {"Authorization": f"Bearer {world['keys']['alice']}"}
    assert client.delete(f"/orders/{mine}", headers={
        "Authorization": f"Bearer {world['keys']['bob']}"}).status_code == 404
    gone = client.delete(f"/orders/{mine}", headers=auth)
    assert gone.status_code == 200 and gone.get_json()["state"] == "cancelled"
    assert client.delete(f"/orders/{mine}", headers=auth).get_json()["state"] == "cancelled"
    view = get(world, f"/positions/{mine}", "alice").get_json()
    assert view["state"] == "cancelled"
    assert [h["event"] for h in view["history"]][-1] == "cancel"
    closing = post(world, f"/positions/{mine}/close", {})
    assert closing.status_code == 422  # nothing to close


def test_a_started_order_is_not_withdrawn(world: dict[str, Any]) -> None:
    """A worker planned the first leg (recorded as the flow records it): withdrawing is
    refused (409) — close the position instead — and nothing changes."""
    from tasks.position_flow import advance
    from tasks.positions import flow_context

    mine = world["ids"]["alice"]
    context = flow_context(world["settings"])
    advance(context, mine)  # as a worker would: the open's legs, in paper
    before = world["db"]["positions"].find_one({"_id": mine})["version"]
    refused = world["client"].delete(f"/orders/{mine}", headers={
        "Authorization": f"Bearer {world['keys']['alice']}"})
    assert refused.status_code == 409 and "close" in refused.get_json()["message"]
    assert world["db"]["positions"].find_one({"_id": mine})["version"] == before


def test_a_user_sets_their_alert_webhook_shown_its_secret_once(world: dict[str, Any]) -> None:
    from store import alerts as store_alerts

    client = world["client"]
    auth = {"Authorization": f"Bearer {world['keys']['alice']}"}
    assert client.put("/alerts/webhook", json={"url": "https://hooks.example.com/a"}
                      ).status_code == 401
    for bad in ("ftp://hooks.example.com/a", "http://127.0.0.1:8000/x", "http://localhost/x",
                "http://10.1.2.3/x", "http://169.254.169.254/latest", "http://[::1]/x",
                "https://user:pw@hooks.example.com/a"):
        refused = client.put("/alerts/webhook", json={"url": bad}, headers=auth)
        assert refused.status_code == 422 and "url" in refused.get_json()["errors"]["json"], bad
    assert store_alerts.webhook_of(world["db"], "alice") is None  # nothing set
    answer = client.put("/alerts/webhook", json={"url": "https://hooks.example.com/a"},
                        headers=auth)
    assert answer.status_code == 200, answer.get_json()
    secret = answer.get_json()["secret"]
    kept = store_alerts.webhook_of(world["db"], "alice")
    assert kept["url"] == "https://hooks.example.com/a" and kept["secret"] == secret
    assert secret not in json.dumps(client.get("/alerts", headers=auth).get_json())
    assert store_alerts.webhook_of(world["db"], "bob") is None  # alice's own only
    gone = client.delete("/alerts/webhook", headers=auth)
    assert gone.get_json() == {"removed": True}
    assert store_alerts.webhook_of(world["db"], "alice") is None
