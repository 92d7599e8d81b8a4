"""Paper positions run by REAL Celery workers (tests/support/worker.py) on the test Redis
and MongoDB, against the Surf and DexHunter stubs (real HTTP on loopback, served from
threads of this process so their calls can be counted and faults queued):

- full open → close cycles through `dhl positions` (the CLI's entry, in this process);
- a worker whose pool process dies right after recording each kind of event (14 kills)
  still opens and settles a long, every step recorded once, the message redelivered by
  Celery itself;
- the advance task sent 5 times at once to two workers opens the position once;
- DexHunter's builds failing (HTTP 500) block the position (shown, not failed) until they
  pass, then it opens on its own (the task's retry with backoff);
- a build whose transaction pays a stranger is refused by the pre-signing check, the leg
  recorded failed, and attempt 2 opens the position (in this process, no worker).

One set of stubs for the module; one namespace and worker for the tests that can share
them (each test resets the stubs' counters and faults first).
"""
from __future__ import annotations

import json
import re
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest

from chain.ledger.address import address_text
from core.units import ADA, Asset
from stack.processes import wait_until
from stubs.server import Fault
from tasks.position_flow import advance
from tasks.position_orders import OpenRequest, close_position, open_position
from tasks.positions import ADVANCE_TASK, flow_context
from tests.positions.support import STRIKE, USDM, Paper, Stubs, dhl, one_json, paper_desk, \
    start_stubs
from tests.support.tamper import tampered_builds
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

BUILD = "/swap/build"
STRANGER = address_text(b"\x01" + bytes(range(100, 156)))
#: Events of a long STRIKE at 1.8x (100 ADA) on the Surf demo: 45 to open (11 legs of 4
#: events, then OPENED), 14 to close (CLOSE, 3 legs, SETTLED).
LONG_OPEN_EVENTS, LONG_EVENTS = 29, 59
RECEIVED = re.compile(r"Task execution\.advance_position\[([0-9a-f-]+)\] received")


@pytest.fixture(scope="module")
def stubs() -> Iterator[Stubs]:
    with ExitStack() as stack:
        yield start_stubs(stack)


@pytest.fixture(scope="module")
def shared(mongo_url: str, redis_url: str, stubs: Stubs,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Paper, WorkerProcess]]:
    """One desk and one worker (prefork, concurrency 2) for the tests that can share it."""
    with paper_desk(mongo_url, redis_url, tmp_path_factory.mktemp("shared"), stubs) as paper, \
            ExitStack() as stack:
        yield paper, paper.worker(stack, "worker-a")


@pytest.fixture
def fresh(mongo_url: str, redis_url: str, stubs: Stubs,
          tmp_path: Path) -> Iterator[Paper]:
    """A desk of the test's own, no worker started."""
    with paper_desk(mongo_url, redis_url, tmp_path, stubs) as paper:
        yield paper


@pytest.fixture(autouse=True)
def clean_stubs(stubs: Stubs) -> None:
    stubs.dexhunter.reset()
    stubs.surf.reset()


# --- what every run must show ------------------------------------------------------------

def swap_legs(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [leg for leg in view["legs"] if leg["kind"] == "swap"]


def assert_each_step_once(paper: Paper, position_id: str) -> dict[str, Any]:
    """History seqs 1..version, one idempotency key per event, each key once."""
    doc = paper.doc(position_id)
    view = paper.view(position_id)
    version = view["version"]
    assert [h["seq"] for h in view["history"]] == list(range(1, version + 1))
    done = doc["done"]
    assert sorted(int(seq) for seq in done.values()) == list(range(1, version + 1)), done
    # Every (step, attempt, event, leg state) at most once in the history.
    seen = [(h["step"], h["attempt"], h["event"], h.get("leg")) for h in view["history"]]
    assert len(seen) == len(set(seen)), seen
    return view


def assert_one_build_per_attempt(paper: Paper, view: dict[str, Any]) -> None:
    """Each swap leg (one attempt) was built by DexHunter exactly once (answered builds,
    faults not counted), and each loan leg (a borrow, a repay) by Surf exactly once:
    however often the worker died or the task came twice, no step was built again, let
    alone sent."""
    assert paper.stubs.dexhunter.handler.count(BUILD) == len(swap_legs(view)), (  # type: ignore[attr-defined]
        paper.stubs.dexhunter.handler.count(BUILD), swap_legs(view))  # type: ignore[attr-defined]
    for kind in ("borrow", "repay"):
        legs = [leg for leg in view["legs"] if leg["kind"] == kind]
        built = paper.stubs.surf.requests_to(f"/api/{kind}")
        assert len(built) == len(legs), (kind, len(built), legs)


def assert_plan_legs_confirmed_once(view: dict[str, Any], group: str) -> None:
    [program] = [g for g in view["program"] if g["group"] == group]
    confirmed = [leg for leg in view["legs"]
                 if leg["state"] == "confirmed" and leg["leg"].startswith(group + "-")]
    assert sorted(leg["leg"].rsplit("-a", 1)[0] for leg in confirmed) == sorted(
        program["steps"]), (confirmed, program)


# --- 1. full cycles through the CLI -------------------------------------------------------

@pytest.mark.parametrize("side,token,leverage", [("long", STRIKE, "1.8"), ("short", USDM, "2")])
def test_cli_open_show_close_list(shared: tuple[Paper, WorkerProcess], side: str, token: str,
                                  leverage: str) -> None:
    """`dhl positions open` stores the position and tells the workers; the worker opens
    it; `show` has its legs and fees; `close` settles it; `list --json` shows it settled."""
    paper, worker = shared
    opened = one_json(dhl(paper, "open", "--side", side, "--asset", token,
                          "--collateral", "ADA:100", "--leverage", leverage))
    assert opened["ok"] and opened["state"] == "requested", opened
    pid = opened["position"]
    paper.wait_state(pid, "open", 30, worker)
    shown = one_json(dhl(paper, "show", pid))
    assert shown["state"] == "open" and shown["fees_paid"] > 0 and shown["size"] > 0
    assert shown["legs"] and all(leg["state"] == "confirmed" for leg in shown["legs"]), shown
    assert_plan_legs_confirmed_once(shown, "open")
    # Its carry: what the debt costs a day at the market's rate now, in base units.
    apr = Decimal(shown["borrow_apr"])
    assert shown["carry_per_day"] == {unit: int(Decimal(amount) * apr / 365)
                                      for unit, amount in shown["debt"].items()}, shown
    assert "quote" not in shown  # a paper position: no DexHunter quote is kept for it

    closed = one_json(dhl(paper, "close", pid))
    assert closed["ok"] and closed["state"] == "closing", closed
    view = paper.wait_state(pid, "settled", 30, worker)
    listed = dhl(paper, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = [r for r in map(json.loads, listed.stdout.splitlines()) if r["position"] == pid]
    assert row["state"] == "settled" and isinstance(row["realised_pnl"], int), row
    assert row["debt"] == {} and row["collateral"] == {}
    assert_each_step_once(paper, pid)
    assert_one_build_per_attempt(paper, view)
    assert all(leg["state"] == "confirmed" for leg in view["legs"]), view["legs"]


def test_an_orders_guards_are_set_once_it_is_open(shared: tuple[Paper, WorkerProcess]) -> None:
    """POST /orders with guards: checked when ordered (a bad one is 422 naming `guards`,
    nothing stored), set by the worker once the position is open — or, when the price
    has crossed one by then, refused with an alert to the trader — once."""
    from app import create_app
    from core.api_keys import new_key
    from store import alerts as alert_store
    from store import api_keys
    from store import positions as positions_store

    paper, worker = shared
    key_id, kept, key = new_key()
    api_keys.add(paper.desk.db, key_id, "guarded", kept, 1)
    app = create_app(paper.settings)
    try:
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        order = {"side": "long", "asset": STRIKE, "collateral": "ADA", "amount": "100",
                 "leverage": "1.8"}
        before = paper.desk.db["positions"].count_documents({})
        for bad in ({"stop_loss": "abc"}, {"deleverage_below": "1.2"}):
            refused = client.post("/orders", json={**order, "guards": bad})
            assert refused.status_code == 422, refused.get_json()
            assert "guards" in json.dumps(refused.get_json())
        assert paper.desk.db["positions"].count_documents({}) == before
        placed = {}
        for name, guards in (("set", {"stop_loss": "0.3", "take_profit": [{"price": "0.9"}]}),
                             ("crossed", {"stop_loss": "0.6"})):  # the price is 0.5
            answer = client.post("/orders", json={**order, "guards": guards})
            assert answer.status_code == 201, answer.get_json()
            placed[name] = answer.get_json()["position"]
        for pid in placed.values():
            paper.wait_state(pid, "open", 30, worker)
            assert wait_until(lambda: paper.doc(pid)["order_guards"]
                              != positions_store.GUARDS_TO_ARM, 15), paper.doc(pid)
        armed = paper.doc(placed["set"])["order_guards"]
        shown = client.get(f"/positions/{placed['set']}").get_json()
        assert armed == "armed " + shown["guards"]["version"]
        assert {t["name"] for t in shown["guards"]["triggers"]} == {"stop_loss-0",
                                                                   "take_profit-0"}
        assert paper.doc(placed["crossed"])["order_guards"].startswith(
            "refused: --stop-loss 0.6: the price is")
        assert "guards" not in client.get(f"/positions/{placed['crossed']}").get_json()
        [alert] = [a for a in alert_store.recent(paper.desk.db, user="guarded")
                   if a["kind"] == "guard"]
        assert alert["position"] == placed["crossed"] and "were not set" in alert["message"]
        for pid in placed.values():
            client.post(f"/positions/{pid}/close", json={})
            paper.wait_state(pid, "settled", 30, worker)
    finally:
        app.extensions["dhl"].close()


# --- 3. the advance task 5 times at once, two workers -------------------------------------

def test_duplicate_deliveries_to_two_workers_open_once(
        shared: tuple[Paper, WorkerProcess]) -> None:
    """Five deliveries of `advance_position` for one position, to two workers of two
    pool processes each: the position's lock lets one advance it, the others retry later
    and find nothing to do; the compare-and-set would refuse a second recording anyway."""
    paper, worker = shared
    with ExitStack() as stack:
        other = paper.worker(stack, "worker-b")
        answer = open_position(paper.desk, OpenRequest("long", Asset.from_unit(STRIKE), ADA,
                                                       100_000_000, Decimal("1.8")),
                               lambda _pid: None)
        pid = answer["position"]
        sent = [paper.app.send_task(ADVANCE_TASK, args=[pid]).id for _ in range(5)]
        view = paper.wait_state(pid, "open", 30, other)
    logs = [(paper.tmp / f"{name}.log").read_text(errors="replace")
            for name in ("worker-a", "worker-b")]
    # Both workers took deliveries, and the position's lock turned some away (retried).
    assert all(any(task in RECEIVED.findall(log) for task in sent) for log in logs), sent
    assert any(f"{task}] retry: Retry in" in log for log in logs for task in sent)
    assert view["version"] == LONG_OPEN_EVENTS, view["history"]
    assert_each_step_once(paper, pid)
    assert_one_build_per_attempt(paper, view)
    assert_plan_legs_confirmed_once(view, "open")
    assert all(leg["attempt"] == 1 and leg["state"] == "confirmed" for leg in view["legs"])
    assert worker.process.poll() is None


# --- 4. DexHunter failing mid-flow --------------------------------------------------------

def test_dexhunter_failing_blocks_then_the_position_opens(
        shared: tuple[Paper, WorkerProcess]) -> None:
    """The first build passes; the next 6 answer HTTP 500. The DexHunter client tries each
    build 3 times (execution/dexhunter/api.py), so two runs of the task are blocked: the
    position shows `blocked` naming DexHunter (not failed, nothing recorded for the step),
    the task retries after BLOCKED_BACKOFF (2 s, then 5 s) and the position opens."""
    paper, worker = shared
    faults = 6
    server = paper.stubs.dexhunter
    server.fail_next(BUILD, Fault())  # a Fault with nothing set: answered as usual
    server.fail_next(BUILD, Fault(status=500, body={"error": "internal"}), times=faults)
    answer = open_position(paper.desk, OpenRequest("long", Asset.from_unit(STRIKE), ADA,
                                                   100_000_000, Decimal("1.8")), paper.enqueue)
    pid = answer["position"]
    blocked: list[dict[str, Any]] = []

    def seen_blocked() -> bool:
        view = paper.view(pid)
        if view["blocked"]:
            blocked.append(view)
        return bool(blocked)

    assert wait_until(seen_blocked, 20, interval_s=0.05), worker.log()
    first = blocked[0]
    assert first["blocked"].startswith("DexHunter build:") and "500" in first["blocked"], first
    # Mid-open (the first swap and the first loan done), nothing failed: the second swap's
    # leg is planned and waits for its build.
    assert first["state"] not in ("failed", "open", "refused", "cancelled"), first["state"]
    assert "failed" not in {leg["state"] for leg in first["legs"]}, first["legs"]
    assert first["legs"][-1]["leg"] == "open-02-swap-a1" and \
        first["legs"][-1]["state"] == "planned", first["legs"]
    view = paper.wait_state(pid, "open", 40, worker)
    assert view["blocked"] == "", view["blocked"]
    assert len(server.requests_to(BUILD)) == server.handler.count(BUILD) + faults  # type: ignore[attr-defined]
    assert_each_step_once(paper, pid)
    assert_one_build_per_attempt(paper, view)
    assert all(leg["attempt"] == 1 for leg in view["legs"])  # blocked is not a failed attempt
    assert "blocked (DexHunter build" in (paper.tmp / "worker-a.log").read_text()


# --- 2. killed after every event ----------------------------------------------------------

EXIT_LINE = re.compile(r"TEST_EXIT_AFTER_EVENTS: exiting after seq (\d+)")


#: Where the worker dies: after each of the first swap leg's events (planned, built,
#: submitted, swapped) and the first loan's (venue leg: planned, built, submitted,
#: borrowed); after the open's last leg (the redelivered task then records OPENED); in
#: the close (seq 30, recorded by the desk), after the first repay's confirmation and a
#: swap-back's build, and after the last leg (the redelivered task then records SETTLED).
KILLS = (1, 2, 3, 4, 5, 6, 7, 8, 28, 38, 40, 58)


def test_killed_after_every_kind_of_step_still_opens_and_settles(fresh: Paper) -> None:
    """A worker (prefork, one pool process) whose pool process exits (`os._exit`, as a
    kill would) right after recording the events in KILLS. The parent starts a new pool
    process and the message comes back by itself: task_acks_late +
    task_reject_on_worker_lost make Celery reject it with requeue when the pool process is
    lost (the worker log shows WorkerLostError and the same task id received again); the
    resume sweep is not needed. The redelivered task finds the dead process's lock, takes
    it over (its holder, of this host, has exited) and goes on from the last recorded
    event.

    Not killed after every event, to keep the suite short: each kill costs about 1 s
    (the pool replaces its dead process within 0.5 s, tasks/pool.py, and the redelivered
    task takes over the dead process's lock at once, store/holder_locks.py; before
    those, 2.3 to 5 s). KILLS covers every kind of event
    (a swap's and a venue leg's planned, built, submitted, confirmed) in the open
    and the close, and the last leg before each group's end event."""
    paper = fresh
    kills = list(KILLS)
    with ExitStack() as stack:
        worker = paper.worker(stack, "killed", concurrency=1,
                              TEST_EXIT_AFTER_EVENTS=",".join(map(str, kills)))
        answer = open_position(paper.desk, OpenRequest("long", Asset.from_unit(STRIKE), ADA,
                                                       100_000_000, Decimal("1.8")),
                               paper.enqueue)
        pid = answer["position"]
        paper.wait_state(pid, "open", 80, worker)
        closed = close_position(paper.desk, pid, Decimal(1), paper.enqueue)
        assert closed["ok"], closed
        view = paper.wait_state(pid, "settled", 60, worker)
        log = (paper.tmp / "killed.log").read_text(errors="replace")
    assert view["version"] == LONG_EVENTS
    assert sorted(int(seq) for seq in EXIT_LINE.findall(log)) == kills
    assert log.count("exited with 'exitcode 70'") == len(kills), log[-3000:]
    assert "WorkerLostError" in log
    # Redelivered: the same message (task id) received again after a pool process died.
    received = RECEIVED.findall(log)
    assert max(received.count(task) for task in set(received)) > len(kills) // 2, received
    assert_each_step_once(paper, pid)
    assert_one_build_per_attempt(paper, view)
    assert all(leg["state"] == "confirmed" and leg["attempt"] == 1 for leg in view["legs"])


# --- 5. a tampered build --------------------------------------------------------------------

def to_a_stranger(tx: list[Any]) -> None:
    """The order output's value sent to a stranger instead of the DEX's order script."""
    tx[0][1][0][0] = b"\x01" + bytes(range(100, 156))


def test_a_tampered_build_is_refused_and_retried(fresh: Paper) -> None:
    """The first build pays a stranger: the pre-signing check refuses it, the leg is
    recorded failed with the check's reason (nothing signed), attempt 2 is quoted and built
    afresh and the position opens. Run in this process (tasks.position_flow.advance)."""
    paper = fresh
    server = paper.stubs.dexhunter
    original = server.handler
    server.handler = tampered_builds(original, to_a_stranger)
    try:
        answer = open_position(paper.desk, OpenRequest("long", Asset.from_unit(STRIKE), ADA,
                                                       100_000_000, Decimal("1.8")),
                               lambda _pid: None)
        pid = answer["position"]
        done = advance(flow_context(paper.settings), pid)
    finally:
        server.handler = original
    view = paper.view(pid)
    assert done.state == "open", view
    [failed] = [leg for leg in view["legs"] if leg["state"] == "failed"]
    assert failed["leg"] == "open-00-swap-a1", failed
    [why] = [h["reason"] for h in view["history"]
             if h.get("leg") == "failed" and h["step"] == "open-00-swap"]
    assert why.startswith("the pre-signing check refused the build") and STRANGER in why, why
    retried = [leg for leg in view["legs"] if leg["leg"] == "open-00-swap-a2"]
    assert [leg["state"] for leg in retried] == ["confirmed"]
    assert_each_step_once(paper, pid)
    assert_one_build_per_attempt(paper, view)  # the refused attempt was built once too
    assert_plan_legs_confirmed_once(view, "open")
    assert server.requests_to("/swap/sign") == []
