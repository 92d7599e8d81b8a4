"""A position as a plain dict and back, exactly: what store/positions.py keeps. Pure.

The dict follows store/'s rules (docs/storage.md): amounts as decimal strings (past
int64), Decimals as their canonical strings, times as integer milliseconds, no nested
arrays, no null fields (an absent key is None), and sub-items as sub-documents keyed by
id: `legs.<leg id>`, `history.<seq, zero-padded>`, `done.<idempotency key>` (the phases
recorded, each with the seq that recorded it). Figures are not stored: they are
recomputed from the legs.

`transition_update` is the bridge to the store's compare-and-set: from the stored
document and an event, the fields to set and the history entry to append.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from core.decimals import finite_decimal
from trading.legs import Actual, Leg, LegKind, LegState
from trading.positions import HistoryEntry, Position, PositionState, Side
from trading.transitions import Event, EventKind, event_key, transition

VERSION = 1
SEQ_WIDTH = 8


class PositionCodecError(ValueError):
    """A stored position that is not in the form this module writes."""


def seq_field(seq: int) -> str:
    """A history entry's key: zero-padded, so key order is seq order."""
    return str(seq).zfill(SEQ_WIDTH)


def position_to_dict(position: Position) -> dict[str, Any]:
    """The whole position, as inserted. Its history is keyed by seq, its idempotency
    keys recorded under `done`."""
    return {
        "_id": position.position_id, "v": VERSION, "side": position.side.value,
        "traded": position.traded, "base": position.base, "venue": position.venue,
        "collateral_asset": position.collateral_asset, "paper": position.paper,
        "requested_ms": position.requested_ms, "state": position.state.value,
        "version": position.version,
        "legs": {leg_id: leg_to_dict(leg) for leg_id, leg in position.legs.items()},
        "history": {seq_field(h.seq): entry_to_dict(h) for h in position.history},
        "done": {event_key(position.position_id, h.event): h.seq for h in position.history},
    }


def position_from_dict(doc: Mapping[str, Any]) -> Position:
    try:
        if doc["v"] != VERSION:
            raise PositionCodecError(f"unknown position layout v={doc['v']!r}")
        history = tuple(entry_from_dict(doc["history"][k]) for k in sorted(doc["history"], key=int))
        if [h.seq for h in history] != list(range(1, int(doc["version"]) + 1)):
            raise PositionCodecError(f"position {doc['_id']}: history is not 1..version")
        return Position(
            position_id=str(doc["_id"]), side=Side(doc["side"]), traded=str(doc["traded"]),
            venue=str(doc["venue"]), collateral_asset=str(doc["collateral_asset"]),
            requested_ms=_ms(doc["requested_ms"]), base=str(doc["base"]),
            paper=bool(doc["paper"]), state=PositionState(doc["state"]),
            version=int(doc["version"]),
            legs={k: leg_from_dict(v) for k, v in doc["legs"].items()}, history=history)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, PositionCodecError):
            raise
        raise PositionCodecError(f"malformed stored position: {exc!r}") from None


def leg_to_dict(leg: Leg) -> dict[str, Any]:
    doc: dict[str, Any] = {"leg_id": leg.leg_id, "kind": leg.kind.value, "venue": leg.venue,
                           "step": leg.step, "attempt": leg.attempt,
                           "amount_in": _int(leg.amount_in), "amount_out": _int(leg.amount_out),
                           "state": leg.state.value}
    _put(doc, "asset_in", leg.asset_in)
    _put(doc, "asset_out", leg.asset_out)
    _put(doc, "tx_id", leg.tx_id)
    if leg.actual is not None:
        a = leg.actual
        doc["actual"] = {"tx_id": a.tx_id, "amount_in": _int(a.amount_in),
                         "amount_out": _int(a.amount_out), "network_fee": _int(a.network_fee),
                         "service_fee": _int(a.service_fee), "interest": _int(a.interest)}
    return doc


def leg_from_dict(doc: Mapping[str, Any]) -> Leg:
    actual = None
    if "actual" in doc:
        a = doc["actual"]
        actual = Actual(tx_id=str(a["tx_id"]), amount_in=_read_int(a["amount_in"]),
                        amount_out=_read_int(a["amount_out"]),
                        network_fee=_read_int(a["network_fee"]),
                        service_fee=_read_int(a["service_fee"]),
                        interest=_read_int(a["interest"]))
    return Leg(leg_id=str(doc["leg_id"]), kind=LegKind(doc["kind"]), venue=str(doc["venue"]),
               step=str(doc["step"]), attempt=int(doc["attempt"]),
               asset_in=doc.get("asset_in"), amount_in=_read_int(doc["amount_in"]),
               asset_out=doc.get("asset_out"), amount_out=_read_int(doc["amount_out"]),
               state=LegState(doc["state"]), tx_id=doc.get("tx_id"), actual=actual)


def entry_to_dict(entry: HistoryEntry) -> dict[str, Any]:
    e = entry.event
    doc: dict[str, Any] = {"seq": entry.seq, "before": entry.before.value,
                           "after": entry.after.value, "kind": e.kind.value, "step": e.step,
                           "attempt": e.attempt, "at_ms": e.at_ms}
    if e.leg is not None:
        doc["leg"] = leg_to_dict(e.leg)
    _put(doc, "reason", e.reason)
    if e.fraction is not None:
        doc["fraction"] = str(e.fraction)
    return doc


def entry_from_dict(doc: Mapping[str, Any]) -> HistoryEntry:
    fraction = doc.get("fraction")
    event = Event(kind=EventKind(doc["kind"]), step=str(doc["step"]),
                  attempt=int(doc["attempt"]), at_ms=_ms(doc["at_ms"]),
                  leg=leg_from_dict(doc["leg"]) if "leg" in doc else None,
                  reason=doc.get("reason"),
                  fraction=None if fraction is None else finite_decimal(fraction))
    return HistoryEntry(seq=int(doc["seq"]), before=PositionState(doc["before"]),
                        after=PositionState(doc["after"]), event=event)


#: What the store's compare-and-set needs from a transition: the fields to `$set`
#: (top-level or one leg, `legs.<id>`) and the history entry to append.
Update = tuple[dict[str, Any], dict[str, Any]]


def transition_update(event: Event) -> Callable[[Mapping[str, Any]], Update]:
    """For the store: given the stored position, apply `event` (IllegalTransition if it
    may not) and say what to write."""
    def decide(doc: Mapping[str, Any]) -> Update:
        moved, entry = transition(position_from_dict(doc), event)
        fields: dict[str, Any] = {"state": moved.state.value}
        if event.leg is not None:
            fields[f"legs.{event.leg.leg_id}"] = leg_to_dict(event.leg)
        return fields, entry_to_dict(entry)
    return decide


def _put(doc: dict[str, Any], key: str, value: str | None) -> None:
    if value is not None:
        doc[key] = value


def _int(value: int) -> str:
    return str(value)


def _read_int(stored: Any) -> int:
    if not isinstance(stored, str) or not stored.isdigit():
        raise PositionCodecError(f"not a stored amount: {stored!r}")
    return int(stored, 10)


def _ms(stored: Any) -> int:
    if isinstance(stored, bool) or not isinstance(stored, int):
        raise PositionCodecError(f"not a stored time: {stored!r}")
    return stored

