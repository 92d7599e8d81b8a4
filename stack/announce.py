"""The lines `dhl run` prints once the web process answers: where everything is."""
from __future__ import annotations

import threading
import urllib.request

from core.settings import Settings
from stack.console import say
from stack.processes import LOOPBACK, wait_until


def web_base(bind_host: str, port: int) -> str:
    """The web process's address as a browser on this machine reaches it."""
    host = LOOPBACK if bind_host in ("0.0.0.0", "::") else bind_host
    return f"http://{host}:{port}"


def announce_when_up(settings: Settings, stop: threading.Event) -> None:
    base = web_base(settings.bind_host, settings.port)

    def healthy() -> bool:
        with urllib.request.urlopen(base + "/health", timeout=1) as response:
            return response.status == 200

    if wait_until(lambda: stop.is_set() or healthy(), timeout_s=120, interval_s=0.5) \
            and not stop.is_set():
        say(f"API      {base}/   (the dashboard; health {base}/health, readiness {base}/ready)")
        say(f"API docs {base}/docs   (OpenAPI {base}/openapi.json)")
        say(f"Flower   {settings.flower_url or f'http://{LOOPBACK}:{settings.flower_port}'}/")
        say(f"data     {settings.data_dir} (Redis keys under {settings.redis_namespace}:)")
        say(f"mode     {settings.mode}; Ctrl-C stops everything")
