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
from stack.processes import die_with_parent
from tests.support.chainlog import effective_chain, read_events
from tests.support.simulator import PREPROD_MAGIC, SimulatorThread, preprod_blocks

pytestmark = pytest.mark.integration


def test_kills_at_random_points_leave_the_same_chain(tmp_path):
    blocks = preprod_blocks()
    target = blocks[-1].point.hash.hex()
    # The chain grows by 100 blocks a second, so the kills land while blocks flow.
    sim = SimulatorThread(SimulatorConfig(blocks, PREPROD_MAGIC, initial=50, interval_s=0.01,
                                          rollbacks=[Rollback(60, 5), Rollback(90, 40)]),
                          NodeAddress("tcp", "127.0.0.1", 0))
    events, cursor = tmp_path / "events.jsonl", tmp_path / "cursor.json"
    argv = [sys.executable, "-m", "tests.support.follow_to_file", "--node", str(sim.address),
            "--magic", str(PREPROD_MAGIC), "--cursor", str(cursor), "--events", str(events),
            "--until", target]
    rng = random.Random(20261125)
    kills = 0
    try:
        for attempt in range(40):
            proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
            if kills < 8:
                time.sleep(rng.uniform(0.4, 1.2))  # past start-up, mostly
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
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
    assert sum(1 for e in stream if e[0] == "forward") > len(blocks)  # there were replays
    assert effective_chain(stream) == [b.point.hash.hex() for b in blocks]
