"""Sign in with a Cardano wallet (CIP-30 `signData`, CIP-8 messages): the app hands out
a one-time challenge for an address; the wallet signs its text; the app verifies the
COSE_Sign1 signature server side — by the key of that address, over exactly that text,
unexpired, once — and answers a session token good for SESSION_SECONDS (used as
`Authorization: Bearer <token>`, like an API key). The user is the wallet's address."""
from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any

from flask_smorest import Blueprint, abort

from app.schemas import ChallengeAskSchema, ChallengeSchema, SessionSchema, SignedSchema
from app.services import services
from core.api_keys import new_session_token
from core.settings import parse_address
from core.errors import ConfigError
from store import sessions
from store.mongo import database

log = logging.getLogger(__name__)

blp = Blueprint("sign-in", __name__, url_prefix="/auth",
                description="Sign in with a CIP-30 wallet")

CHALLENGE_SECONDS = 300
SESSION_SECONDS = 900


def _now_ms() -> int:
    return int(time.time() * 1000)


def _bech32(address: str) -> str:
    """CIP-30 wallets hand their addresses as hex bytes: the bech32 form of one, else as is."""
    if re.fullmatch(r"(?:[0-9a-fA-F]{2}){29,57}", address):
        from pycardano import Address

        try:
            return str(Address.from_primitive(bytes.fromhex(address)))
        except Exception:
            return address
    return address


@blp.route("/challenge", methods=["POST"])
@blp.arguments(ChallengeAskSchema)
@blp.response(200, ChallengeSchema)
def challenge(body: dict[str, Any]) -> dict[str, Any]:
    """A one-time text for the wallet of `address` to sign (CIP-30 signData)."""
    try:
        address = parse_address("address", _bech32(body["address"]))
    except ConfigError as error:
        abort(422, errors={"json": {"address": [str(error)]}})
    nonce = secrets.token_hex(16)
    expires = _now_ms() + CHALLENGE_SECONDS * 1000
    text = (f"DH-Leverage sign-in\naddress: {address}\nnonce: {nonce}\n"
            f"expires (ms): {expires}")
    db = database(services().settings)
    sessions.forget_expired(db, _now_ms())
    sessions.add_challenge(db, nonce, address, text, expires)
    return {"nonce": nonce, "challenge": text, "expires_ms": expires}


@blp.route("/token", methods=["POST"])
@blp.arguments(SignedSchema)
@blp.response(200, SessionSchema)
def token(body: dict[str, Any]) -> dict[str, Any]:
    """The wallet's signature of a challenge: verified, then a session token."""
    db = database(services().settings)
    found = sessions.take_challenge(db, body["nonce"])  # once, whatever happens next
    if found is None or int(found["expires_ms"]) < _now_ms():
        abort(401, message="no such challenge, or it expired or was used: ask another")
    signer = verified_signer(body["signature"], body.get("key"), str(found["text"]))
    if signer is None or signer != found["address"]:
        abort(401, message="the signature is not the challenge's address's over its text")
    kept, handed = new_session_token()
    expires = _now_ms() + SESSION_SECONDS * 1000
    sessions.add_session(db, kept, signer, expires)
    return {"token": handed, "user": signer, "expires_ms": expires}


def verified_signer(signature_hex: str, key_hex: str | None, text: str) -> str | None:
    """The bech32 address whose key signed exactly `text` (COSE_Sign1 of CIP-8), or None."""
    from pycardano.cip.cip8 import verify

    signature = signature_hex[2:] if signature_hex.lower().startswith("d2") else signature_hex
    try:
        checked = verify({"signature": signature, "key": key_hex} if key_hex else signature)
    except Exception as error:  # a malformed COSE message, a bad key: not signed by anyone
        log.info("sign-in: signature not readable (%s)", type(error).__name__)
        return None
    if not checked.get("verified") or checked.get("message") != text:
        return None
    return str(checked["signing_address"])
