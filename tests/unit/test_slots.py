"""chain/slots.py: slot times of the public networks, from the Shelley era on."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.slots import SlotTimeError, ms_to_slot, slot_to_ms


def test_the_shelley_starts():
    # 2020-07-29T21:44:51Z, 2022-06-21T00:00:00Z, 2022-10-25T00:00:00Z.
    assert slot_to_ms("mainnet", 4_492_800) == 1_596_059_091_000
    assert slot_to_ms("preprod", 86_400) == 1_655_769_600_000
    assert slot_to_ms("preview", 0) == 1_666_656_000_000


def test_the_well_known_offsets():
    # mainnet: unix = slot + 1591566291; preprod: slot + 1655683200; preview: slot + 1666656000.
    assert slot_to_ms("mainnet", 159_835_207) == (159_835_207 + 1_591_566_291) * 1000
    assert slot_to_ms("preprod", 27_756_007) == (27_756_007 + 1_655_683_200) * 1000
    assert slot_to_ms("preview", 82_916_704) == (82_916_704 + 1_666_656_000) * 1000


@pytest.mark.parametrize("network, slot", [("mainnet", 4_492_799), ("preprod", 0),
                                           ("magic-42", 10), ("mainnet", -1),
                                           ("mainnet", True)])
def test_byron_slots_and_unknown_networks_are_refused(network, slot):
    with pytest.raises(SlotTimeError):
        slot_to_ms(network, slot)


@given(st.sampled_from(["mainnet", "preprod", "preview"]), st.integers(4_492_800, 2**40))
def test_ms_to_slot_inverts_slot_to_ms(network, slot):
    assert ms_to_slot(network, slot_to_ms(network, slot) + 999) == slot
