"""`dhl live-demo`, the one command that shows the live path offline, run as an operator
would run it (`make live-demo` runs it with both positions; one here, for time): its own
MongoDB server, a fresh test master key, `dhl sandbox`, the stubs on the sandbox's UTxOs,
the follower and a worker, then a live short opened and closed (the quicker of the two),
signed, sent and confirmed from blocks — and everything it started gone afterwards."""
from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT
from tests.positions.support import NOT_INHERITED
from tests.support.fixtures import fixtures_dir, require

pytestmark = pytest.mark.integration

ACCEPTED = re.compile(r"the sandbox accepted (\d+) transactions of ours and refused (\d+)")
LEG_CONFIRMED = re.compile(r"^  ((?:open|close)-\S+)\s+confirmed ([0-9a-f]{64}) \((\d+) deep",
                           re.M)


def test_the_live_demo_opens_and_closes_a_live_short(tmp_path: Path, redis_url: str) -> None:
    fixtures = require(fixtures_dir() / "dexhunter", "DexHunter recordings").parent
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(DATA_DIR=str(tmp_path), REDIS_URL=redis_url, FIXTURES_DIR=str(fixtures))
    result = subprocess.run([sys.executable, "-m", "dhl", "live-demo", "--side", "short",
                             "--block-seconds", "0.5"],
                            env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=420)
    out = result.stdout
    home = tmp_path / "live-demo"
    assert result.returncode == 0, (out[-3000:], result.stderr[-3000:],
                                    (home / "worker.log").read_text()[-3000:]
                                    if (home / "worker.log").exists() else "")
    assert "  open\n" in out and "  settled\n" in out, out
    confirmed = LEG_CONFIRMED.findall(out)
    assert {leg.split("-")[0] for leg, _, _ in confirmed} == {"open", "close"}, out
    assert all(int(deep) >= 2 for _, _, deep in confirmed), confirmed
    [(accepted, refused)] = ACCEPTED.findall(out)
    # Each leg's transaction once, nothing else of ours, nothing refused.
    assert (int(accepted), int(refused)) == (len({tx for _, tx, _ in confirmed}), 0), out
    key = home / "master.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    words = key.read_text().split()
    assert len(words) == 24 and " ".join(words[:3]) not in out + result.stderr
    # Nothing it started is left: no process whose environment names its DATA_DIR.
    assert processes_mentioning(str(tmp_path)) == []


def processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if text.encode() in (entry / "environ").read_bytes() + (entry / "cmdline").read_bytes():
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found
