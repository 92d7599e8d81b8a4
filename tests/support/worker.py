"""A real Celery worker in its own process, for tests: started, awaited, always stopped."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Mapping

from celery import Celery

from core.settings import PROJECT_ROOT
from stack.processes import die_with_parent, wait_until
from tasks.celeryconfig import QUEUES


class WorkerProcess:
    def __init__(self, env: Mapping[str, str], log_path: Path, concurrency: int = 2,
                 queues: tuple[str, ...] = QUEUES) -> None:
        self.hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.log_path = log_path
        argv = [sys.executable, "-m", "celery", "-A", "tasks", "worker", "--loglevel=INFO",
                f"--concurrency={concurrency}", f"--queues={','.join(queues)}",
                f"--hostname={self.hostname}", "--without-mingle", "--without-gossip"]
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(argv, env={**os.environ, **env}, cwd=PROJECT_ROOT,
                                        stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True,
                                        preexec_fn=die_with_parent)

    def wait_ready(self, app: Celery, timeout_s: float = 60) -> None:
        def answers() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            return bool(app.control.ping(destination=[self.hostname], timeout=0.5))

        if not wait_until(answers, timeout_s, interval_s=0.2):
            self.stop()
            raise RuntimeError(f"worker did not answer within {timeout_s}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """The whole worker dies at once (SIGKILL to its process group)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=20)
        self._log.close()

    def stop(self, timeout_s: float = 20) -> None:
        if self.process.poll() is None:
            # The whole group: the prefork pool children too.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout_s)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # stray pool children, if any
        except ProcessLookupError:
            pass
        self._log.close()
