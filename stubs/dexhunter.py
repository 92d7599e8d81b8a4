"""A loopback stub of DexHunter's partner API, answering from the bodies recorded in
FIXTURES_DIR/dexhunter (see its SOURCES.md: LIVE captures, Yoroi's mocks).

What is recorded and what is synthesised:
- `POST /swap/estimate`: the LIVE bodies, chosen by pair (ADA→USDCx, USDCx→ADA,
  USDCx→SNEK) and by `blacklisted_dexes` (a recording whose route uses a blacklisted DEX is
  not served). The recorded request's amount gets the recorded body byte for byte; another
  amount gets it *scaled* (synthesised): amounts in and out times the ratio, rounded down to
  the token's decimals; fees, deposits and prices as recorded.
- `POST /swap/reverseEstimate`: the Yoroi mock for its own request (ADA→DRIP, 38);
  otherwise synthesised from the pair's forward recording, scaled so that the expected
  output is the wanted amount, with `total_input` the scaled input (rounded up).
- `POST /swap/build`: the LIVE build (20 ADA→USDCx for its recorded buyer address), whose
  `cbor` is a real unsigned Conway transaction. Any other build is refused with the bare
  string "stub_no_recorded_build": the stub cannot make a transaction it never saw.
- `POST /swap/sign`: synthesised, as the real server behaves: the given witness set
  replaces the transaction's (empty) one; body and auxiliary data are kept byte for byte.
- `POST /swap/cancel`: the Yoroi mock (`cbor` "DEADBEEF", not a transaction) for an order
  `_id` of that address in the recorded orders; otherwise "order_not_found" (synthesised).
- `GET /swap/orders/{address}`: the Yoroi mock orders of that address (others: `[]`).
- `GET /swap/token/{id}`: the LIVE USDCx body; for SNEK, DRIP and WMT (named by the other
  recordings) a body in the same shape with decimals from SYNTHETIC_DECIMALS; otherwise
  404 "token_not_found".
- Errors are bare JSON strings with HTTP 400 (the real statuses are not documented):
  `amount_in` or `amount_out` above LIQUIDITY_FACTOR × the recorded amount gives
  "not_enough_liquidity"; zero, negative or missing gives "input_too_small"; an unknown pair
  "no_valid_pools_for_trade".
- `GET /_stub/calls` answers how many requests each path received (`{"calls": {...}}`),
  so tests of later steps can count builds in a stub run as a separate process.

`make_handler(fixtures_dir)` is what `python -m stubs dexhunter` serves.
"""
from __future__ import annotations

import io
import json
import threading
from collections import Counter
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from pathlib import Path
from typing import Any

import cbor2

from stubs.server import Handler, Reply, Request

ADA_IDS = ("", "ada", "lovelace", "0" * 56 + "6c6f76656c616365")
USDCX = "1f3aec8bfe7ea4fe14c5f121e2a92e301afe414147860d557cac7e345553444378"
#: Decimals of the tokens the recordings name without a recorded token body. SYNTHETIC
#: (stub data, not a recording); SNEK's 0 and WMT's 6 are the tokens' public facts.
SYNTHETIC_DECIMALS = {
    "279c909f348e533da5808898f87f9a14bb2c3dfbbacccd631d927a3f534e454b": (0, "SNEK"),
    "af2e27f580f7f08e93190a81f72462f153026d06450924726645891b44524950": (6, "DRIP"),
    "1d7f33bd23d85e1a25d87d86fac4f199c3197a2f7afeb662a0f34e1e776f726c646d6f62696c65746f6b656e":
        (6, "WMT"),
}
#: Above this multiple of a recording's amount the stub says "not_enough_liquidity".
LIQUIDITY_FACTOR = 50
ESTIMATES = ("swap-estimate", "swap-estimate-blacklist", "swap-estimate-token-to-ada",
             "swap-estimate-token-to-token")
#: Amount fields of a quote body: in units of the sold token, and of the bought one.
IN_FIELDS = ("amount_in", "total_input", "total_input_without_slippage")
OUT_FIELDS = ("expected_output", "expected_output_without_slippage", "total_output",
              "total_output_without_slippage")


def _token_key(value: Any) -> str:
    text = str(value if value is not None else "").strip().lower()
    return "" if text in ADA_IDS else text


def _error(code: str, status: int = 400) -> Reply:
    return Reply(status, code)  # a bare JSON string, as DexHunter answers


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return Decimal(repr(value))


class Recording:
    def __init__(self, request: dict[str, Any], response: dict[str, Any], raw: bytes) -> None:
        self.request = request
        self.response = response
        self.raw = raw
        self.pair = (_token_key(request.get("token_in")), _token_key(request.get("token_out")))
        self.dexes = {s.get("dex") for s in response.get("splits", [])}


class DexHunterStub:
    def __init__(self, fixtures_dir: Path) -> None:
        folder = Path(fixtures_dir) / "dexhunter"
        self.estimates = [self._recording(folder, name) for name in ESTIMATES]
        self.reverse = self._recording(folder, "swap-reverse-estimate")
        self.build = self._recording(folder, "swap-build")
        self.token_raw = (folder / "token-info.response.json").read_bytes()
        self.token_body = json.loads(self.token_raw)
        self.orders = json.loads((folder / "swap-orders.response.json").read_bytes())
        self.cancel_raw = (folder / "swap-cancel.response.json").read_bytes()
        self.decimals = {USDCX: int(self.token_body["token_decimals"]), "": 6}
        self.decimals.update({k: d for k, (d, _) in SYNTHETIC_DECIMALS.items()})
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    @staticmethod
    def _recording(folder: Path, name: str) -> Recording:
        request = json.loads((folder / f"{name}.request.json").read_bytes())
        raw = (folder / f"{name}.response.json").read_bytes()
        return Recording(request, json.loads(raw), raw)

    def count(self, path: str) -> int:
        with self._lock:
            return self.calls[path]

    # -- routing ------------------------------------------------------------------------------
    def __call__(self, request: Request) -> Reply:
        path = request.path.rstrip("/")
        if path == "/_stub/calls":
            with self._lock:
                return Reply(200, {"calls": dict(self.calls)})
        with self._lock:
            self.calls[path] += 1
        body = request.body if isinstance(request.body, dict) else {}
        if request.method == "GET" and path.startswith("/swap/token/"):
            return self._token(path.rsplit("/", 1)[1])
        if request.method == "GET" and path.startswith("/swap/orders/"):
            address = path.rsplit("/", 1)[1]
            return Reply(200, [o for o in self.orders if o.get("user_address") == address])
        if request.method != "POST":
            return _error("not_found", 404)
        if path == "/swap/estimate":
            return self._estimate(body)
        if path == "/swap/reverseEstimate":
            return self._reverse(body)
        if path == "/swap/build":
            return self._build(body)
        if path == "/swap/sign":
            return self._sign(body)
        if path == "/swap/cancel":
            return self._cancel(body)
        return _error("not_found", 404)

    # -- endpoints ----------------------------------------------------------------------------
    def _token(self, token_id: str) -> Reply:
        key = _token_key(token_id)
        if key == USDCX:
            return Reply(200, raw=self.token_raw)
        if key in SYNTHETIC_DECIMALS:
            decimals, ticker = SYNTHETIC_DECIMALS[key]
            return Reply(200, {**self.token_body, "token_id": key, "token_decimals": decimals,
                               "token_policy": key[:56], "token_ascii": ticker,
                               "ticker": ticker, "links": None})
        return _error("token_not_found", 404)

    def _choose(self, body: dict[str, Any]) -> Recording | Reply:
        pair = (_token_key(body.get("token_in")), _token_key(body.get("token_out")))
        banned = set(body.get("blacklisted_dexes") or [])
        candidates = [r for r in self.estimates if r.pair == pair and not r.dexes & banned]
        if not candidates:
            return _error("no_valid_pools_for_trade")
        wanted = _decimal(body.get("amount_in"))
        for recording in candidates:
            if _decimal(recording.request.get("amount_in")) == wanted:
                return recording
        return candidates[0]

    def _amount(self, body: dict[str, Any], key: str, recorded: Any) -> Decimal | Reply:
        amount = _decimal(body.get(key))
        if amount is None or amount <= 0:
            return _error("input_too_small")
        if amount > LIQUIDITY_FACTOR * Decimal(repr(recorded)):
            return _error("not_enough_liquidity")
        return amount

    def _estimate(self, body: dict[str, Any]) -> Reply:
        chosen = self._choose(body)
        if isinstance(chosen, Reply):
            return chosen
        recorded = chosen.request["amount_in"]
        amount = self._amount(body, "amount_in", recorded)
        if isinstance(amount, Reply):
            return amount
        if amount == Decimal(repr(recorded)):
            return Reply(200, raw=chosen.raw)
        return Reply(200, self._scaled(chosen, amount / Decimal(repr(recorded))))

    def _reverse(self, body: dict[str, Any]) -> Reply:
        mock = self.reverse
        pair = (_token_key(body.get("token_in")), _token_key(body.get("token_out")))
        if pair == mock.pair:
            recorded = mock.request["amount_out"]
            amount = self._amount(body, "amount_out", recorded)
            if isinstance(amount, Reply):
                return amount
            if amount == Decimal(repr(recorded)):
                return Reply(200, raw=mock.raw)
            ratio = amount / Decimal(repr(recorded))
            return Reply(200, self._scaled(mock, ratio))
        chosen = self._choose({**body, "amount_in": None})
        if isinstance(chosen, Reply):
            return chosen
        expected = chosen.response["total_output_without_slippage"]
        amount = self._amount(body, "amount_out", expected)
        if isinstance(amount, Reply):
            return amount
        answer = self._scaled(chosen, amount / Decimal(repr(expected)))
        answer["total_input"] = answer["total_input_without_slippage"] = sum(
            s["amount_in"] for s in answer["splits"])
        return Reply(200, answer)

    def _build(self, body: dict[str, Any]) -> Reply:
        chosen = self._choose(body)
        if isinstance(chosen, Reply):
            return chosen
        amount = self._amount(body, "amount_in", chosen.request["amount_in"])
        if isinstance(amount, Reply):
            return amount
        recorded = self.build.request
        same = (_token_key(body.get("token_in")), _token_key(body.get("token_out"))) \
            == self.build.pair and amount == Decimal(repr(recorded["amount_in"])) \
            and body.get("buyer_address") == recorded["buyer_address"]
        if not same:
            return _error("stub_no_recorded_build")
        return Reply(200, raw=self.build.raw)

    def _sign(self, body: dict[str, Any]) -> Reply:
        witnesses = body.get("signatures", body.get("Signatures"))
        try:
            tx = bytes.fromhex(str(body.get("txCbor")))
            witness_set = bytes.fromhex(str(witnesses))
            return Reply(200, {"cbor": merge_witnesses(tx, witness_set).hex(), "strat_id": ""})
        except (ValueError, cbor2.CBORDecodeError):
            return _error("invalid_transaction")

    def _cancel(self, body: dict[str, Any]) -> Reply:
        for order in self.orders:
            if order.get("_id") == body.get("order_id") \
                    and order.get("user_address") == body.get("address"):
                return Reply(200, raw=self.cancel_raw)
        return _error("order_not_found")

    # -- synthesis ----------------------------------------------------------------------------
    def _scaled(self, recording: Recording, ratio: Decimal) -> dict[str, Any]:
        sell, buy = recording.pair

        def scale(item: dict[str, Any]) -> dict[str, Any]:
            out = dict(item)
            for keys, token, rounding in ((IN_FIELDS, sell, ROUND_UP),
                                          (OUT_FIELDS, buy, ROUND_DOWN)):
                places = Decimal(1).scaleb(-self.decimals.get(token, 6))
                for key in keys:
                    value = _decimal(item.get(key))
                    if value is not None and value > 0:
                        out[key] = (value * ratio).quantize(places, rounding=rounding)
            return out

        answer = scale(recording.response)
        answer["splits"] = [scale(s) for s in recording.response.get("splits", [])]
        return answer


def merge_witnesses(tx: bytes, witness_set: bytes) -> bytes:
    """`tx` ([body, witnesses, valid, auxiliary data]) with its witness set replaced by
    `witness_set`, every other byte kept (the body hash must not change)."""
    if not tx or tx[0] != 0x84:
        raise ValueError("not a transaction: a 4-element array expected")
    if not isinstance(cbor2.loads(witness_set), dict):
        raise ValueError("the witness set is not a CBOR map")
    stream = io.BytesIO(tx)
    stream.read(1)
    decoder = cbor2.CBORDecoder(stream)
    decoder.decode()  # the body
    start = stream.tell()
    decoder.decode()  # the old witness set
    end = stream.tell()
    return tx[:start] + witness_set + tx[end:]


def make_handler(fixtures_dir: Path) -> Handler:
    return DexHunterStub(fixtures_dir)
