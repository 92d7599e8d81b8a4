"""Shelley addresses as the check needs them: bech32 back to bytes, and the payment and
stake credentials inside (CIP-19 header: type nibble, network nibble)."""
from __future__ import annotations

from functools import lru_cache

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


class AddressError(ValueError):
    """Not a Shelley address this code can read."""


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= _GEN[i] if (top >> i) & 1 else 0
    return chk


@lru_cache(maxsize=4096)
def address_bytes(text: str) -> bytes:
    """bech32 (no length limit: Cardano addresses pass 90 characters) to raw bytes."""
    text = text.strip()
    if text.lower() != text and text.upper() != text:
        raise AddressError(f"mixed case in address {text!r:.120}")
    text = text.lower()
    hrp, sep, data = text.rpartition("1")
    if not sep or not hrp or len(data) < 6:
        raise AddressError(f"not a bech32 address: {text!r:.120}")
    try:
        values = [_CHARSET.index(c) for c in data]
    except ValueError:
        raise AddressError(f"not a bech32 address: {text!r:.120}") from None
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    if _polymod(expanded + values) != 1:
        raise AddressError(f"bad bech32 checksum in {text!r:.120}")
    acc = bits = 0
    out = bytearray()
    for v in values[:-6]:
        acc = (acc << 5) | v
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    return bytes(out)


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
