"""A small JSON-over-HTTP server on loopback with per-path fault injection.

A stub is a function `(method, path, query, body) -> Reply`. Tests inject failures
(`fail_next`): an HTTP status, a delay longer than the client's timeout, a body that is
not JSON, or a dropped connection, each for the next N requests to a path.

The same over HTTP, for a stub run as a separate process (`python -m stubs NAME`), served
by the server itself for every stub (never passed to the handler, never recorded):
- `POST /_stub/fail` with `{"path": "/swap/build", "times": N, "status": 500,
  "body": <JSON>}` (or `"delay_s"`, `"malformed": true`, `"drop": true` instead of a
  status) queues N faults for that path; answers `{"queued": <faults now queued there>}`;
- `POST /_stub/reset` clears every queued fault, the requests seen, and the handler's own
  counters when it has a `reset()` method.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from protocols.http import json_body

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1_000_000
CONTROL_PATHS = ("/_stub/fail", "/_stub/reset")


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded (Decimals exactly) unless `raw` is set
    raw: bytes | None = None

    def encoded(self) -> bytes:
        # Decimals as exact JSON numbers, as a real API writes them (no float in between).
        return self.raw if self.raw is not None else json_body(self.body)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any  # decoded JSON, or None
    #: The request's headers (tests check what a client sends; never logged).
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""  # the body as sent (a signature is over these bytes)


@dataclass(frozen=True)
class Fault:
    status: int | None = None  # answer with this status (and `body`)
    body: Any = None
    delay_s: float = 0.0  # wait before answering
    malformed: bool = False  # answer 200 with a body that is not JSON
    drop: bool = False  # close the connection without answering


Handler = Callable[[Request], Reply]


class StubServer:
    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("stub servers listen on loopback only")
        self.handler = handler
        self.requests: list[Request] = []
        self._faults: dict[str, deque[Fault]] = {}
        self._lock = threading.Lock()
        stub = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("stub %s", format % args)

            def _serve(self) -> None:
                stub._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "StubServer":
        self._thread = threading.Thread(target=self._server.serve_forever, name="stub-http",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "StubServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(self, path: str, fault: Fault, times: int = 1) -> None:
        with self._lock:
            self._faults.setdefault(path, deque()).extend([fault] * times)

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def reset(self) -> None:
        """Forget queued faults, requests seen and the handler's counters."""
        with self._lock:
            self._faults.clear()
            self.requests.clear()
        reset = getattr(self.handler, "reset", None)
        if callable(reset):
            reset()

    def _control(self, path: str, body: Any) -> Reply:
        """`POST /_stub/fail` and `POST /_stub/reset` (see the module docstring)."""
        if path == "/_stub/reset":
            self.reset()
            return Reply(200, {"reset": True})
        fault = _fault(body)
        if isinstance(fault, str):
            return Reply(400, {"error": fault})
        where, times, made = fault
        self.fail_next(where, made, times)
        with self._lock:
            return Reply(200, {"queued": len(self._faults[where])})

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(path)
            return queue.popleft() if queue else None

    def _serve(self, http: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            self._send(http, Reply(413, {"error": "request too large"}))
            return
        raw = http.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._send(http, Reply(400, {"error": "the request body is not JSON"}))
            return
        if http.command == "POST" and parts.path in CONTROL_PATHS:
            self._send(http, self._control(parts.path, body))
            return
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        request = Request(http.command, parts.path, query, body, dict(http.headers.items()), raw)
        with self._lock:
            self.requests.append(request)
        fault = self._take_fault(parts.path)
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            if fault.drop:
                http.close_connection = True
                http.connection.close()
                return
            if fault.malformed:
                self._send(http, Reply(200, raw=b"<html>not json"))
                return
            if fault.status is not None:
                self._send(http, Reply(fault.status, fault.body))
                return
        try:
            reply = self.handler(request)
        except Exception as error:  # a stub bug answers 500, as a real server would
            log.exception("stub handler failed")
            reply = Reply(500, {"error": f"stub: {type(error).__name__}: {error}"})
        self._send(http, reply)

    @staticmethod
    def _send(http: BaseHTTPRequestHandler, reply: Reply) -> None:
        data = reply.encoded()
        try:
            http.send_response(reply.status)
            http.send_header("Content-Type", "application/json")
            http.send_header("Content-Length", str(len(data)))
            http.end_headers()
            http.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer


def _fault(body: Any) -> tuple[str, int, Fault] | str:
    """(path, times, fault) from a `/_stub/fail` body, or what is wrong with it."""
    if not isinstance(body, dict):
        return "a JSON object is expected"
    path, times, status = body.get("path"), body.get("times", 1), body.get("status")
    delay = body.get("delay_s", 0)
    if not isinstance(path, str) or not path.startswith("/"):
        return "path: an absolute path is expected"
    if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= 1000:
        return "times: an integer from 1 to 1000 is expected"
    if status is not None and (isinstance(status, bool) or not isinstance(status, int)
                               or not 100 <= status <= 599):
        return "status: an HTTP status is expected"
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 60:
        return "delay_s: 0 to 60 seconds is expected"
    fault = Fault(status=status, body=body.get("body"), delay_s=float(delay),
                  malformed=body.get("malformed") is True, drop=body.get("drop") is True)
    return path, times, fault
