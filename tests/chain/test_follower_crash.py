"""Killed at random moments, the follower still ends with the same chain: no gap, no duplicate."""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import pytest

from chain.address import NodeAddress
from chain.simulator import Rollback, SimulatorConfig
from core.settings import PROJECT_ROOT
from stack.processes import die_with_parent, wait_until
from tests.support.chainlog import effective_chain, read_events
from tests.support.simulator import PREPROD_MAGIC, SimulatorThread, preprod_blocks

pytestmark = pytest.mark.integration


def test_kills_at_random_points_leave_the_same_chain(tmp_path):
    blocks = preprod_blocks()
    target = blocks[-1].point.hash.hex()
    # The chain grows by 50 blocks a second (about 16 s in all), so the 8 kills land while
    # blocks flow, even on a slow machine.
    sim = SimulatorThread(SimulatorConfig(blocks, PREPROD_MAGIC, initial=50, interval_s=0.02,
                                          rollbacks=[Rollback(60, 5), Rollback(90, 40)]),
                          NodeAddress("tcp", "127.0.0.1", 0))
    events, cursor = tmp_path / "events.jsonl", tmp_path / "cursor.json"
    argv = [sys.executable, "-m", "tests.support.follow_to_file", "--node", str(sim.address),
            "--magic", str(PREPROD_MAGIC), "--cursor", str(cursor), "--events", str(events),
            "--until", target]
    rng = random.Random(20261125)
    kills = mid_stream = 0
    try:
        for attempt in range(40):
            written = event_count(events)
            proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
            if kills < 8:
                # Killed while it writes: once this run has recorded something (a fixed
                # sleep could end before a slow machine's start-up), then a random moment.
                wait_until(lambda: event_count(events) > written or proc.poll() is not None,
                           timeout_s=30, interval_s=0.02)
                time.sleep(rng.uniform(0, 0.3))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
                    mid_stream += event_count(events) > written
                proc.wait(timeout=30)
                continue
            assert proc.wait(timeout=120) == 0
            break
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        sim.stop()
    assert kills == 8
    stream = read_events(events)
    assert mid_stream == 8  # every kill interrupted a run that was writing
    assert effective_chain(stream) == [b.point.hash.hex() for b in blocks]


def event_count(path) -> int:  # type: ignore[no-untyped-def]
    return len(read_events(path)) if path.exists() else 0
