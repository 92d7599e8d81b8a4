"""Sign in with a Cardano wallet (CIP-30 signData / CIP-8), verified server side: a key
signs the app's one-time challenge (pycardano's CIP-8 signer stands in for the wallet),
the app answers a session token, and the token reads that wallet's positions. A wrong
key, a changed text, a reused or unknown challenge: 401, no token."""
from __future__ import annotations

from typing import Any, Iterator

import pytest
from pycardano import Address, Network, PaymentSigningKey, PaymentVerificationKey
from pycardano.cip.cip8 import sign

from app import create_app
from store import alerts as alert_store
from tasks.alerts import Alert

pytestmark = pytest.mark.integration


@pytest.fixture
def client(settings, db, redis_client) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    app = create_app(settings)
    yield app.test_client()
    app.extensions["dhl"].close()


def wallet(seed: int) -> tuple[PaymentSigningKey, str]:
    key = PaymentSigningKey.from_primitive(bytes([seed]) * 32)
    address = Address(PaymentVerificationKey.from_signing_key(key).hash(),
                      network=Network.MAINNET)
    return key, str(address)


def signed(key: PaymentSigningKey, text: str) -> dict[str, str]:
    answer = sign(text, key, attach_cose_key=True, network=Network.MAINNET)
    assert isinstance(answer, dict)
    return {"signature": answer["signature"], "key": answer["key"]}


def test_a_wallet_signs_in_and_sees_its_own(client: Any, db: Any) -> None:
    key, address = wallet(7)
    alert_store.record(db, Alert("w-1", address, "health", "warning", "yours", 1).doc())
    alert_store.record(db, Alert("w-2", "someone", "health", "warning", "not yours", 1).doc())
    asked = client.post("/auth/challenge", json={"address": address})
    assert asked.status_code == 200, asked.get_json()
    challenge = asked.get_json()
    assert address in challenge["challenge"] and challenge["nonce"] in challenge["challenge"]
    answer = client.post("/auth/token", json={"nonce": challenge["nonce"],
                                              **signed(key, challenge["challenge"])})
    assert answer.status_code == 200, answer.get_json()
    session = answer.get_json()
    assert session["user"] == address and session["token"].startswith("dhs_")
    assert db["sessions"].find_one({"user": address})["_id"] != session["token"]  # hashed
    mine = client.get("/alerts", headers={"Authorization": f"Bearer {session['token']}"})
    assert [a["id"] for a in mine.get_json()["alerts"]] == ["w-1"]
    again = client.post("/auth/token", json={"nonce": challenge["nonce"],
                                             **signed(key, challenge["challenge"])})
    assert again.status_code == 401  # a challenge is used once


def test_what_is_not_the_addresss_signature_over_the_text_gets_no_token(client: Any) -> None:
    key, address = wallet(7)
    other_key, _ = wallet(9)

    def attempt(sign_with: PaymentSigningKey, text_of: Any) -> int:
        challenge = client.post("/auth/challenge", json={"address": address}).get_json()
        body = {"nonce": challenge["nonce"], **signed(sign_with, text_of(challenge))}
        return int(client.post("/auth/token", json=body).status_code)

    assert attempt(other_key, lambda c: c["challenge"]) == 401  # another wallet's key
    assert attempt(key, lambda c: c["challenge"] + " ") == 401  # another text
    assert attempt(key, lambda c: c["challenge"]) == 200
    unknown = client.post("/auth/token", json={"nonce": "0" * 32, **signed(key, "x")})
    assert unknown.status_code == 401
    fresh = client.post("/auth/challenge", json={"address": address}).get_json()
    garbage = client.post("/auth/token", json={"nonce": fresh["nonce"], "signature": "84a0"})
    assert garbage.status_code == 401 and "signature" in garbage.get_json()["message"]
    bad = client.post("/auth/challenge", json={"address": "addr1nonsense"})
    assert bad.status_code == 422 and "address" in bad.get_json()["errors"]["json"]
    assert client.get("/alerts", headers={"Authorization": "Bearer dhs_" + "0" * 64}) \
        .status_code == 401
