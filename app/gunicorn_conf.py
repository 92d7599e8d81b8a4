"""gunicorn settings for the web process, read from the validated settings."""
from core.settings import load_settings_or_exit

_settings = load_settings_or_exit()

# An IPv6 address (BIND_HOST=::) goes in brackets, or gunicorn reads its colons as a port.
_host = f"[{_settings.bind_host}]" if ":" in _settings.bind_host else _settings.bind_host
bind = f"{_host}:{_settings.port}"
# Threads, not processes: flask-sock WebSockets hold a thread each.
worker_class = "gthread"
workers = 1
threads = 16
timeout = 60
graceful_timeout = 10
accesslog = "-"
