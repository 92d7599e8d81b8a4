"""The honcho Manager of `dhl run`, made so that no process outlives it."""
from __future__ import annotations

import signal

from honcho.manager import Manager

from stack.processes import die_with_parent


def orphan_proof_manager() -> Manager:
    """A honcho Manager whose processes die with `dhl run`, even when it is SIGKILLed.

    honcho relays each process's output through a forked helper that ignores SIGTERM:
    the helper gets SIGKILL when `dhl run` dies, and the command (exec'd by the shell,
    so it is the helper's direct child) gets SIGTERM when the helper dies.
    """
    from honcho import process as honcho_process

    class ChildPopen(honcho_process.Popen):
        def __init__(self, cmd, **kwargs):  # type: ignore[no-untyped-def]
            kwargs.setdefault("preexec_fn", die_with_parent)
            super().__init__(f"exec {cmd}", **kwargs)

    class Process(honcho_process.Process):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            self._child_ctor = ChildPopen

        def run(self, events=None, ignore_signals=False):  # type: ignore[no-untyped-def]
            die_with_parent(signal.SIGKILL)
            super().run(events, ignore_signals)

    manager = Manager()
    manager._process_ctor = Process
    return manager
