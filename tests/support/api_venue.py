"""A venue watcher that needs its venue's API to read a datum, for tests of transient
failures. Imported through VENUE_MODULES (with protocols.demo)."""
from __future__ import annotations

import os
from typing import Any

from core.errors import TransientError
from protocols.base import Watch
from protocols.registry import register, unregister
from protocols.demo import SCRIPT_CREDENTIAL, DemoScript


class VenueTimeout(TransientError):
    """What a venue client raises when its API times out."""


class NeedsVenueApi(DemoScript):
    """The venue API is down while the file named by DEMO_VENUE_API_DOWN exists (a file, so
    a test can switch it for the worker's processes)."""

    def decode_datum(self, datum_cbor: bytes) -> dict[str, Any] | None:
        down = os.environ.get("DEMO_VENUE_API_DOWN")
        if down and os.path.exists(down):
            raise VenueTimeout("the venue API did not answer within 10s")
        return super().decode_datum(datum_cbor)


unregister("demo-api")
register("demo-api", lambda settings: NeedsVenueApi(
    "demo-api", Watch(credentials=frozenset({SCRIPT_CREDENTIAL}))))
