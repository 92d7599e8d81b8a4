"""Venue records in two forms: JSON for people and tools (`dhl venues read`: integers as
integers, ratios as [num, den], bytes as hex), and the stored form that follows store/'s
rules (docs/storage.md: integers as decimal strings, no floats, no nested arrays)."""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

from protocols.model import VenueEvent, VenueRecord


def json_value(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, Fraction):
        return [value.numerator, value.denominator]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    raise TypeError(f"a venue record holds a {type(value).__name__}: {value!r}")


def record_json(record: VenueRecord) -> dict[str, Any]:
    line: dict[str, Any] = {"venue": record.venue, "kind": record.kind, "market": record.market,
                            "ref": record.ref, "datum": json_value(record.fields)}
    line.update({k: json_value(v) for k, v in record.extra.items()})
    return line


def event_json(event: VenueEvent) -> dict[str, Any]:
    return {"venue": event.venue, "kind": event.kind, "market": event.market,
            "tx": event.tx_id, "refs": list(event.refs), "details": json_value(event.details)}


def stored_value(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)  # beyond int64 and negative alike
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, (list, tuple)):
        items = [stored_value(v) for v in value]
        if any(isinstance(v, (list, dict)) for v in items):
            return {str(i): v for i, v in enumerate(items)}  # no nested arrays
        return items
    if isinstance(value, dict):
        return {str(k): stored_value(v) for k, v in value.items()}
    raise TypeError(f"a venue record holds a {type(value).__name__}: {value!r}")


def stored_record(record: VenueRecord) -> dict[str, Any]:
    return {"venue": record.venue, "kind": record.kind, "market": record.market,
            "fields": stored_value(record.fields)}
