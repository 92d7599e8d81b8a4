"""Exactly once, counted on the chain (issue 10, point 5): whatever happens to the
workers, the sandbox accepts each leg's transaction once, and the only refusals it sees
are the engine's own resends of a transaction that already went — double spends by a
retry, which the engine takes as "it may have gone before" and leaves to the chain.

- a worker whose pool process dies (as a kill would) right after every event it records
  of a live open and close, and right after the node first took each leg's transaction
  (before the submission is recorded: the worst moment);
- two workers, the advance task delivered five times at the open and at the close.
"""
from __future__ import annotations

import re
from contextlib import ExitStack
from typing import Any

import pytest

from tasks.positions import ADVANCE_TASK
from tests.live.support import LiveStack, assert_confirmed_from_chain, leg_txs
from tests.positions.support import STRIKE, USDM, dhl, one_json

pytestmark = pytest.mark.integration

EXIT_EVENT = re.compile(r"TEST_EXIT_AFTER_EVENTS: exiting after seq (\d+)")
EXIT_SUBMIT = re.compile(r"TEST_EXIT_AFTER_SUBMIT: exiting after sending ([0-9a-f]{64})")
#: Events the desk records itself (the CLI's `open` and `close`), not a worker.
DESK_EVENTS = {"requested", "close"}
#: Every seq a position of these tests can reach, and more.
EVERY_SEQ = ",".join(str(seq) for seq in range(1, 200))
SPENT = "does not exist or is spent"


def sandbox_since(stack: LiveStack, before: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """What the sandbox accepted and refused since `before` (its stats then)."""
    after = stack.stats()
    return after["accepted"][len(before["accepted"]):], after["refused"][len(before["refused"]):]


def assert_refused_only_resends(refused: list[dict[str, Any]], sent: list[str]) -> None:
    """Every refusal is a resend of one of the legs' transactions that had gone: its
    inputs spent (by itself)."""
    for refusal in refused:
        assert refusal["tx_id"] in sent, (refusal, sent)
        assert any(SPENT in reason for reason in refusal["reasons"]), refusal


def test_killed_after_every_event_and_every_first_send(live: LiveStack) -> None:
    """A worker whose pool process dies after recording each of the live long's events,
    and after the node first took each leg's transaction. Celery redelivers the task each
    time (acks late, rejected on a lost worker); the redelivered task waits out the dead
    process's lock (1 s here) and goes on from the last recorded event — taken by the
    worker's other pool process at once, while the pool replaces the dead one (with one
    pool process, some kills waited for billiard's 5 s pool maintenance): a leg killed after
    its send is sent again (the same transaction, signed again), the sandbox refuses it
    (its inputs are spent: it went), and the engine records the send and waits for the
    chain. The position opens and settles; each leg's transaction was accepted once."""
    stack = live
    before = stack.stats()
    with ExitStack() as workers:
        worker = stack.paper.worker(workers, "killed", concurrency=2,
                                    TEST_EXIT_AFTER_EVENTS=EVERY_SEQ,
                                    TEST_EXIT_AFTER_SUBMIT="1", POSITION_LOCK_SECONDS="1")
        opened = one_json(dhl(stack.paper, "open", "--side", "long", "--asset", STRIKE,
                              "--collateral", "ADA:100", "--leverage", "1.5",
                              "--venue", "surf", "--live", "--user", "dave"))
        pid = opened["position"]
        stack.paper.wait_state(pid, "open", 300, worker)
        one_json(dhl(stack.paper, "close", pid))
        view = stack.paper.wait_state(pid, "settled", 300, worker)
        log = (stack.paper.tmp / "killed.log").read_text(errors="replace")
    assert_confirmed_from_chain(stack, view)
    by_worker = [h["seq"] for h in view["history"] if h["event"] not in DESK_EVENTS]
    assert sorted(int(seq) for seq in EXIT_EVENT.findall(log)) == by_worker, \
        (EXIT_EVENT.findall(log), view["history"])
    legs = leg_txs(view)
    assert sorted(EXIT_SUBMIT.findall(log)) == sorted(legs)  # every leg killed after its send
    assert "WorkerLostError" in log
    accepted, refused = sandbox_since(stack, before)
    assert sorted(accepted) == sorted(legs), (accepted, view["legs"])  # each exactly once
    # The resend of each leg killed after its send: refused, as a double spend, once.
    assert sorted(r["tx_id"] for r in refused) == sorted(legs), refused
    assert_refused_only_resends(refused, legs)
    assert log.count("the node refused a resend of") == len(legs)
    assert all(leg["attempt"] == 1 for leg in view["legs"]), view["legs"]


def test_duplicate_deliveries_to_two_workers(live: LiveStack) -> None:
    """Two workers of two pool processes each; the advance task sent five times more at
    the open and at the close, on top of the resume sweep every applied block sends.
    The position's lock lets one worker advance it at a time; the sandbox accepts each
    leg once and refuses nothing but, at most, resends of what went."""
    stack = live
    before = stack.stats()
    with ExitStack() as workers:
        first = stack.paper.worker(workers, "twin-a")
        stack.paper.worker(workers, "twin-b")
        opened = one_json(dhl(stack.paper, "open", "--side", "short", "--asset", USDM,
                              "--collateral", "ADA:100", "--leverage", "1.5",
                              "--venue", "surf", "--live", "--user", "erin"))
        pid = opened["position"]
        for _ in range(5):
            stack.paper.app.send_task(ADVANCE_TASK, args=[pid])
        stack.paper.wait_state(pid, "open", 240, first)
        one_json(dhl(stack.paper, "close", pid))
        for _ in range(5):
            stack.paper.app.send_task(ADVANCE_TASK, args=[pid])
        view = stack.paper.wait_state(pid, "settled", 240, first)
        logs = [(stack.paper.tmp / f"twin-{n}.log").read_text(errors="replace") for n in "ab"]
    assert_confirmed_from_chain(stack, view)
    assert all("execution.advance_position" in log for log in logs)  # both took some
    legs = leg_txs(view)
    accepted, refused = sandbox_since(stack, before)
    assert sorted(accepted) == sorted(legs), (accepted, view["legs"])
    assert_refused_only_resends(refused, legs)
    assert all(leg["attempt"] == 1 for leg in view["legs"]), view["legs"]
    seqs = [h["seq"] for h in view["history"]]
    assert seqs == list(range(1, len(seqs) + 1))
