"""The script credential of an address, from its bytes or its bech32 text (stored UTxOs
keep the text). Only what the Loan-validator fallback needs."""
from __future__ import annotations

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            if (top >> i) & 1:
                check ^= _GENERATOR[i]
    return check


def bech32_bytes(text: str) -> bytes | None:
    """The payload of a bech32 string (BIP-173 checksum, no length limit), or None if it is
    not one."""
    text = text.strip()
    if text.lower() != text:
        return None
    hrp, sep, data = text.rpartition("1")
    if not sep or not hrp or len(data) < 6 or any(c not in _CHARSET for c in data):
        return None
    words = [_CHARSET.index(c) for c in data]
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    if _polymod(expanded + words) != 1:
        return None
    acc = bits = 0
    out = bytearray()
    for word in words[:-6]:
        acc = (acc << 5) | word
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    if bits >= 5 or acc & ((1 << bits) - 1):
        return None  # bad padding
    return bytes(out)


def payment_script_hash(address: bytes) -> bytes | None:
    """The payment credential of a Shelley address when it is a script, else None."""
    if len(address) < 29:
        return None
    kind = address[0] >> 4
    if kind > 7 or not kind & 1:  # types 1, 3, 5 and 7 pay to a script
        return None
    return address[1:29]


def payment_script_hash_of_text(address: str) -> bytes | None:
    raw = bech32_bytes(address)
    return None if raw is None else payment_script_hash(raw)
