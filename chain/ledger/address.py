"""Address bytes to their text form: bech32 (CIP-19) for Shelley addresses, base58 for Byron.

Implemented here (a few lines each) so the ledger view needs nothing beyond cbor2.
"""
from __future__ import annotations

from functools import lru_cache

from .errors import LedgerError

_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

_BYRON_TYPE = 8
_REWARD_TYPES = (14, 15)


def _polymod(values: list[int]) -> int:
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            if (top >> i) & 1:
                check ^= _BECH32_GEN[i]
    return check


def bech32_encode(hrp: str, data: bytes) -> str:
    """Bech32 (BIP-173 checksum, no 90-character limit, as Cardano uses it)."""
    # Regroup 8-bit bytes into 5-bit words, zero-padding the last one.
    words: list[int] = []
    acc = bits = 0
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            words.append((acc >> bits) & 31)
    if bits:
        words.append((acc << (5 - bits)) & 31)
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    mod = _polymod(expanded + words + [0] * 6) ^ 1
    checksum = [(mod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32_CHARSET[w] for w in words + checksum)


def base58_encode(data: bytes) -> str:
    """Bitcoin-alphabet base58, as used for Byron addresses."""
    number = int.from_bytes(data, "big")
    out: list[str] = []
    while number:
        number, rem = divmod(number, 58)
        out.append(_BASE58_ALPHABET[rem])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


@lru_cache(maxsize=8192)  # script and exchange addresses repeat across many outputs
def address_text(address: bytes) -> str:
    """bech32 for Shelley addresses (hrp by type and network nibble), base58 for Byron."""
    if not address:
        raise LedgerError("address: empty address bytes")
    kind = address[0] >> 4
    mainnet = (address[0] & 0x0F) == 1
    if kind == _BYRON_TYPE:
        return base58_encode(address)
    if kind <= 7:
        return bech32_encode("addr" if mainnet else "addr_test", address)
    if kind in _REWARD_TYPES:
        return bech32_encode("stake" if mainnet else "stake_test", address)
    raise LedgerError(f"address: unknown address type {kind} in header byte 0x{address[0]:02x}")
