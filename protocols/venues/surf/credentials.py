"""A Shelley address's payment credential, from its bytes. Pure, and light (no pycardano):
the chain reader needs it without the order builder."""
from __future__ import annotations


def payment_credential(address: bytes) -> bytes | None:
    """The 28-byte payment credential of a Shelley address (None for others)."""
    if not address or address[0] >> 4 > 7 or len(address) < 29:
        return None
    return address[1:29]


def payment_is_script(address: bytes) -> bool:
    return bool(address) and address[0] >> 4 in (1, 3, 5, 7)
