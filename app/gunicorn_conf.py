"""gunicorn settings for the web process, read from the validated settings."""
import hashlib
import os
import tempfile
from pathlib import Path

from core.settings import load_settings_or_exit

_settings = load_settings_or_exit()

#: AF_UNIX socket paths are limited to 107 bytes.
_MAX_SOCKET_PATH = 100


def _control_socket(data_dir: Path) -> str:
    """gunicorn's control socket (`gunicornc`), one per DATA_DIR.

    Its default (`$XDG_RUNTIME_DIR` or `~/.gunicorn/gunicorn.ctl`) is one for every
    gunicorn of the user: a second stack would take it over, and stopping either
    would delete it.
    """
    path = str(data_dir / "gunicorn.ctl")
    if len(path) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return os.path.join(tempfile.gettempdir(), f"dhl-gunicorn-{digest}.ctl")


# An IPv6 address (BIND_HOST=::) goes in brackets, or gunicorn reads its colons as a port.
_host = f"[{_settings.bind_host}]" if ":" in _settings.bind_host else _settings.bind_host
bind = f"{_host}:{_settings.port}"
control_socket = _control_socket(_settings.data_dir)
# Threads, not processes: flask-sock WebSockets hold a thread each.
worker_class = "gthread"
workers = 1
threads = 16
timeout = 60
graceful_timeout = 10
accesslog = "-"
