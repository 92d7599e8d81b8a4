"""SundaeSwap v3 orders: inline datums. No real v3 datum is in the fixtures: read from the
public layout and tested on datums built from it.

Layout (SundaeSwap-finance/sundae-contracts `lib/types/order.ak`: OrderDatum
{ pool_ident: Option<Ident>, owner: MultisigScript, max_protocol_fee: Int, destination:
Destination, details: Order, extension: Data }; the same in Charli3's dendrite
`SundaeV3OrderDatum`): `Constr 0 [Constr 0 [ident] | Constr 1 [], owner, maxProtocolFee,
destination, details, extension]`; owner `Constr 0 Signature [key hash]` (other multisig
forms refused); destination `Constr 0 Fixed [address, datum]` (`Constr 1 Self` refused);
details `Constr 1 Swap [[policy, name, offer], [policy, name, min_received]]` (the
strategy, deposit, withdrawal, donation and record orders refused). The owner key may be
a wallet's stake key, as some builders sign with it. The deposit is not in the datum:
2 ADA. Script hashes: fixtures/dex/sundaeswap-v1/SOURCES.md (order `fa6a58bb…3077`,
pool `e0302560…312b`), whole from dendrite's v3 order and pool addresses.
"""
from __future__ import annotations

from .fields import Reader, parse
from .model import OrderDatum, UnsupportedOrder

NAME = "sundaeswap-v3"
ORDER_SCRIPTS = frozenset({"fa6a58bbe2d0ff05534431c8e2f0ef2cbdc1602a8456e4b13c8f3077",
                           # the stableswap order script (dendrite's v3 stableswap address)
                           "6ab62945d0d8d6288e243b3b6437ff9c099a38e088288f5a6b7c5e8b"})
POOL_SCRIPTS = frozenset({"e0302560ced2fdcbfcb2602697df970cd0d6a38f94b32703f51c312b",
                          "4de79a0c17180030bff4c36825cb6e99caa007bc632f789561a26d56"})
DEPOSIT_LOVELACE = 2_000_000

_r = Reader(NAME)


def read_datum(cbor: bytes, mainnet: bool) -> OrderDatum:
    d = _r.constr(parse(NAME, cbor), "OrderDatum", 0, 6)
    ident = _r.constr(d.fields[0], "pool_ident")
    if ident.index == 0:
        _r.constr(ident, "pool_ident", arity=1)
        _r.bytes_(ident.fields[0], "pool_ident")
    elif ident.index != 1 or ident.fields:
        raise _r.fail("pool_ident: expected Some (0) or None (1)")
    owner = _r.constr(d.fields[1], "owner")
    if owner.index != 0:
        raise UnsupportedOrder(NAME, f"owner multisig kind {owner.index}: not one signature")
    _r.constr(owner, "owner", arity=1)
    owner_key = _r.bytes_(owner.fields[0], "owner.key_hash", 28).hex()
    fee = _r.nat(d.fields[2], "max_protocol_fee")
    destination = _r.constr(d.fields[3], "destination")
    if destination.index != 0:
        raise UnsupportedOrder(NAME, f"destination kind {destination.index}: not Fixed (0)")
    _r.constr(destination, "destination", arity=2)
    receiver = _r.address(destination.fields[0], "destination.address", mainnet)
    _r.constr(destination.fields[1], "destination.datum")
    details = _r.constr(d.fields[4], "details")
    if details.index != 1:
        raise UnsupportedOrder(NAME, f"order kind {details.index} is not a swap (1)")
    _r.constr(details, "details", arity=2)
    offer = _r.list_(details.fields[0], "details.offer", 3)
    _r.unit(offer[0], offer[1], "details.offer")
    _r.nat(offer[2], "details.offer.amount")
    wanted = _r.list_(details.fields[1], "details.min_received", 3)
    return OrderDatum(
        dex=NAME, kind="swap", owner=owner_key, receiver=str(receiver),
        want=_r.unit(wanted[0], wanted[1], "details.min_received"),
        min_receive=_r.nat(wanted[2], "details.min_received.amount"),
        batcher_fee=fee, deposit=DEPOSIT_LOVELACE,
    )
