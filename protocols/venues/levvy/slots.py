"""A network's slot clock for the Levvy builders: datums hold POSIX times (a loan's end)
while a transaction's validity interval is in slots. The facts (each network's Shelley
start) live in chain/slots.py; this is only their shape for the builders. Pure."""
from __future__ import annotations

from dataclasses import dataclass

from chain.slots import SHELLEY_START


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


CLOCKS: dict[str, SlotClock] = {name: SlotClock(start.slot, start.unix_s * 1000)
                                for name, start in SHELLEY_START.items()}
