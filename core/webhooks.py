"""Per-user webhooks, the pure part: the signature a receiver checks, the retry backoff,
and what a webhook address may be.

A delivery is a POST of the alert as JSON with these headers:
- `X-DHL-Alert-Id`: the alert's id (a receiver may see one twice: at-least-once);
- `X-DHL-Timestamp`: seconds since the epoch when it was sent;
- `X-DHL-Signature`: "sha256=" + hex HMAC-SHA256 over "<timestamp>." + the raw body,
  keyed with the user's webhook secret (a receiver recomputes it and compares in constant
  time, and refuses old timestamps so a captured delivery cannot be replayed).
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

ALERT_ID_HEADER = "X-DHL-Alert-Id"
TIMESTAMP_HEADER = "X-DHL-Timestamp"
SIGNATURE_HEADER = "X-DHL-Signature"

#: Seconds before each retry of a failed delivery (then it is given up). All below the
#: broker's visibility timeout (1 h), so a waiting retry is never delivered twice.
BACKOFF_S = (2, 10, 30, 120, 600, 1800)
MAX_URL_CHARS = 2048


class WebhookError(ValueError):
    """A webhook address or secret that cannot be used."""


def new_secret() -> str:
    """A fresh per-user secret: 32 random bytes as hex."""
    return secrets.token_hex(32)


def signature(secret: str, timestamp_s: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp_s}.".encode("ascii") + body,
                   hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp_s: int, body: bytes, signed: str) -> bool:
    """What a receiver does (and the tests): the signature of exactly these bytes."""
    return hmac.compare_digest(signature(secret, timestamp_s, body), signed)


def backoff_s(retries: int) -> int | None:
    """Seconds before retry number `retries` + 1; None once every retry is spent."""
    return BACKOFF_S[retries] if 0 <= retries < len(BACKOFF_S) else None


def webhook_url(value: object) -> str:
    """An http(s) address with a host, at most MAX_URL_CHARS, without credentials."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL_CHARS:
        raise WebhookError(f"a webhook is an http(s) URL of at most {MAX_URL_CHARS} characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"a webhook is an http(s) URL with a host, got {value[:80]!r}")
    if parts.username or parts.password:
        raise WebhookError("a webhook URL may not carry credentials: the secret signs instead")
    return value


def public_webhook_url(value: object) -> str:
    """A webhook a user may set over the API: as `webhook_url`, and not aimed at this
    machine or a private network by its host (localhost, a loopback, private, link-local
    or reserved address literal) — the service would POST there. (A name that resolves to
    such an address is not caught here.)"""
    url = webhook_url(value)
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        raise WebhookError("a webhook may not point at this machine")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return url
    if (address.is_private or address.is_loopback or address.is_link_local
            or address.is_reserved or address.is_multicast or address.is_unspecified):
        raise WebhookError(f"a webhook may not point at a private or local address ({host})")
    return url
