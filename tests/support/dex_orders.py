"""Order datums built from the DEXs' public layouts (for the DEXs without a real datum in
the fixtures), and small transactions that place, fill or cancel an order, as CBOR a
`chain.ledger.decode_transaction` reads."""
from __future__ import annotations

from typing import Any

import cbor2
from pycardano import Address, Network, ScriptHash, VerificationKeyHash

from protocols.plutus import Constr, Data, dumps

OWNER = bytes.fromhex("11" * 28)
STAKE = bytes.fromhex("22" * 28)
BATCHER = bytes.fromhex("33" * 28)
TOKEN_POLICY = bytes.fromhex("44" * 28)
TOKEN_NAME = b"TOKEN"
TOKEN = f"{TOKEN_POLICY.hex()}.{TOKEN_NAME.hex()}"

#: The owner's wallet (base address: payment key + stake key), mainnet.
WALLET = Address(VerificationKeyHash(OWNER), VerificationKeyHash(STAKE), Network.MAINNET)


def plutus_address(payment: bytes = OWNER, stake: bytes | None = STAKE) -> Constr:
    staking = (Constr(1, ()) if stake is None
               else Constr(0, (Constr(0, (Constr(0, (stake,)),)),)))
    return Constr(0, (Constr(0, (payment,)), staking))


def sundaeswap_v3(*, owner_kind: int = 0, destination_kind: int = 0,
                  details_kind: int = 1) -> bytes:
    owner = Constr(owner_kind, (OWNER,))
    destination = (Constr(0, (plutus_address(), Constr(0, ()))) if destination_kind == 0
                   else Constr(1, ()))
    details = Constr(details_kind, ([b"", b"", 100_000_000],
                                    [TOKEN_POLICY, TOKEN_NAME, 4_500_000]))
    return dumps(Constr(0, (Constr(0, (bytes.fromhex("ab" * 28),)), owner, 1_280_000,
                            destination, details, Constr(0, ()))))


def wingriders_v1(*, direction: int = 0, action: int = 0) -> bytes:
    assets = Constr(0, (Constr(0, (b"", b"")), Constr(0, (TOKEN_POLICY, TOKEN_NAME))))
    config = Constr(0, (plutus_address(), OWNER, 1_700_000_000_000, assets))
    return dumps(Constr(0, (config, Constr(action, (Constr(direction, ()), 7_000_000)))))


def wingriders_v2(*, direction: int = 1, fields: int = 13) -> bytes:
    items: list[Data] = [2_000_000, plutus_address(), plutus_address(), Constr(0, ()),
                         Constr(0, ()), 1_700_000_000_000, b"", b"", TOKEN_POLICY,
                         TOKEN_NAME, Constr(0, (Constr(direction, ()), 55_000_000)), 1, 1]
    return dumps(Constr(0, tuple(items[:fields])))


def script_address(script_hash: str, stake: bytes | None = STAKE) -> Address:
    return Address(ScriptHash(bytes.fromhex(script_hash)),
                   None if stake is None else VerificationKeyHash(stake), Network.MAINNET)


def tx_cbor(inputs: list[tuple[bytes, int]], outputs: list[dict[int, Any]],
            signers: list[bytes] = (), datums: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    """A Babbage tx `[body, witnesses, true, null]`; witness datums given as CBOR."""
    body: dict[int, Any] = {0: [list(i) for i in inputs], 1: outputs, 2: 200_000}
    if signers:
        body[14] = list(signers)
    witnesses: dict[int, Any] = {}
    if datums:
        witnesses[4] = [cbor2.loads(d) for d in datums]
    return cbor2.dumps([body, witnesses, True, None])


def out(address: Address, lovelace: int, tokens: int = 0, *,
        inline: bytes | None = None) -> dict[int, Any]:
    value: Any = lovelace if not tokens else [lovelace, {TOKEN_POLICY: {TOKEN_NAME: tokens}}]
    o: dict[int, Any] = {0: bytes(address), 1: value}
    if inline is not None:
        o[2] = [1, cbor2.CBORTag(24, inline)]
    return o
