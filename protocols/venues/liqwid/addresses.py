"""The script credential of an address, from its bytes or its bech32 text (stored UTxOs
keep the text). Only what the Loan-validator fallback needs."""
from __future__ import annotations


def payment_script_hash(address: bytes) -> bytes | None:
    """The payment credential of a Shelley address when it is a script, else None."""
    if len(address) < 29:
        return None
    kind = address[0] >> 4
    if kind > 7 or not kind & 1:  # types 1, 3, 5 and 7 pay to a script
        return None
    return address[1:29]


def payment_script_hash_of_text(address: str) -> bytes | None:
    """The same from an address's text; None for one that is no Shelley address."""
    from pycardano import Address  # its bech32 decoding, as the rest of the project uses

    try:
        raw = bytes(Address.from_primitive(address.strip()).to_primitive())
    except Exception:  # a Byron address, or garbage: not a Liqwid Loan validator
        return None
    return payment_script_hash(raw)
