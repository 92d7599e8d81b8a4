"""A `dhl follow` process for tests: its log read for what it said, always stopped."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from core.settings import PROJECT_ROOT
from stack.processes import die_with_parent


class FollowerProcess:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "dhl", "follow"], env=env,
                                        cwd=PROJECT_ROOT, stdout=self._log,
                                        stderr=subprocess.STDOUT, preexec_fn=die_with_parent)

    def said(self, text: str) -> bool:
        return text in self.log_path.read_text(errors="replace")

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
