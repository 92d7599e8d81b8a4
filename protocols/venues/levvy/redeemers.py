"""Levvy's redeemers (lending.md §2.3; UNVERIFIED against mainnet). Pure.

- v2 token validator: the spend redeemer names the action, `Constr i []` with
  Borrow 0, Repay 1, Claim 2, Foreclose 3, Cancel 4.
- v1: every spent script input carries a void redeemer (`Constr 0 []`); the checks run
  in a withdraw-zero staking validator whose redeemer lists one `Action` per input.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from protocols.errors import DatumLayoutError

from .datums import VENUE, LevvyType
from protocols.plutus import Constr, Data, PlutusDataError, dumps, loads

TokenAction = Literal["borrow", "repay", "claim", "foreclose", "cancel"]
TOKEN_ACTIONS: tuple[TokenAction, ...] = ("borrow", "repay", "claim", "foreclose", "cancel")

V1Action = Literal["borrow", "repay", "foreclose", "cancel"]
V1_ACTIONS: tuple[V1Action, ...] = ("borrow", "repay", "foreclose", "cancel")


def _fail(message: str) -> DatumLayoutError:
    return DatumLayoutError(VENUE, message)


def _load(cbor: bytes, what: str) -> Data:
    try:
        return loads(cbor)
    except PlutusDataError as error:
        raise _fail(f"{what} is not Plutus data: {error}") from None


def token_action_redeemer(action: TokenAction) -> bytes:
    return dumps(Constr(TOKEN_ACTIONS.index(action), ()))


def read_token_action(cbor: bytes) -> TokenAction:
    data = _load(cbor, "v2 token redeemer")
    if not (isinstance(data, Constr) and not data.fields and data.index < len(TOKEN_ACTIONS)):
        raise _fail(f"v2 token redeemer: expected Constr 0..4 with no fields, found {data!r:.80}")
    return TOKEN_ACTIONS[data.index]


def read_void(cbor: bytes) -> None:
    data = _load(cbor, "void redeemer")
    if data != Constr(0, ()):
        raise _fail(f"void redeemer: expected Constr 0 [], found {data!r:.80}")


@dataclass(frozen=True)
class V1Step:
    """One entry of v1's withdraw-zero redeemer: which input, which outputs, what for."""

    input_index: int
    self_output_index: int
    fee_output_index: int | None
    change_index: int | None
    action: V1Action
    levvy_type: LevvyType


def _nat(value: Data, where: str) -> int:
    if type(value) is not int or value < 0:
        raise _fail(f"{where}: expected a non-negative integer, found {value!r:.60}")
    return value


def _option(value: Data, where: str) -> int | None:
    if isinstance(value, Constr) and value.index == 1 and not value.fields:
        return None
    if isinstance(value, Constr) and value.index == 0 and len(value.fields) == 1:
        return _nat(value.fields[0], where)
    raise _fail(f"{where}: expected Some (Constr 0 [n]) or None (Constr 1 [])")


def read_v1_withdraw_redeemer(cbor: bytes) -> list[V1Step]:
    data = _load(cbor, "v1 withdraw redeemer")
    if not isinstance(data, list):
        raise _fail("v1 withdraw redeemer: expected a list of actions")
    steps = []
    for i, item in enumerate(data):
        where = f"v1 withdraw redeemer[{i}]"
        if not (isinstance(item, Constr) and item.index == 0 and len(item.fields) == 3):
            raise _fail(f"{where}: expected Action (Constr 0, 3 fields)")
        indexes, action = item.fields[1], item.fields[2]
        if not (isinstance(indexes, Constr) and indexes.index == 0 and len(indexes.fields) == 3):
            raise _fail(f"{where}.outputIndexes: expected Constr 0 with 3 fields")
        if not (isinstance(action, Constr) and action.index < len(V1_ACTIONS)
                and len(action.fields) == 1):
            raise _fail(f"{where}.actionType: expected Constr 0..3 with one field")
        kind = action.fields[0]
        if not (isinstance(kind, Constr) and kind.index in (0, 1) and not kind.fields):
            raise _fail(f"{where}.actionType.type: expected Tokens (0) or Nfts (1)")
        steps.append(V1Step(
            input_index=_nat(item.fields[0], f"{where}.inputIndex"),
            self_output_index=_nat(indexes.fields[0], f"{where}.selfOutputIndex"),
            fee_output_index=_option(indexes.fields[1], f"{where}.feeOutputIndex"),
            change_index=_option(indexes.fields[2], f"{where}.changeIndex"),
            action=V1_ACTIONS[action.index],
            levvy_type="tokens" if kind.index == 0 else "nfts",
        ))
    return steps
