"""A loopback stub of DexHunter's partner API, answering from the bodies recorded in
FIXTURES_DIR/dexhunter (see its SOURCES.md: LIVE captures, Yoroi's mocks), and
synthesising quotes and CSWAP transactions for the tokens of its price table.

The price table (`DexHunterStub.prices`, ADA per whole token, Decimal):
- USDCx: the LIVE ADA→USDCx estimate's `initial_price` (3.742893584386031);
- SNEK, DRIP, WMT, DJED: SYNTHETIC_PRICES, made-up stub data (decimals: SYNTHETIC_DECIMALS);
- the SYNTHETIC Surf demo tokens of stubs/data/surf_demo.json (STRIKE 0.5, USDM 2.2):
  unit = policyId + assetName, decimals and `price` as that file gives them.

What is recorded and what is synthesised:
- `POST /swap/estimate`: the LIVE bodies, chosen by pair (ADA→USDCx, USDCx→ADA,
  USDCx→SNEK) and by `blacklisted_dexes` (a recording whose route uses a blacklisted DEX is
  not served). The recorded request's amount gets the recorded body byte for byte; another
  amount gets it *scaled* (synthesised): amounts in and out times the ratio, rounded down to
  the token's decimals; fees, deposits and prices as recorded.
  When no recording serves the request, ADA→T and T→ADA for every T of the price table are
  SYNTHESISED (unless CSWAP is blacklisted): the LIVE ADA→USDCx body (a buy) or USDCx→ADA
  body (a sell) with the tokens and amounts replaced, one CSWAP split copied from the
  ADA→USDCx recording (its batcher fee 0.69, deposits 2, pool fee 0.002 and price impact
  0.6528…%: the USDCx→ADA recording's are SHADOWBOOK's, not a CSWAP order's);
  `expected_output_without_slippage` = amount_in × (1/price for a buy, price for a sell) ×
  (1 − pool fee) × (1 − impact/100), and `total_output` = that × (1 − slippage/100), each
  rounded down to the bought token's decimals; partner and DexHunter fees the template's.
  Numbers are written exactly (Decimals through json_body, never a float).
- `POST /swap/reverseEstimate`: the Yoroi mock for its own request (ADA→DRIP, 38);
  otherwise synthesised from the pair's forward recording, scaled so that the expected
  output is the wanted amount, with `total_input` the scaled input (rounded up); without a
  recording, the synthesised quote of the input that gives the wanted amount (rounded up).
- `POST /swap/build`: the LIVE build (20 ADA→USDCx for its recorded buyer address) byte for
  byte. Any other build whose quote (as `/swap/estimate` would give it) is one CSWAP leg
  with ADA on one side gets a SYNTHESISED unsigned Conway transaction made from the LIVE
  one (stubs/dexhunter_tx.py: the order, its datum for the buyer with the quote's
  `total_output` as minimum, the fee output, the change; deterministic per request). Its
  validity window is the template's, slots 199_657_255 to 199_660_855: a pre-signing check
  must be given a `now_slot` inside it (the tests use 199_657_300). A quote routed
  elsewhere (USDCx→SNEK's MINSWAPV2, SHADOWBOOK, the blacklist recording) is refused with
  the bare string "stub_no_recorded_build"; an address pycardano cannot read with
  "invalid_address" (synthesised).
- `POST /swap/sign`: synthesised, as the real server behaves: the given witness set
  replaces the transaction's (empty) one; body and auxiliary data are kept byte for byte.
- `POST /swap/cancel`: the Yoroi mock (`cbor` "DEADBEEF", not a transaction) for an order
  `_id` of that address in the recorded orders; otherwise "order_not_found" (synthesised).
- `GET /swap/orders/{address}`: the Yoroi mock orders of that address (others: `[]`).
- `GET /swap/token/{id}`: the LIVE USDCx body; for the other tokens of the price table a
  body in the same shape with their decimals and ticker; otherwise 404 "token_not_found".
- Errors are bare JSON strings with HTTP 400 (the real statuses are not documented):
  `amount_in` or `amount_out` above LIQUIDITY_FACTOR × the recorded amount (synthesised
  quotes: an ADA value above LIQUIDITY_FACTOR × 20 ADA) gives "not_enough_liquidity"; zero,
  negative, missing, or an output that rounds to nothing gives "input_too_small"; an
  unknown pair "no_valid_pools_for_trade".
- `GET /_stub/calls` answers how many requests each path received (`{"calls": {...}}`),
  so tests of later steps can count builds in a stub run as a separate process;
  `POST /_stub/fail` and `POST /_stub/reset` (served by stubs/server.py) queue faults and
  clear faults and these counters.

`make_handler(fixtures_dir)` is what `python -m stubs dexhunter` serves.
"""
from __future__ import annotations

import io
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from pathlib import Path
from typing import Any, Callable

import cbor2

from chain.slots import ms_to_slot

from stubs.dexhunter_tx import NotEnoughFunds, Swap, build_tx
from stubs.server import Handler, Reply, Request

ADA_IDS = ("", "ada", "lovelace", "0" * 56 + "6c6f76656c616365")
USDCX = "1f3aec8bfe7ea4fe14c5f121e2a92e301afe414147860d557cac7e345553444378"
#: Decimals of the tokens the recordings name without a recorded token body. SYNTHETIC
#: (stub data, not a recording); SNEK's 0, WMT's 6 and DJED's 6 are the tokens' public facts.
SYNTHETIC_DECIMALS = {
    "279c909f348e533da5808898f87f9a14bb2c3dfbbacccd631d927a3f534e454b": (0, "SNEK"),
    "af2e27f580f7f08e93190a81f72462f153026d06450924726645891b44524950": (6, "DRIP"),
    "1d7f33bd23d85e1a25d87d86fac4f199c3197a2f7afeb662a0f34e1e776f726c646d6f62696c65746f6b656e":
        (6, "WMT"),
    "8db269c3ec630e06ae29f74bc39edd1f87c819f1056206e879a1cd61446a65644d6963726f555344": (6, "DJED"),
}
#: Prices in ADA of one whole token, for the quotes the stub synthesises. SYNTHETIC (stub
#: data, made up, roughly the order of magnitude of the public markets).
SYNTHETIC_PRICES = {
    "279c909f348e533da5808898f87f9a14bb2c3dfbbacccd631d927a3f534e454b": Decimal("0.0029"),
    "af2e27f580f7f08e93190a81f72462f153026d06450924726645891b44524950": Decimal("0.01"),
    "1d7f33bd23d85e1a25d87d86fac4f199c3197a2f7afeb662a0f34e1e776f726c646d6f62696c65746f6b656e":
        Decimal("0.25"),
    # DJED: near the ratio of the USD prices in the recorded Liqwid markets (0.9909 / 0.17418).
    "8db269c3ec630e06ae29f74bc39edd1f87c819f1056206e879a1cd61446a65644d6963726f555344": Decimal("5.69"),
}
#: The SYNTHETIC Surf demo tokens (policy, name, decimals, price in ADA) are read from here.
SURF_DEMO = Path(__file__).resolve().parent / "data" / "surf_demo.json"
#: Synthesised builds are valid from the wall clock's slot rounded down to this.
WINDOW_BUCKET_SLOTS = 600
#: Above this multiple of a recording's amount the stub says "not_enough_liquidity" (for a
#: synthesised quote: of the ADA→USDCx recording's 20 ADA, in ADA value).
LIQUIDITY_FACTOR = 50
#: The one route the stub synthesises (its order datum is the one it can write).
SYNTHETIC_DEX = "CSWAP"
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


@dataclass(frozen=True)
class Priced:
    """A token of the stub price table: decimals and the price of one token in ADA."""

    decimals: int
    price: Decimal
    ticker: str


def surf_demo_tokens(path: Path = SURF_DEMO) -> dict[str, Priced]:
    """The tokens of the SYNTHETIC Surf demo data (pool assets and collaterals), not ADA."""
    data = json.loads(path.read_bytes(), parse_float=Decimal)
    found: dict[str, Priced] = {}
    for pool in data["pools"]:
        api = pool["api"]
        for entry in [api, *api.get("collateralAssets", [])]:
            asset = entry["asset"]
            unit = (asset["policyId"] + asset["assetName"]).lower()
            if unit:
                found[unit] = Priced(int(asset["decimals"]), Decimal(entry["price"]),
                                     str(asset["ticker"]))
    return found


def _number(value: Any) -> Decimal:
    """A number of a body (int, Decimal, or a recording's float) as an exact Decimal."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _exact(value: Any) -> Any:
    """`value` with every float (as the recordings are read) turned into its Decimal, so
    that a synthesised body is written with exact numbers."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_exact(v) for v in value]
    return value


def _base(amount: Decimal, decimals: int) -> int:
    return int(amount.scaleb(decimals).to_integral_value(rounding=ROUND_DOWN))


class Recording:
    def __init__(self, request: dict[str, Any], response: dict[str, Any], raw: bytes) -> None:
        self.request = request
        self.response = response
        self.raw = raw
        self.pair = (_token_key(request.get("token_in")), _token_key(request.get("token_out")))
        self.dexes = {s.get("dex") for s in response.get("splits", [])}


class DexHunterStub:
    def __init__(self, fixtures_dir: Path, clock: Callable[[], float] = time.time,
                 utxos_of: Callable[[str], Any] | None = None) -> None:
        """`utxos_of(address)`: the buyer's UTxOs on a chain the stub reads (the sandbox's,
        stubs/sandbox_utxos.py); builds then spend them. None (paper): a fake input."""
        self.clock = clock
        self.utxos_of = utxos_of
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
        self.prices = self._price_table()
        self.decimals.update({k: p.decimals for k, p in self.prices.items()})
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    @staticmethod
    def _recording(folder: Path, name: str) -> Recording:
        request = json.loads((folder / f"{name}.request.json").read_bytes())
        raw = (folder / f"{name}.response.json").read_bytes()
        return Recording(request, json.loads(raw), raw)

    def _price_table(self) -> dict[str, Priced]:
        """USDCx at the ADA→USDCx recording's initial price, SNEK/DRIP/WMT at their
        SYNTHETIC prices, the Surf demo tokens at theirs."""
        split = self.estimates[0].response["splits"][0]
        table = {USDCX: Priced(self.decimals[USDCX], _decimal(split["initial_price"])
                               or Decimal(0), str(self.token_body.get("ticker", "USDCx")))}
        table.update({k: Priced(SYNTHETIC_DECIMALS[k][0], p, SYNTHETIC_DECIMALS[k][1])
                      for k, p in SYNTHETIC_PRICES.items()})
        table.update(surf_demo_tokens())
        return table

    def reset(self) -> None:
        """Forget the calls counted (`POST /_stub/reset`)."""
        with self._lock:
            self.calls.clear()

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
            return self._quote(body)
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
        if key in self.prices:
            decimals, ticker = self.prices[key].decimals, self.prices[key].ticker
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

    def _recorded_estimate(self, body: dict[str, Any]) -> Recording | None:
        """The recording that answers this estimate, if one does (pair and blacklist)."""
        chosen = self._choose(body)
        return None if isinstance(chosen, Reply) else chosen

    def _quote(self, body: dict[str, Any]) -> Reply:
        """What `/swap/estimate` answers: a recording (as recorded, or scaled), else a
        quote synthesised from the price table, else no route."""
        chosen = self._recorded_estimate(body)
        if chosen is None:
            return self._synthetic(body, _decimal(body.get("amount_in")))
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
        chosen = self._recorded_estimate({**body, "amount_in": None})
        if chosen is None:
            return self._synthetic_reverse(body)
        expected = chosen.response["total_output_without_slippage"]
        amount = self._amount(body, "amount_out", expected)
        if isinstance(amount, Reply):
            return amount
        answer = self._scaled(chosen, amount / Decimal(repr(expected)))
        answer["total_input"] = answer["total_input_without_slippage"] = sum(
            s["amount_in"] for s in answer["splits"])
        return Reply(200, answer)

    def _build(self, body: dict[str, Any]) -> Reply:
        quote = self._quote(body)
        if quote.status != 200:
            return quote
        recorded = self.build.request
        same = (_token_key(body.get("token_in")), _token_key(body.get("token_out"))) \
            == self.build.pair and _decimal(body.get("amount_in")) \
            == Decimal(repr(recorded["amount_in"])) \
            and body.get("buyer_address") == recorded["buyer_address"]
        if same and quote.raw == self.estimates[0].raw:
            return Reply(200, raw=self.build.raw)
        answer = quote.body if quote.raw is None else json.loads(quote.raw,
                                                                 parse_float=Decimal)
        swap = self._swap(body, answer)
        if isinstance(swap, Reply):
            return swap
        if self.utxos_of is not None:
            try:
                swap = replace(swap, utxos=self.utxos_of(swap.buyer))
            except OSError:
                return _error("stub_chain_unreachable", 503)
        try:
            cbor = build_tx(bytes.fromhex(self.build.response["cbor"]), swap)
        except NotEnoughFunds:
            return _error("stub_not_enough_funds")
        except (ValueError, TypeError):
            return _error("invalid_address")
        return Reply(200, {**_exact(answer), "cbor": cbor.hex()})

    def _swap(self, body: dict[str, Any], quote: dict[str, Any]) -> Swap | Reply:
        """The order a quote asks for, if the stub can write it: one CSWAP leg, ADA on
        one side (else the bare "stub_no_recorded_build": no transaction to give)."""
        sell, buy = _token_key(body.get("token_in")), _token_key(body.get("token_out"))
        dexes = {s.get("dex") for s in quote.get("splits", [])}
        if dexes != {SYNTHETIC_DEX} or (sell == "") == (buy == ""):
            return _error("stub_no_recorded_build")
        buyer = body.get("buyer_address")
        if not isinstance(buyer, str) or not buyer:
            return _error("invalid_address")
        amount = _decimal(body.get("amount_in")) or Decimal(0)
        valid_from = self._window_start(buyer)
        key = json_key(sell, buy, amount, _decimal(body.get("slippage")), buyer) \
            + valid_from.to_bytes(8, "big")
        return Swap(
            buyer=buyer, sell=sell, buy=buy,
            amount_in=_base(amount, self.decimals.get(sell, 6)),
            min_out=_base(_number(quote["total_output"]), self.decimals.get(buy, 6)),
            batcher_fee=_base(_number(quote.get("batcher_fee", 0)), 6),
            deposits=_base(_number(quote.get("deposits", 0)), 6),
            platform_fee=_base(_number(quote.get("partner_fee", 0))
                               + _number(quote.get("dexhunter_fee", 0)), 6),
            request_key=key, valid_from=valid_from)

    def _window_start(self, buyer: str) -> int:
        """The validity window's first slot: now on the buyer's network (mainnet for a
        mainnet address, else preprod), rounded down to WINDOW_BUCKET_SLOTS so a request
        repeated soon after gets the same transaction."""
        network = "mainnet" if buyer.startswith("addr1") else "preprod"
        slot = ms_to_slot(network, int(self.clock() * 1000))
        return slot - slot % WINDOW_BUCKET_SLOTS

    # -- synthesised quotes (the price table) --------------------------------------------------
    def _synthetic_pair(self, body: dict[str, Any]) -> tuple[str, str, Priced] | Reply:
        sell, buy = _token_key(body.get("token_in")), _token_key(body.get("token_out"))
        token = buy if sell == "" else sell if buy == "" else None
        banned = set(body.get("blacklisted_dexes") or [])
        if token is None or token not in self.prices or SYNTHETIC_DEX in banned:
            return _error("no_valid_pools_for_trade")
        return sell, buy, self.prices[token]

    def _rate(self, sell: str, priced: Priced) -> Decimal:
        """Display units of the bought token per display unit sold, after the recorded
        CSWAP pool fee and price impact."""
        split = self.estimates[0].response["splits"][0]
        keep = (1 - Decimal(repr(split["pool_fee"]))) \
            * (1 - Decimal(repr(split["price_impact"])) / 100)
        return (1 / priced.price if sell == "" else priced.price) * keep

    def _synthetic(self, body: dict[str, Any], amount: Decimal | None) -> Reply:
        found = self._synthetic_pair(body)
        if isinstance(found, Reply):
            return found
        sell, buy, priced = found
        if amount is None or amount <= 0:
            return _error("input_too_small")
        value_ada = amount if sell == "" else amount * priced.price
        if value_ada > LIQUIDITY_FACTOR * Decimal(repr(self.estimates[0].request["amount_in"])):
            return _error("not_enough_liquidity")
        slippage = _decimal(body.get("slippage")) or Decimal(0)
        places = Decimal(1).scaleb(-self.decimals.get(buy, 6))
        expected = (amount * self._rate(sell, priced)).quantize(places, rounding=ROUND_DOWN)
        floor = (expected * (1 - slippage / 100)).quantize(places, rounding=ROUND_DOWN)
        if floor <= 0:
            return _error("input_too_small")
        return Reply(200, self._synthetic_body(sell, buy, priced, amount, expected, floor))

    def _synthetic_reverse(self, body: dict[str, Any]) -> Reply:
        found = self._synthetic_pair(body)
        if isinstance(found, Reply):
            return found
        sell, _, priced = found
        wanted = _decimal(body.get("amount_out"))
        if wanted is None or wanted <= 0:
            return _error("input_too_small")
        places = Decimal(1).scaleb(-self.decimals.get(sell, 6))
        amount = (wanted / self._rate(sell, priced)).quantize(places, rounding=ROUND_UP)
        reply = self._synthetic(body, amount)
        if reply.status == 200:
            reply.body["total_input"] = reply.body["total_input_without_slippage"] = amount
        return reply

    def _synthetic_body(self, sell: str, buy: str, priced: Priced, amount: Decimal,
                        expected: Decimal, floor: Decimal) -> dict[str, Any]:
        """The recorded ADA→USDCx body (a buy) or USDCx→ADA body (a sell) with the amounts
        replaced; the split is the recorded CSWAP one (its batcher fee, deposits, pool
        fee and impact), the partner and DexHunter fees the template's."""
        template = _exact(self.estimates[0 if sell == "" else 2].response)
        split = dict(_exact(self.estimates[0].response["splits"][0]))
        ada, tokens = (amount, expected) if sell == "" else (expected, amount)
        net = (ada / tokens).quantize(Decimal("1e-12")) if tokens else Decimal(0)
        impact = _number(split["price_impact"])
        split.update(
            amount_in=amount, expected_output=floor, expected_output_without_slippage=expected,
            dex=SYNTHETIC_DEX, initial_price=priced.price,
            final_price=(priced.price * (1 + impact / 100)).quantize(Decimal("1e-12")),
            pool_id=f"{ADA_IDS[3]}{sell or buy}{SYNTHETIC_DEX}53594e544845544943")
        answer = dict(template)
        answer.update(
            splits=[split], total_output=floor, total_output_without_slippage=expected,
            batcher_fee=split["batcher_fee"], total_fee=split["batcher_fee"],
            deposits=split["deposits"], net_price=net,
            net_price_reverse=(1 / net).quantize(Decimal("1e-12")) if net else Decimal(0))
        return answer

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


def json_key(sell: str, buy: str, amount: Decimal, slippage: Decimal | None,
               buyer: str) -> bytes:
    """The request fields a synthesised build is keyed by (its fake input's tx id)."""
    return json.dumps([sell, buy, str(amount), str(slippage), buyer]).encode()


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


def make_handler(fixtures_dir: Path, chain_utxos: str | None = None) -> Handler:
    """`chain_utxos`: the sandbox's UTxO endpoint (`dhl sandbox --http-port`): builds
    spend the buyer's UTxOs there (live mode against the sandbox)."""
    from stubs.sandbox_utxos import utxo_reader

    return DexHunterStub(fixtures_dir,
                         utxos_of=None if chain_utxos is None else utxo_reader(chain_utxos))
