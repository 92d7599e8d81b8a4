"""A venue's state read back (indexer/venue_state.py) over the real MongoDB server: API
market snapshots replaced whole per venue, the stale flag, chain records (through the
real block pipeline, rollbacks included) replacing the API's figures, and the beat's
refresh task."""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from chain.blockfile import read_blocks
from chain.ledger import TxOut
from chain.slots import slot_to_ms
from core.units import ADA_TOKEN
from indexer.apply import apply_pending
from indexer.effects import CreatedUtxo
from indexer.venue_state import (StoreChainView, current_markets, current_records,
                                 off_reason, refresh_markets, stored_markets)
from protocols.demo import POLICY as DEMO_POLICY
from store import own_txs, utxos, venue_markets
from store.codec import now_ms
from stubs.server import Fault
from tasks.venues import refresh_all
from tests.support.fake_venue import (BAD_DATUM, FakeLend, FakeLendApi, FakeOff, client_for,
                                      register_fakes, unregister_fakes)
from tests.support.fixtures import cardano
from tests.support.markets import SNEK, market, option
from tests.support.pipeline import write_log
from tests.support.stores import indexed_database

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def fakes_registered():
    """The fakes are in the registry for this module's tests only."""
    register_fakes()
    yield
    unregister_fakes()

CHUNK = "segments/preprod-babbage-chunk01285/01285.chunk"


@pytest.fixture
def venue_env(test_env):
    return {**test_env, "CARDANO_NETWORK": "preprod", "VENUE_MODULES": "tests.support.fake_venue_plugin",
            "VENUES": "fakelend", "MARKET_MAX_AGE_SECONDS": "900"}


@pytest.fixture
def state(venue_env, namespace):
    with indexed_database(venue_env, namespace) as opened:
        yield opened


def api_markets(as_of_ms: int):
    return [market("fakelend", "FAKE-ADA", ADA_TOKEN, (option(SNEK, "0.6"),), as_of_ms=as_of_ms,
                   liquidity=10**15, batcher=2_000_000),
            market("fakelend", "FAKE-SNEK", SNEK, (option(ADA_TOKEN, "0.7"),),
                   as_of_ms=as_of_ms, liquidity=5 * 10**9)]


@pytest.fixture
def api():
    fake = FakeLendApi(api_markets(now_ms()))
    fake.server.start()
    yield fake
    fake.server.stop()


@pytest.fixture
def source(state, api):
    settings, _ = state
    venue = FakeLend(settings)
    venue.client = client_for(api.server.url)
    return venue


# --- snapshots --------------------------------------------------------------------------

def test_refresh_stores_the_markets_and_reads_them_back_exactly(state, source, api):
    _, db = state
    result = refresh_markets(db, source, clock=lambda: 1234)
    assert (result.stored, result.error) == (2, None)
    markets, fetched = stored_markets(db, "fakelend")
    assert fetched == 1234
    assert markets == sorted(api.markets, key=lambda m: m.market_id)


@pytest.mark.parametrize("fault", [Fault(status=503), Fault(delay_s=1.0), Fault(malformed=True),
                                   Fault(drop=True), Fault(status=200, body={"markets": [{}]})],
                         ids=["503", "timeout", "not-json", "dropped", "bad-market"])
def test_a_failed_fetch_keeps_the_previous_snapshot(state, source, api, fault, caplog):
    _, db = state
    refresh_markets(db, source, clock=lambda: 1000)
    before = venue_markets.read_venue(db, "fakelend")
    api.server.fail_next("/markets", fault)
    with caplog.at_level(logging.WARNING, logger="indexer.venue_state"):
        result = refresh_markets(db, source, clock=lambda: 2000)
    assert result.stored is None and result.error
    assert venue_markets.read_venue(db, "fakelend") == before
    lines = [r.getMessage() for r in caplog.records if r.name == "indexer.venue_state"]
    assert len(lines) == 1 and "previous snapshot stays" in lines[0]
    assert "\n" not in lines[0]


def test_markets_of_another_venue_in_the_answer_store_nothing(state, source, api):
    _, db = state
    refresh_markets(db, source, clock=lambda: 1000)
    api.markets.append(market("liqwid", "Ada"))
    result = refresh_markets(db, source, clock=lambda: 2000)
    assert result.stored is None and "liqwid" in result.error
    assert stored_markets(db, "fakelend")[1] == 1000


def test_a_writer_that_dies_half_way_leaves_the_previous_snapshot_whole(state):
    _, db = state
    venue_markets.replace_venue(db, "v", {"a": {"n": "1"}, "b": {"n": "1"}}, 100)
    # The next writer's second document collides: its first is written, then it fails.
    pointer = db[venue_markets.SNAPSHOTS].find_one({"_id": "v"})
    doomed = pointer["next_generation"] + 1
    db[venue_markets.MARKETS].insert_one({"_id": f"v:{doomed}:b", "venue": "elsewhere",
                                          "generation": 0})
    with pytest.raises(Exception):
        venue_markets.replace_venue(db, "v", {"a": {"n": "2"}, "b": {"n": "2"}, "c": {}}, 200)
    assert db[venue_markets.MARKETS].count_documents({"venue": "v", "generation": doomed}) == 1
    snapshot = venue_markets.read_venue(db, "v")
    assert snapshot.fetched_ms == 100 and snapshot.markets == {"a": {"n": "1"}, "b": {"n": "1"}}
    # The next good write replaces it whole and removes what the dead writer left.
    assert venue_markets.replace_venue(db, "v", {"z": {"n": "3"}}, 300)
    assert venue_markets.read_venue(db, "v").markets == {"z": {"n": "3"}}
    assert db[venue_markets.MARKETS].count_documents({"venue": "v"}) == 1


def test_an_older_writer_never_undoes_a_newer_snapshot(state):
    _, db = state
    slow, fast = venue_markets.begin(db, "v"), venue_markets.begin(db, "v")
    assert venue_markets.commit(db, "v", fast, {"new": {}}, 200)
    assert not venue_markets.commit(db, "v", slow, {"old": {}, "older": {}}, 100)
    snapshot = venue_markets.read_venue(db, "v")
    assert snapshot.markets == {"new": {}} and snapshot.fetched_ms == 200
    assert db[venue_markets.MARKETS].count_documents({"venue": "v"}) == 1


def test_readers_never_see_half_a_venue(state):
    """Snapshot k has k % 7 + 1 markets, each marked k: a reader must always get one
    snapshot whole while a writer replaces it again and again."""
    _, db = state
    rounds = 60
    done = threading.Event()
    seen: list[int] = []
    problems: list[str] = []

    def reader() -> None:
        while not done.is_set():
            snap = venue_markets.read_venue(db, "v")
            if snap is None:
                continue
            k = snap.fetched_ms
            marks = {m["k"] for m in snap.markets.values()}
            if marks != {k} or len(snap.markets) != k % 7 + 1:
                problems.append(f"snapshot {k}: marks {marks}, {len(snap.markets)} markets")
            seen.append(k)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for k in range(1, rounds + 1):
            venue_markets.replace_venue(db, "v", {f"m{i}": {"k": k} for i in range(k % 7 + 1)},
                                        k)
    finally:
        done.set()
        for t in threads:
            t.join(timeout=30)
    assert problems == []
    assert len(set(seen)) > 1  # the readers did overlap the writes
    assert venue_markets.read_venue(db, "v").fetched_ms == rounds
    assert db[venue_markets.MARKETS].count_documents({"venue": "v"}) == rounds % 7 + 1


# --- current markets: stale flag, chain replacing the API ------------------------------------

def test_the_stale_flag_follows_the_market_age(state, source):
    settings, db = state
    now = now_ms()
    old, fresh = api_markets(now - 1000 * 1000)[0], api_markets(now - 899 * 1000)[1]
    venue_markets.replace_venue(db, "fakelend", {m.market_id: _doc(m) for m in (old, fresh)}, now)
    views = {v.market.market_id: v for v in current_markets(db, source, settings, now)}
    assert views["FAKE-ADA"].stale and round(views["FAKE-ADA"].age_s) == 1000
    assert not views["FAKE-SNEK"].stale
    shorter = replace(settings, market_max_age_seconds=60)
    assert all(v.stale for v in current_markets(db, source, shorter, now))


def _doc(m):
    from protocols.market_codec import market_to_dict

    return market_to_dict(m)


def blocks():
    return read_blocks(cardano(CHUNK))


def live_pools(chain):
    """Independently of the pipeline: the demo-policy outputs unspent after `chain`."""
    live = {}
    for block in chain:
        for tx in block.txs:
            for tx_id, index in tx.inputs:
                live.pop(f"{tx_id.hex()}#{index}", None)
            for index, out in enumerate(tx.outputs):
                if any(policy == DEMO_POLICY for policy, _ in out.assets):
                    live[f"{tx.id.hex()}#{index}"] = (block.slot, out.lovelace)
    return live


def apply_all(db, source):
    while True:
        result = apply_pending(db, source, "test", lease_ms=60_000)
        assert not result.poisoned
        if not result.more:
            return


def test_chain_records_replace_the_api_figures_through_the_pipeline(state, source, api):
    settings, db = state
    chain = blocks()
    refresh_markets(db, source)
    write_log(db, [("forward", b) for b in chain])
    apply_all(db, source)

    records = current_records(db, source)
    live = live_pools(chain)
    assert {r.ref for r, _ in records} == set(live)
    for record, at_ms in records:
        assert at_ms == slot_to_ms("preprod", live[record.ref][0])
    ref, (slot, lovelace) = max(live.items(), key=lambda item: item[1][0])

    now = slot_to_ms("preprod", chain[-1].slot) + 5_000
    views = {v.market.market_id: v for v in current_markets(db, source, settings, now)}
    pool = views["FAKE-ADA"].market
    assert pool.available_liquidity == lovelace != 10**15
    assert pool.provenance.source == "chain" and ref in pool.provenance.detail
    # True as of the last block the watcher applied, not only the block that made it.
    assert pool.provenance.as_of_ms == slot_to_ms("preprod", chain[-1].slot) > slot_to_ms(
        "preprod", slot)
    assert not views["FAKE-ADA"].stale and round(views["FAKE-ADA"].age_s) == 5
    assert pool.other_provenance["max_ltv"].source == "api"
    assert views["FAKE-SNEK"].market == next(m for m in api.markets if m.market_id == "FAKE-SNEK")

    # A rollback to before that output was made: the surviving chain's record is read.
    back_to = max(i for i, b in enumerate(chain) if b.slot < slot)
    write_log(db, [("backward", chain[back_to])], first_seq=len(chain) + 1)
    apply_all(db, source)
    survivors = live_pools(chain[:back_to + 1])
    assert {r.ref for r, _ in current_records(db, source)} == set(survivors)
    pool = {v.market.market_id: v.market
            for v in current_markets(db, source, settings, now)}["FAKE-ADA"]
    newest = max(survivors.items(), key=lambda item: item[1][0])[0]
    assert newest in pool.provenance.detail and ref not in pool.provenance.detail
    assert pool.provenance.as_of_ms == slot_to_ms("preprod", chain[back_to].slot)


def _created(ref: str, datum: bytes | None, lovelace: int = 3_000_000) -> CreatedUtxo:
    out = TxOut("addr_test1wz", b"", lovelace, {(DEMO_POLICY, b""): 1}, inline_datum=datum)
    return CreatedUtxo(ref, ref.split("#")[0], out, None)


def test_an_unreadable_utxo_is_left_out_with_a_warning(state, source, caplog):
    _, db = state
    good, bad = "aa" * 32 + "#0", "bb" * 32 + "#1"
    utxos.create(db, "fakelend", [_created(good, b"\xd8\x79\x80"),
                                  _created(bad, BAD_DATUM + b"...")], slot=90_000, height=5)
    with caplog.at_level(logging.WARNING, logger="indexer.venue_state"):
        records = current_records(db, source)
    assert [r.ref for r, _ in records] == [good]
    assert records[0][1] == slot_to_ms("preprod", 90_000)
    assert any(bad in r.getMessage() and "DatumLayoutError" in r.getMessage()
               for r in caplog.records)


def test_store_chain_view_answers_from_the_store(state, source):
    _, db = state
    tx_a, tx_b = "aa" * 32, "cc" * 32
    utxos.create(db, "fakelend", [_created(f"{tx_a}#0", b"\x01", 2_000_000),
                                  _created(f"{tx_a}#1", None, 5)], slot=90_000, height=5)
    utxos.spend_all(db, "fakelend", [(tx_b, [f"{tx_a}#1"])], slot=90_010, height=6)
    utxos.create(db, "other-venue", [_created(f"{tx_a}#2", None)], slot=90_000, height=5)
    own_txs.record_submitted(db, tx_b, "test")
    view = StoreChainView(db, "fakelend", network="preprod")
    spent = view.utxo(f"{tx_a}#1")
    assert spent.spent_tx == tx_b and spent.spent_slot == 90_010 and spent.lovelace == 5
    assert spent.assets == {(DEMO_POLICY.hex(), ""): 1}
    first = view.utxo(f"{tx_a}#0")
    assert first.inline_datum == b"\x01" and first.spent_tx is None and first.created_slot == 90_000
    assert view.utxo(f"{tx_a}#2") is None  # another venue's
    assert [u.ref for u in view.unspent_with_policy(DEMO_POLICY.hex())] == [f"{tx_a}#0"]
    assert view.unspent_with_policy("ee" * 28) == []
    assert [u.ref for u in view.created_by(tx_a)] == [f"{tx_a}#0", f"{tx_a}#1"]
    assert [u.ref for u in view.spent_by(tx_b)] == [f"{tx_a}#1"] and view.spent_by(tx_a) == []
    assert view.is_ours(tx_b) and not view.is_ours(tx_a)
    assert view.slot_time_ms(90_000) == (1_655_769_600 + 90_000 - 86_400) * 1000


def test_surf_oracle_prices_come_from_the_stored_oracle_utxos(state):
    """Surf's oracle UTxOs as the pipeline stores them (watcher_utxos), read back through
    SurfSource: each collateral of the stored API snapshot gets its oracle's price, and loses
    it once that UTxO is spent."""
    from protocols.market_codec import market_to_dict
    from protocols.model import OraclePrice
    from protocols.venues.surf.datums import encode
    from protocols.venues.surf.markets import parse_pool_infos
    from protocols.venues.surf.source import SurfSource
    from protocols.venues.surf.tokens import POOL_INFO_NFT, SurfBook
    from stubs.surf import load_demo

    settings, db = state
    stub = load_demo(mainnet=False)
    pools = list(stub.pools.values())
    auth = bytes.fromhex("e1" * 28)
    book = SurfBook("preprod").add("pool_auth_policies", [auth])
    for pool in pools:
        book = book.learn_pool_info(pool.info)
    source = SurfSource(settings.cardano_network, book, None)
    answer = json.loads(json.dumps(stub.get_all_pool_infos({})), parse_float=Decimal)
    rows, problems = parse_pool_infos(answer["poolInfos"], 1_780_000_000_000, 2_000_000)
    assert not problems
    venue_markets.replace_venue(db, "surf", {r.market.market_id: market_to_dict(r.market)
                                             for r in rows}, 1_780_000_000_000)

    def created(ref: str, assets: dict[tuple[bytes, bytes], int], datum: bytes) -> CreatedUtxo:
        return CreatedUtxo(ref, ref.split("#")[0],
                           TxOut("addr_test1wz", b"", 2_000_000, assets, inline_datum=datum),
                           None)

    infos = [created(f"{'a1' * 32}#{i}", {(auth, POOL_INFO_NFT): 1}, encode(pool.info))
             for i, pool in enumerate(pools)]
    nfts = [pool.info.collateral_infos[0].oracle_nft for pool in pools]
    oracles = [created(f"{'c1' * 32}#{i}", {(bytes.fromhex(nft.policy), bytes.fromhex(nft.name)):
                                            1}, encode(pool.oracle))
               for i, (pool, nft) in enumerate(zip(pools, nfts))]
    slot = 125_000_000  # preprod, 2026-06-05: after the oracles' updated_at
    utxos.create(db, "surf", [*infos, *oracles], slot=slot, height=5)
    assert slot_to_ms("preprod", slot) > pools[0].oracle.updated_at

    now = slot_to_ms("preprod", slot) + 60_000
    views = {v.market.market_id: v.market for v in current_markets(db, source, settings, now)}
    ada, usdm = views[pools[0].market_id], views[pools[1].market_id]
    assert ada.collaterals[0].oracle_price == OraclePrice(
        Decimal("0.5"), pools[0].oracle.updated_at, f"surf oracle {oracles[0].ref}")
    assert usdm.collaterals[0].oracle_price == OraclePrice(
        Decimal("0.454545"), pools[1].oracle.updated_at, f"surf oracle {oracles[1].ref}")

    utxos.spend_all(db, "surf", [("d1" * 32, [oracles[0].ref])], slot=slot + 10, height=6)
    views = {v.market.market_id: v.market for v in current_markets(db, source, settings, now)}
    assert views[pools[0].market_id].collaterals[0].oracle_price is None
    assert views[pools[1].market_id].collaterals[0].oracle_price == usdm.collaterals[0].oracle_price


# --- the beat's task ---------------------------------------------------------------------------

def test_the_task_body_refreshes_the_venues_that_are_on(state, source):
    settings, db = state
    off = FakeOff(settings)
    assert off_reason(settings, off) is not None and off_reason(settings, source) is None
    results = refresh_all(db, {"fakelend": source, "fakeoff": off}, settings)
    assert results == {"fakelend": {"stored": 2, "error": None, "discovered": None}}
    assert venue_markets.venues(db) == ["fakelend"]
    # Idempotent: a second run replaces the snapshot, it does not add to it.
    refresh_all(db, {"fakelend": source}, settings)
    assert db[venue_markets.MARKETS].count_documents({"venue": "fakelend"}) == 2


def test_a_real_worker_runs_the_task(venue_env, state, api, tmp_path, redis_client):
    from tasks.celery_app import make_celery
    from tasks.venues import REFRESH_TASK
    from tests.support.worker import WorkerProcess

    settings, db = state
    env = {**venue_env, "FAKE_LEND_URL": api.server.url}
    app = make_celery(settings)
    worker = WorkerProcess(env, Path(tmp_path) / "worker.log", concurrency=1)
    try:
        worker.wait_ready(app)
        app.send_task(REFRESH_TASK)
        deadline = time.monotonic() + 60
        while venue_markets.read_venue(db, "fakelend") is None:
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.2)
        assert set(venue_markets.read_venue(db, "fakelend").markets) == {"FAKE-ADA", "FAKE-SNEK"}
        assert f"Task {REFRESH_TASK}" in worker.log()
    finally:
        worker.stop()
        app.close()
