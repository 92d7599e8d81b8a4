"""The Flask app served on a real loopback port in this process (werkzeug's threaded
server), for clients that need a socket: WebSockets, a browser, benchmarks."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from flask import Flask
from werkzeug.serving import make_server


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 and a free port; its base URL. Stopped on leaving."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="served-app", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        hub = app.extensions.get("dhl_hub")
        if hub is not None:
            hub.stop()
