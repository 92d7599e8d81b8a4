"""Slot to wall-clock time on the public networks, from the Shelley era on.

Pure. Since Shelley every slot lasts one second, so a slot's time is the Shelley start
time plus the slots since the Shelley start slot (the genesis files' systemStart and
the Byron epochs before it: mainnet 208 epochs of 21,600 twenty-second slots, preprod
4, preview none). Byron slots (before the Shelley start) are refused: venue UTxOs are
all later, and a wrong time would be worse than none.
"""
from __future__ import annotations

from dataclasses import dataclass


class SlotTimeError(ValueError):
    """The network's slot times are not known here, or the slot is before Shelley."""


@dataclass(frozen=True)
class ShelleyStart:
    slot: int  # the first Shelley slot
    unix_s: int  # its time, Unix seconds (UTC)


#: Per network name (core.settings.Network.name).
SHELLEY_START: dict[str, ShelleyStart] = {
    # systemStart 2017-09-23T21:44:51Z + 208 × 21600 × 20 s = 2020-07-29T21:44:51Z.
    "mainnet": ShelleyStart(4_492_800, 1_596_059_091),
    # systemStart 2022-06-01T00:00:00Z + 4 × 21600 × 20 s = 2022-06-21T00:00:00Z.
    "preprod": ShelleyStart(86_400, 1_655_769_600),
    # systemStart 2022-10-25T00:00:00Z, Shelley-family from slot 0.
    "preview": ShelleyStart(0, 1_666_656_000),
}


def slot_to_ms(network: str, slot: int) -> int:
    """Unix milliseconds at the start of `slot` on `network` (a name: mainnet, preprod,
    preview)."""
    start = SHELLEY_START.get(network)
    if start is None:
        raise SlotTimeError(f"slot times of network {network!r} are not known "
                            f"(known: {', '.join(SHELLEY_START)})")
    if isinstance(slot, bool) or not isinstance(slot, int) or slot < start.slot:
        raise SlotTimeError(f"slot {slot!r} is not a Shelley-era slot of {network} "
                            f"(those start at {start.slot})")
    return (start.unix_s + slot - start.slot) * 1000


def ms_to_slot(network: str, unix_ms: int) -> int:
    """The slot running at `unix_ms` (the inverse of `slot_to_ms`, rounded down)."""
    start = SHELLEY_START.get(network)
    if start is None:
        raise SlotTimeError(f"slot times of network {network!r} are not known")
    return start.slot + (unix_ms // 1000 - start.unix_s)
