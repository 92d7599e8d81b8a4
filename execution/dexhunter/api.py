"""The DexHunter partner API client: token info, estimate, reverse estimate, build, sign,
orders by address, cancel (dexhunter.md "Endpoints"; the current widget paths, not the
legacy Swagger's `/swap/swap`).

- Amounts in and out are base units; the display-unit wire form is made and read by
  amounts.py only, with decimals from `GET /swap/token/{id}` (cached; ADA's are the ledger's).
- The partner id (a Secret) is revealed only by the requests auth hook that sets the
  `X-Partner-Id` header on each request, on every call (the safe choice: the widget omits
  it on some calls, Yoroi sends it on all). Errors and logs name the path, never headers.
- Retries: estimate, reverse estimate and build are safe to repeat (a build signs nothing)
  and are retried on transient failures (timeouts, 429/5xx, `pool_out_of_sync`); after
  `pool_out_of_sync` the slippage widens one step (slippage.py), up to its cap. Sign and
  cancel are sent once. Refusals (`not_enough_liquidity`, …) are never retried.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any, Callable, Iterable, Sequence, TypeVar

import requests

from core.secrets import Secret
from core.settings import Settings
from core.units import ADA_TOKEN, Asset, Token
from execution.dexhunter import answers
from execution.dexhunter.amounts import wire_amount, wire_number
from execution.dexhunter.answers import (BuiltSwap, Cancel, Order, Quote, ReverseQuote,
                                         Signed)
from execution.dexhunter.slippage import Widening, check_slippage, widened
from execution.errors import DEXHUNTER, PoolOutOfSync
from protocols.errors import VenueUnavailable
from protocols.http import HttpPolicy, JsonHttpClient

log = logging.getLogger(__name__)

T = TypeVar("T")

PARTNER_HEADER = "X-Partner-Id"
#: Timeout as DexHunter's widget uses; at most 4 requests a second (no published limit; the
#: widget polls its endpoints every 5 s).
DEFAULT_POLICY = HttpPolicy(timeout_s=10.0, attempts=3, backoff_s=0.5, min_interval_s=0.25)


class PartnerAuth(requests.auth.AuthBase):
    """Sets the partner header on each outgoing request: the one place the id is revealed."""

    def __init__(self, partner_id: Secret) -> None:
        self._partner_id = partner_id

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._partner_id:
            request.headers[PARTNER_HEADER] = self._partner_id.reveal()
        return request

    def __repr__(self) -> str:
        return "PartnerAuth(***)"


class PartnerSession(requests.Session):
    """A session that drops the partner header when a redirect leads to another host
    (requests strips only `Authorization` by itself)."""

    def rebuild_auth(self, prepared_request: requests.PreparedRequest,
                     response: requests.Response) -> None:
        original = response.request.url
        if original is not None and prepared_request.url is not None \
                and self.should_strip_auth(original, prepared_request.url):
            prepared_request.headers.pop(PARTNER_HEADER, None)
        super().rebuild_auth(prepared_request, response)


class DexHunterApi:
    def __init__(self, base_url: str, partner_id: Secret, *, policy: HttpPolicy | None = None,
                 widening: Widening | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.policy = policy or DEFAULT_POLICY
        self.widening = widening or Widening()
        self._sleep = sleep
        session = PartnerSession()
        session.auth = PartnerAuth(partner_id)
        # One try per call inside the HTTP client: retries (and widening) happen here.
        single = HttpPolicy(timeout_s=self.policy.timeout_s, attempts=1,
                            backoff_s=self.policy.backoff_s,
                            min_interval_s=self.policy.min_interval_s,
                            max_body_bytes=self.policy.max_body_bytes)
        self.http = JsonHttpClient(DEXHUNTER, base_url, single, session=session,
                                   classify=answers.classify)
        self._tokens: dict[Asset, Token] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> "DexHunterApi":
        kwargs.setdefault("policy", replace(
            DEFAULT_POLICY, min_interval_s=settings.dexhunter_min_interval_ms / 1000))
        return cls(settings.dexhunter_api_url, settings.dexhunter_partner_id, **kwargs)

    def __repr__(self) -> str:
        return f"DexHunterApi({self.http.base_url!r})"

    # -- tokens -----------------------------------------------------------------------------
    def token(self, asset: Asset) -> Token:
        """The token with its decimals as DexHunter reports them (cached: they never change)."""
        if asset.is_ada:
            return ADA_TOKEN
        with self._lock:
            known = self._tokens.get(asset)
        if known is not None:
            return known
        token_id = answers.wire_token(asset)
        answer = self._retrying(lambda: self.http.get(f"swap/token/{token_id}"), "token")
        token = answers.parse_token(answer, asset)
        with self._lock:
            self._tokens[asset] = token
        return token

    # -- quotes and builds (safe: retried, slippage widened after pool_out_of_sync) --------
    def estimate(self, sell: Asset, buy: Asset, amount_in: int, slippage_pct: Decimal, *,
                 blacklisted_dexes: Sequence[str] = ()) -> Quote:
        sold, bought = self.token(sell), self.token(buy)

        def send(slippage: Decimal) -> Quote:
            body = self._swap_body(sold, bought, slippage, blacklisted_dexes)
            body["amount_in"] = wire_amount(amount_in, sold)
            answer = self.http.post("swap/estimate", body, safe=True)
            return answers.parse_quote(answer, sold, bought, amount_in, slippage)

        return self._widening(send, slippage_pct, "estimate")

    def reverse_estimate(self, sell: Asset, buy: Asset, amount_out: int,
                         slippage_pct: Decimal, *,
                         blacklisted_dexes: Sequence[str] = ()) -> ReverseQuote:
        """What must be sold to receive `amount_out` (base units of `buy`)."""
        sold, bought = self.token(sell), self.token(buy)

        def send(slippage: Decimal) -> ReverseQuote:
            body = self._swap_body(sold, bought, slippage, blacklisted_dexes)
            body["amount_out"] = wire_amount(amount_out, bought)
            answer = self.http.post("swap/reverseEstimate", body, safe=True)
            return answers.parse_reverse_quote(answer, sold, bought, amount_out, slippage)

        return self._widening(send, slippage_pct, "reverse estimate")

    def build(self, address: str, sell: Asset, buy: Asset, amount_in: int,
              slippage_pct: Decimal, *, blacklisted_dexes: Sequence[str] = (),
              inputs: Iterable[bytes] = ()) -> BuiltSwap:
        """An unsigned swap transaction. Building is safe to repeat: nothing is signed."""
        sold, bought = self.token(sell), self.token(buy)
        utxos = [bytes(i).hex() for i in inputs]

        def send(slippage: Decimal) -> BuiltSwap:
            body = self._swap_body(sold, bought, slippage, blacklisted_dexes)
            body.update(buyer_address=address, amount_in=wire_amount(amount_in, sold))
            if utxos:
                body["inputs"] = utxos
            answer = self.http.post("swap/build", body, safe=True)
            return answers.parse_build(answer, sold, bought, amount_in, slippage)

        return self._widening(send, slippage_pct, "build")

    # -- sent once ----------------------------------------------------------------------------
    def sign(self, tx_cbor: bytes, witness_set: bytes) -> Signed:
        """DexHunter merges our witness set (CBOR) into the transaction; it does not submit."""
        answer = self.http.post("swap/sign", {"txCbor": tx_cbor.hex(),
                                              "signatures": witness_set.hex()}, safe=False)
        return answers.parse_signed(answer)

    def cancel(self, address: str, order_id: str) -> Cancel:
        answer = self.http.post("swap/cancel", {"address": address, "order_id": order_id},
                                safe=False)
        return answers.parse_cancel(answer)

    # -- reads --------------------------------------------------------------------------------
    def orders(self, address: str) -> list[Order]:
        answer = self._retrying(lambda: self.http.get(f"swap/orders/{address}"), "orders")
        tokens = {asset: self.token(asset) for asset in answers.order_assets(answer)}
        return answers.parse_orders(answer, tokens)

    # -- internals ----------------------------------------------------------------------------
    def _swap_body(self, sold: Token, bought: Token, slippage: Decimal,
                   blacklisted_dexes: Sequence[str]) -> dict[str, Any]:
        body: dict[str, Any] = {"token_in": answers.wire_token(sold.asset),
                                "token_out": answers.wire_token(bought.asset),
                                "slippage": wire_number(slippage)}
        if blacklisted_dexes:
            body["blacklisted_dexes"] = list(blacklisted_dexes)
        return body

    def _widening(self, send: Callable[[Decimal], T], slippage_pct: Decimal, what: str) -> T:
        check_slippage(slippage_pct, self.widening.cap_pct)
        return self._retry(lambda widen: send(widened(slippage_pct, widen, self.widening)),
                           what)

    def _retrying(self, call: Callable[[], T], what: str) -> T:
        return self._retry(lambda _widen: call(), what)

    def _retry(self, call: Callable[[int], T], what: str) -> T:
        """`call(widen)` until it succeeds or a try fails for good: transient failures are
        retried with backoff, and `widen` (the slippage step) grows after each
        `pool_out_of_sync`, and only then."""
        widen = 0
        delay = self.policy.backoff_s
        for attempt in range(1, self.policy.attempts + 1):
            try:
                return call(widen)
            except VenueUnavailable as error:
                if attempt == self.policy.attempts:
                    raise
                if isinstance(error, PoolOutOfSync):
                    widen += 1
                log.warning("dexhunter %s: %s (attempt %d of %d; retrying in %.2fs)", what,
                            error, attempt, self.policy.attempts, delay)
                self._sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")
