"""Only one beat is ever active: a second one waits on redbeat's lock and takes over."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT
from stack.processes import die_with_parent, wait_until

pytestmark = pytest.mark.integration

SENT = "Sending due task worker-heartbeat"


class Beat:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")
        argv = [sys.executable, "-m", "celery", "-A", "tasks", "beat",
                "--scheduler=redbeat.RedBeatScheduler", "--loglevel=INFO"]
        self.process = subprocess.Popen(argv, env={**os.environ, **env}, cwd=PROJECT_ROOT,
                                        stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True,
                                        preexec_fn=die_with_parent)

    def sends(self) -> int:
        return self.log_path.read_text(errors="replace").count(SENT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def test_second_beat_waits_for_the_lock_then_takes_over(test_env, tmp_path, redis_client):
    env = {**test_env, "HEARTBEAT_SECONDS": "1"}
    first = Beat(env, tmp_path / "beat1.log")
    second = None
    try:
        assert wait_until(lambda: first.sends() >= 1, timeout_s=30), first.log_path.read_text()
        second = Beat(env, tmp_path / "beat2.log")
        # While the first holds the lock, the first keeps sending and the second never does.
        sent_before = first.sends()
        assert wait_until(lambda: first.sends() >= sent_before + 3, timeout_s=30)
        assert second.sends() == 0, second.log_path.read_text()

        first.stop()
        assert wait_until(lambda: second.sends() >= 1, timeout_s=90), \
            second.log_path.read_text()
    finally:
        first.stop()
        if second is not None:
            second.stop()
