"""Slots and Unix milliseconds on the public networks (Shelley-era slots are 1 s). Pure.

Levvy datums hold POSIX times (a loan's end), while a transaction's validity interval is
in slots, so the builders convert. Facts: mainnet's Shelley era starts at slot 4,492,800
= 2020-07-29T21:44:51Z; preprod's at slot 86,400 = 2022-06-21T00:00:00Z (four 20-second
Byron epochs after its 2022-06-01 start); preview starts in Shelley at slot 0 =
2022-10-25T00:00:00Z. Private networks (magic-N) have no clock here.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SlotClock:
    start_slot: int
    start_ms: int
    slot_ms: int = 1000

    def time_ms(self, slot: int) -> int:
        return self.start_ms + (slot - self.start_slot) * self.slot_ms

    def slot_at(self, time_ms: int) -> int:
        """The slot that contains `time_ms` (floor)."""
        return self.start_slot + (time_ms - self.start_ms) // self.slot_ms

    def first_slot_after(self, time_ms: int) -> int:
        """The first slot that starts strictly after `time_ms`."""
        return self.slot_at(time_ms) + 1


CLOCKS: dict[str, SlotClock] = {
    "mainnet": SlotClock(4_492_800, 1_596_059_091_000),
    "preprod": SlotClock(86_400, 1_655_769_600_000),
    "preview": SlotClock(0, 1_666_656_000_000),
}
