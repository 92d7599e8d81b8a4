"""Wallet-signed live positions (docs/live.md): the unsigned transaction of a pending
leg for the trader's CIP-30 wallet, and the witness set it answers with.

The witness set is merged without re-encoding the body (the tx id unchanged) and must
hold valid signatures of it by every required signer, or nothing is kept
(tasks/live_legs.py). Only the position's user (its owning wallet, for a wallet-signed
one) may ask: `Authorization: Bearer <API key>` (app/auth.py); another's is 404.
"""
from __future__ import annotations

import logging
from typing import Any

from flask_smorest import Blueprint, abort

from app.auth import user_required
from app.ownership import desk, own
from app.schemas import UnsignedLegsSchema, WitnessSetSchema, WitnessTakenSchema
from app.services import enqueue_advance, services
from store.mongo import database

log = logging.getLogger(__name__)

blp = Blueprint("wallet-signing", __name__, url_prefix="/positions",
                description="Live positions signed by the trader's wallet")


def _position(position_id: str) -> dict[str, Any]:
    return own(desk(), position_id)


@blp.route("/<string:position_id>/unsigned")
@blp.response(200, UnsignedLegsSchema)
@user_required
def unsigned(position_id: str):  # type: ignore[no-untyped-def]
    """The position's built transactions waiting for the wallet's signature (CBOR hex,
    for CIP-30 `signTx(tx, partialSign=true)`)."""
    from tasks.live_legs import unsigned_legs

    doc = _position(position_id)
    return {"position": position_id, "legs": unsigned_legs(doc)}


@blp.route("/<string:position_id>/witnesses", methods=["POST"])
@blp.arguments(WitnessSetSchema)
@blp.response(200, WitnessTakenSchema)
@user_required
def witnesses(body: dict[str, Any], position_id: str):  # type: ignore[no-untyped-def]
    """The wallet's witness set for a pending leg: checked, kept, and the leg sent."""
    from tasks.live_legs import WitnessError, attach_witnesses
    _position(position_id)
    try:
        witness_set = bytes.fromhex(body["witness_set"])
    except ValueError:
        abort(422, errors={"json": {"witness_set": ["not hex"]}})
    settings = services().settings
    try:
        tx_id = attach_witnesses(database(settings), position_id, body["leg"], witness_set)
    except WitnessError as error:
        abort(422, errors={"json": {"witness_set": [str(error)]}})
    enqueue_advance(position_id)
    return {"position": position_id, "leg": body["leg"], "tx_id": tx_id}
