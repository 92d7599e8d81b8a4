"""Embedded services that die are started again, on the same port with the same data.

A MongoDB or Redis the stack started itself is part of the stack: if it crashes (or an
operator kills it), the processes that use it wait and retry, and `dhl run` brings it
back instead of leaving the whole stack without it.
"""
from __future__ import annotations

import threading
from typing import Callable

from stack.console import say
from stack.processes import LocalService, ServiceError

CHECK_EVERY_S = 0.5


class Supervised:
    def __init__(self, service: LocalService, restart: Callable[[int], LocalService]) -> None:
        self.service = service
        self._restart = restart
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"watch-{service.name}",
                                        daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(CHECK_EVERY_S):
            service = self.service
            if service.alive():
                continue
            say(f"the embedded {service.name} at {service.url} died (exit "
                f"{service.process.returncode}); starting it again on the same port")
            try:
                self.service = self._restart(service.port)
            except ServiceError as error:
                say(f"could not start the embedded {service.name} again ({error}); "
                    "trying again")
                continue
            say(f"the embedded {service.name} is back at {self.service.url}")

    def stop(self) -> None:
        """Stop watching, then stop the service (whichever process it is now)."""
        self._stop.set()
        self._thread.join(timeout=10)
        self.service.stop()
        say(f"stopped the embedded {self.service.name}")
