"""Shelley addresses as the check needs them: bech32 back to bytes (pycardano), and the
payment and stake credentials inside (CIP-19 header: type nibble, network nibble)."""
from __future__ import annotations

from functools import lru_cache

class AddressError(ValueError):
    """Not a Shelley address this code can read."""


@lru_cache(maxsize=4096)
def address_bytes(text: str) -> bytes:
    """bech32 to raw bytes, through pycardano as the rest of the project reads addresses
    (checksum checked)."""
    from pycardano import Address

    try:
        return bytes(Address.from_primitive(text.strip()).to_primitive())
    except Exception as error:  # pycardano raises several types for bad text
        raise AddressError(f"not a Shelley address: {text!r:.120} "
                           f"({type(error).__name__})") from None


def network_id(address: bytes) -> int:
    return address[0] & 0x0F


def payment_part(address: bytes) -> tuple[bool, bytes] | None:
    """(is_script, hash) of a Shelley base/pointer/enterprise address, else None."""
    kind = address[0] >> 4
    if kind > 7 or len(address) < 29:
        return None
    return bool(kind & 1), address[1:29]


def stake_key(address: bytes) -> bytes | None:
    """The stake key hash of a base address whose stake part is a key."""
    kind = address[0] >> 4
    if kind in (0, 1) and len(address) == 57:
        return address[29:57]
    return None


def payment_script(address: bytes) -> str | None:
    """The payment script hash (hex) of a script address, else None."""
    part = payment_part(address)
    return part[1].hex() if part and part[0] else None


def key_hashes(addresses: frozenset[str] | set[str]) -> frozenset[bytes]:
    """The payment and stake key hashes of our addresses: the signers we expect."""
    found: set[bytes] = set()
    for text in addresses:
        raw = address_bytes(text)
        part = payment_part(raw)
        if part and not part[0]:
            found.add(part[1])
        stake = stake_key(raw)
        if stake:
            found.add(stake)
    return frozenset(found)
