"""Readers for the Plutus data fields DEX datums share (constructors, integers, byte
strings, addresses, asset classes); each checks its shape and names the field, raising
DexDatumError. Addresses are rebuilt as bech32 with pycardano for the given network.

pycardano is imported where an address or credential is rebuilt, not at module import: it
costs seconds of CPU to import, and every process that loads the DEX registry (each
`dhl positions` command, for one) would pay that even when it reads no datum."""
from __future__ import annotations

from typing import TYPE_CHECKING

from protocols.plutus import Constr, Data, PlutusDataError, loads

from .model import DexDatumError, UnsupportedOrder

if TYPE_CHECKING:
    from pycardano import Address, ScriptHash, VerificationKeyHash


def parse(dex: str, cbor: bytes) -> Data:
    try:
        return loads(cbor)
    except PlutusDataError as error:
        raise DexDatumError(dex, f"not a Plutus datum: {error}") from None


class Reader:
    """Field readers bound to one DEX, so every error names it."""

    def __init__(self, dex: str) -> None:
        self.dex = dex

    def fail(self, message: str) -> DexDatumError:
        return DexDatumError(self.dex, message)

    def constr(self, value: Data, where: str, index: int | None = None,
               arity: int | None = None) -> Constr:
        if not isinstance(value, Constr):
            raise self.fail(f"{where}: expected a constructor, found {type(value).__name__}")
        if index is not None and value.index != index:
            raise self.fail(f"{where}: expected constructor {index}, found {value.index}")
        if arity is not None and len(value.fields) != arity:
            raise self.fail(f"{where}: expected {arity} fields, found {len(value.fields)}")
        return value

    def nat(self, value: Data, where: str) -> int:
        if type(value) is not int or value < 0:
            raise self.fail(f"{where}: expected a non-negative integer, found {value!r:.60}")
        return value

    def bytes_(self, value: Data, where: str, size: int | None = None) -> bytes:
        if not isinstance(value, bytes) or (size is not None and len(value) != size):
            want = f"{size} bytes" if size is not None else "bytes"
            raise self.fail(f"{where}: expected {want}, found {value!r:.60}")
        return value

    def list_(self, value: Data, where: str, size: int | None = None) -> list[Data]:
        if not isinstance(value, list) or (size is not None and len(value) != size):
            raise self.fail(f"{where}: expected a list" + (f" of {size}" if size else ""))
        return value

    def unit(self, policy: Data, name: Data, where: str) -> str:
        """("", "") is lovelace; else "<policy hex>.<name hex>"."""
        p = self.bytes_(policy, f"{where}.policy")
        n = self.bytes_(name, f"{where}.name")
        if not p:
            if n:
                raise self.fail(f"{where}: an asset name without a policy")
            return "lovelace"
        if len(p) != 28 or len(n) > 32:
            raise self.fail(f"{where}: policy of {len(p)} bytes or name of {len(n)} bytes")
        return f"{p.hex()}.{n.hex()}"

    def asset_class(self, value: Data, where: str) -> str:
        c = self.constr(value, where, 0, 2)
        return self.unit(c.fields[0], c.fields[1], where)

    def credential(self, value: Data, where: str) -> VerificationKeyHash | ScriptHash:
        from pycardano import ScriptHash, VerificationKeyHash

        c = self.constr(value, where, arity=1)
        raw = self.bytes_(c.fields[0], where, 28)
        if c.index == 0:
            return VerificationKeyHash(raw)
        if c.index == 1:
            return ScriptHash(raw)
        raise self.fail(f"{where}: credential constructor {c.index} (0 key, 1 script)")

    def key_hash(self, value: Data, where: str) -> str:
        from pycardano import VerificationKeyHash

        cred = self.credential(value, where)
        if not isinstance(cred, VerificationKeyHash):
            raise UnsupportedOrder(self.dex, f"{where}: a script, not a key, owns this order")
        return cred.payload.hex()

    def address(self, value: Data, where: str, mainnet: bool) -> Address:
        """Plutus `Address { payment, Option<StakingCredential> }`."""
        from pycardano import Address, Network, PointerAddress

        c = self.constr(value, where, 0, 2)
        payment = self.credential(c.fields[0], f"{where}.payment")
        option = self.constr(c.fields[1], f"{where}.stake")
        network = Network.MAINNET if mainnet else Network.TESTNET
        if option.index == 1 and not option.fields:
            return Address(payment, None, network)
        if option.index != 0 or len(option.fields) != 1:
            raise self.fail(f"{where}.stake: expected Some (0) or None (1)")
        staking = self.constr(option.fields[0], f"{where}.stake")
        if staking.index == 0 and len(staking.fields) == 1:
            return Address(payment, self.credential(staking.fields[0], f"{where}.stake"),
                           network)
        if staking.index == 1 and len(staking.fields) == 3:
            a, b, d = (self.nat(n, f"{where}.stake.pointer") for n in staking.fields)
            return Address(payment, PointerAddress(a, b, d), network)
        raise self.fail(f"{where}.stake: neither an inline credential nor a pointer")

    def payment_key(self, address: Address, where: str) -> str:
        from pycardano import VerificationKeyHash

        if not isinstance(address.payment_part, VerificationKeyHash):
            raise UnsupportedOrder(self.dex, f"{where}: a script address owns this order")
        return address.payment_part.payload.hex()

