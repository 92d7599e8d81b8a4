"""What can go wrong with a lending venue, as types: callers decide by type (retry, refuse,
poison a block), never by parsing a message."""
from __future__ import annotations

from core.errors import AppError, TransientError


class VenueError(AppError):
    """Base of every venue failure."""

    def __init__(self, venue: str, message: str) -> None:
        super().__init__(f"{venue}: {message}")
        self.venue = venue


class DatumLayoutError(VenueError, ValueError):
    """A datum or transaction does not have the layout this code knows. In the block
    pipeline it makes the block poison for this venue only, instead of a wrong number."""


class VenueApiError(VenueError):
    """The venue's API failed in a way a retry will not fix (4xx, a refusal)."""


class VenueUnavailable(VenueApiError, TransientError):
    """The venue's API did not answer in time or answered 5xx/429: retry later."""


class MalformedResponse(VenueApiError):
    """The API answered, but not with what its contract says (bad JSON, missing fields)."""


class VenueRefused(VenueApiError):
    """The venue understood the request and said no (its own error message kept)."""


class Unsupported(VenueError):
    """The venue does not offer this (Surf repays only in full; Levvy has no API)."""


class VenueDisabled(VenueError):
    """The venue is off here (not configured for this network); the reason says why."""
