"""store/positions.py on the real MongoDB server (nx-27017 in the tests): one step taken
once across workers, the same key applied again changes nothing, history kept in order."""
from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from store import positions as store
from tests.support.stores import indexed_database
from trading.legs import Actual, Leg, LegKind, LegState, advance
from trading.position_codec import position_from_dict, position_to_dict, transition_update
from trading.positions import Position, PositionState, Side
from trading.transitions import Event, EventKind, IllegalTransition, event_key

pytestmark = pytest.mark.integration

TOKEN = "b" * 56 + "4d494e"
ADA = "lovelace"
BIG = 2**64 - 1  # past int64: stored as a string


@pytest.fixture
def db(test_env, namespace):
    with indexed_database(test_env, namespace) as (_, database):
        yield database


def stored_position(db, position_id: str = "p1") -> Position:
    p = Position(position_id=position_id, side=Side.LONG, traded=TOKEN, venue="liqwid",
                 collateral_asset=ADA, requested_ms=1_000)
    store.insert(db, position_to_dict(p))
    return p


def apply(db, event: Event, position_id: str = "p1"):
    return store.apply(db, position_id, event_key(position_id, event), transition_update(event))


def deposit(state: LegState = LegState.PLANNED, attempt: int = 1) -> Leg:
    planned = Leg("dep", LegKind.DEPOSIT_COLLATERAL, "liqwid", "deposit", attempt,
                  asset_in=ADA, amount_in=BIG)
    if state is LegState.PLANNED:
        return planned
    built = advance(planned, LegState.BUILT)
    if state is LegState.BUILT:
        return built
    sent = advance(built, LegState.SUBMITTED, tx_id="t1")
    if state is LegState.SUBMITTED:
        return sent
    return advance(sent, LegState.CONFIRMED, actual=Actual("t1", amount_in=BIG, network_fee=7))


def test_two_workers_racing_the_same_step_exactly_one_takes_it(db):
    """Both workers read the position and decide before either writes (a barrier inside
    `decide`): only the compare-and-set can tell them apart."""
    event = Event(EventKind.LEG, "deposit", 1, 2_000, leg=deposit())
    for n in range(8):
        pid = f"race{n}"
        stored_position(db, pid)
        both_decided = threading.Barrier(2, timeout=10)
        decide = transition_update(event)
        results: list = []
        decisions = []

        def slow_decide(doc, decide=decide, barrier=both_decided):
            decisions.append(doc["version"])
            out = decide(doc)
            if len(decisions) <= 2:
                barrier.wait()  # the first decision of each worker
            return out

        def worker(pid: str = pid, decide=slow_decide) -> None:
            results.append(store.apply(db, pid, event_key(pid, event), decide))

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert decisions == [0, 0]  # both decided on the same version; the loser re-read
        kinds = sorted(type(r).__name__ for r in results)
        assert kinds == ["AlreadyTaken", "Applied"], kinds
        doc = store.read(db, pid)
        assert doc["version"] == 1 and list(doc["history"]) == ["00000001"]
        assert doc["done"] == {f"{pid}:deposit:1:planned": 1}


def test_applying_the_same_key_again_changes_nothing(db):
    stored_position(db)
    event = Event(EventKind.LEG, "deposit", 1, 2_000, leg=deposit())
    first = apply(db, event)
    assert isinstance(first, store.Applied) and first.seq == 1
    again = apply(db, event)
    assert isinstance(again, store.AlreadyTaken) and again.seq == 1
    assert store.read(db, "p1") == first.doc
    # A retry is a new attempt: a key of its own.
    retry = Event(EventKind.LEG, "deposit", 2, 2_100,
                  leg=Leg("dep2", LegKind.DEPOSIT_COLLATERAL, "liqwid", "deposit", 2,
                          asset_in=ADA, amount_in=5))
    assert isinstance(apply(db, retry), store.Applied)


def test_history_is_kept_in_order_and_the_position_reads_back_whole(db):
    stored_position(db)
    for state in (LegState.PLANNED, LegState.BUILT, LegState.SUBMITTED):
        assert isinstance(apply(db, Event(EventKind.LEG, "deposit", 1, 2_000,
                                          leg=deposit(state))), store.Applied)
    locked = apply(db, Event(EventKind.COLLATERAL_LOCKED, "deposit", 1, 3_000,
                             leg=deposit(LegState.CONFIRMED)))
    assert isinstance(locked, store.Applied)
    p = position_from_dict(store.read(db, "p1"))
    assert p.state is PositionState.COLLATERAL_LOCKED and p.version == 4
    assert [h.event.phase for h in p.history] == ["planned", "built", "submitted", "confirmed"]
    assert [h.seq for h in p.history] == [1, 2, 3, 4]
    assert p.figures.collateral == {ADA: BIG} and p.figures.fees_paid == 7
    assert [d["_id"] for d in store.find_by_state(db, ["collateral_locked"])] == ["p1"]


def test_an_illegal_transition_writes_nothing(db):
    stored_position(db)
    before = store.read(db, "p1")
    with pytest.raises(IllegalTransition):
        apply(db, Event(EventKind.CLOSE, "close", 1, 2_000, fraction=Decimal(1)))
    assert store.read(db, "p1") == before


def test_workers_applying_different_steps_are_serialised_not_lost(db):
    """Many writers on one position at once: every distinct key lands exactly once."""
    stored_position(db)
    events = [Event(EventKind.LEG, f"s{i}", 1, 2_000,
                    leg=Leg(f"l{i}", LegKind.BORROW, "liqwid", f"s{i}", 1, asset_out=ADA,
                            amount_out=i)) for i in range(12)]
    results: list = []
    barrier = threading.Barrier(len(events) * 2)

    def worker(event: Event) -> None:
        barrier.wait()
        results.append(apply(db, event))

    threads = [threading.Thread(target=worker, args=(e,)) for e in events + events]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(r, store.Applied) for r in results) == len(events)
    p = position_from_dict(store.read(db, "p1"))
    assert p.version == len(events) and len(p.legs) == len(events)
    assert [h.seq for h in p.history] == list(range(1, len(events) + 1))


def test_a_position_is_inserted_once(db):
    stored_position(db)
    with pytest.raises(store.PositionExists):
        stored_position(db)
    with pytest.raises(store.PositionNotFound):
        apply(db, Event(EventKind.CANCEL, "cancel", 1, 1, reason="user"), "nobody")
