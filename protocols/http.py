"""One HTTP client for every venue API: timeouts, typed errors, polite request rates, and
retries only where a retry is safe.

A read (GET, or a GraphQL query that builds nothing on the venue's side) may be retried
on a timeout, a connection failure, 429 or 5xx. A request that may act (submit) is sent
once; its failure is reported as it is. Secrets (API keys) are passed as headers and never
appear in errors or logs: errors name the venue and the path, not the full URL.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import requests

from protocols.errors import MalformedResponse, VenueApiError, VenueRefused, VenueUnavailable

log = logging.getLogger(__name__)

#: HTTP statuses that mean "try again later".
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


#: (HTTP status, the decoded JSON answer, "METHOD /path") -> an error to raise, or None.
Classifier = Callable[[int, Any, str], "VenueApiError | None"]


@dataclass(frozen=True)
class HttpPolicy:
    timeout_s: float = 10.0
    attempts: int = 3  # for safe requests; unsafe ones are sent once
    backoff_s: float = 0.5  # doubled after each failed attempt
    min_interval_s: float = 0.1  # politeness: at least this long between two requests
    max_body_bytes: int = 20_000_000


class JsonHttpClient:
    def __init__(self, venue: str, base_url: str, policy: HttpPolicy | None = None,
                 headers: Mapping[str, str] | None = None,
                 session: requests.Session | None = None,
                 classify: Classifier | None = None) -> None:
        self.venue = venue
        #: A venue's own reading of an answer that is JSON (its error bodies): a typed
        #: error to raise instead of the default one, or None for the default handling.
        self.classify = classify
        self.base_url = base_url.rstrip("/")
        self.policy = policy or HttpPolicy()
        self._headers = {"Accept": "application/json", **(headers or {})}
        self._session = session or requests.Session()
        self._lock = threading.Lock()
        self._last_request = 0.0

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params, safe=True)

    def post(self, path: str, body: Any, *, safe: bool) -> Any:
        """`safe`: whether sending the same body twice is harmless (a query, a build)."""
        return self.request("POST", path, body=body, safe=safe)

    def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                body: Any = None, safe: bool) -> Any:
        attempts = self.policy.attempts if safe else 1
        delay = self.policy.backoff_s
        for attempt in range(1, attempts + 1):
            try:
                return self._once(method, path, params, body)
            except VenueUnavailable as error:
                if attempt == attempts:
                    raise
                log.warning("%s: %s (attempt %d of %d, retrying in %.1fs)", self.venue, error,
                            attempt, attempts, delay)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _pace(self) -> None:
        with self._lock:
            wait = self._last_request + self.policy.min_interval_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_request = time.monotonic()

    def _once(self, method: str, path: str, params: Mapping[str, str] | None,
              body: Any) -> Any:
        self._pace()
        url = f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url
        where = f"{method} {urlsplit(url).path or '/'}"
        headers = dict(self._headers)
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json_body(body)
        try:
            response = self._session.request(method, url, params=params, data=data,
                                             headers=headers, timeout=self.policy.timeout_s,
                                             stream=True)
        except requests.Timeout:
            raise VenueUnavailable(self.venue, f"{where}: no answer within "
                                               f"{self.policy.timeout_s:g}s") from None
        except requests.RequestException as error:
            raise VenueUnavailable(self.venue, f"{where}: cannot connect "
                                               f"({type(error).__name__})") from None
        try:
            raw = response.raw.read(self.policy.max_body_bytes + 1, decode_content=True)
        except requests.RequestException as error:
            raise VenueUnavailable(self.venue, f"{where}: the answer broke off "
                                               f"({type(error).__name__})") from None
        except Exception as error:  # urllib3 read timeouts and protocol errors
            raise VenueUnavailable(self.venue, f"{where}: the answer broke off "
                                               f"({type(error).__name__})") from None
        finally:
            response.close()
        status = response.status_code
        if self.classify is not None:
            try:
                said = json.loads(raw, parse_float=Decimal) if raw else None
            except (ValueError, UnicodeDecodeError):
                pass  # not JSON: the default handling below
            else:
                typed = self.classify(status, said, where)
                if typed is not None:
                    raise typed
        if status in RETRY_STATUSES:
            raise VenueUnavailable(self.venue, f"{where}: HTTP {status}{_said(raw)}")
        if len(raw) > self.policy.max_body_bytes:
            raise MalformedResponse(self.venue, f"{where}: answer larger than "
                                                f"{self.policy.max_body_bytes} bytes")
        try:
            decoded = json.loads(raw, parse_float=Decimal) if raw else None  # never float
        except (ValueError, UnicodeDecodeError):
            if status >= 400:
                raise VenueApiError(self.venue, f"{where}: HTTP {status}{_said(raw)}") from None
            raise MalformedResponse(self.venue, f"{where}: HTTP {status} with a body that is "
                                                f"not JSON{_said(raw)}") from None
        if status >= 400:
            raise VenueRefused(self.venue, f"{where}: HTTP {status}{_said(raw)}")
        return decoded


def json_body(body: Any) -> bytes:
    """`body` as JSON, Decimals written as exact JSON numbers (never through a float)."""
    numbers: dict[str, str] = {}

    def exact(value: object) -> str:
        if isinstance(value, Decimal) and value.is_finite():
            mark = f"\u0000decimal{len(numbers)}\u0000"
            numbers[json.dumps(mark)] = format(value, "f")
            return mark
        raise TypeError(f"{type(value).__name__} is not JSON")

    text = json.dumps(body, default=exact)
    for mark, number in numbers.items():
        text = text.replace(mark, number)
    return text.encode()


def _said(raw: bytes) -> str:
    """The start of what the server said, for the error line (bounded, one line)."""
    text = raw[:300].decode("utf-8", "replace").replace("\n", " ").strip()
    return f": {text}" if text else ""


def require(venue: str, value: Any, path: str, kind: type | tuple[type, ...]) -> Any:
    """A field of an API answer, of the type its contract says, or MalformedResponse.
    Numbers with a fraction arrive as Decimal (the client never makes floats)."""
    if not isinstance(value, kind) or (kind in (int, Decimal) and isinstance(value, bool)):
        raise MalformedResponse(venue, f"{path}: expected {_kind_name(kind)}, "
                                       f"got {type(value).__name__}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__
