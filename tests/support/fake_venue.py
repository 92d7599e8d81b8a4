"""Two small lending venues for tests, registered through
VENUE_MODULES=tests.support.fake_venue_plugin:

- `fakelend`: markets from an HTTP API (FAKE_LEND_URL: a StubServer serving
  `GET /markets` -> {"markets": [market_to_dict(...)]} and `GET /loans`), and on chain the
  outputs holding the demo policy of the recorded preprod chunk ("pool") or Liqwid's
  MarketParams token of mainnet tx 1c280d01 ("market_params"). A pool record's lovelace
  is the FAKE-ADA market's available liquidity, as the chain says.
- `fakeoff`: experimental, off until configured (it never is), watches nothing.
"""
from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Mapping, Sequence

from chain.ledger import Tx, TxOut
from protocols.base import LeverageSource, VenueTokens
from protocols.demo import POLICY as DEMO_POLICY
from protocols.errors import DatumLayoutError, MalformedResponse, VenueUnavailable
from protocols.http import HttpPolicy, JsonHttpClient
from protocols.market_codec import MarketCodecError, market_from_dict, market_to_dict
from protocols.model import Market, Provenance, VenueEvent, VenueRecord
from protocols.registry import register, unregister
from stubs.server import Reply, Request, StubServer

LIQWID_PARAMS_POLICY = bytes.fromhex("24f51a8308b4e47b9d1438ec1e91da4ee063c38c704b530cba4adc5b")
POOL_MARKET = "FAKE-ADA"
#: A datum that starts with these bytes has a layout the fake does not know.
BAD_DATUM = b"BAD"


class FakeLend(LeverageSource):
    venue = "fakelend"

    def __init__(self, settings: Any) -> None:
        tokens = VenueTokens(settings.cardano_network.name,
                             {"pool": frozenset({DEMO_POLICY}),
                              "market_params": frozenset({LIQWID_PARAMS_POLICY})})
        super().__init__(settings.cardano_network, tokens)
        url = os.environ.get("FAKE_LEND_URL", "")
        self.client = client_for(url) if url else None

    def watched_kinds(self) -> Sequence[str]:
        return ("pool", "market_params")

    def _api(self) -> JsonHttpClient:
        if self.client is None:
            raise VenueUnavailable(self.venue, "FAKE_LEND_URL is not set")
        return self.client

    def fetch_markets(self) -> list[Market]:
        body = self._api().get("/markets")
        try:
            return [market_from_dict(doc) for doc in body["markets"]]
        except (KeyError, TypeError, MarketCodecError) as error:
            raise MalformedResponse(self.venue, f"/markets: {error}") from None

    def fetch_loans(self, owner: str | None = None) -> list[dict[str, Any]]:
        body = self._api().get("/loans", {"owner": owner} if owner else None)
        return list(body["loans"])

    def read_output(self, ref: str, out: TxOut, datum_cbor: bytes | None) -> VenueRecord | None:
        kinds = {self.tokens.kind_of(policy) for policy, _ in out.assets} - {None}
        if not kinds:
            return None
        if datum_cbor is not None and datum_cbor.startswith(BAD_DATUM):
            raise DatumLayoutError(self.venue, f"{ref}: datum layout unknown")
        kind = sorted(k for k in kinds if k is not None)[0]
        return VenueRecord(self.venue, kind, POOL_MARKET if kind == "pool" else None, ref,
                           {"lovelace": out.lovelace,
                            "datum": datum_cbor[:8] if datum_cbor else None})

    def read_tx(self, tx: Tx, spent: Mapping[str, VenueRecord]) -> list[VenueEvent]:
        tx_id = tx.id.hex()
        created = [f"{tx_id}#{i}" for i, out in enumerate(tx.outputs)
                   if any(self.tokens.kind_of(p) for p, _ in out.assets)]
        if not created and not spent:
            return []
        return [VenueEvent(self.venue, "market_state_updated", POOL_MARKET, tx_id,
                           tuple([*sorted(spent), *created]),
                           {"spent": len(spent), "created": len(created)})]

    def markets_from_chain(self, records: Sequence[tuple[VenueRecord, int]],
                           api_markets: Sequence[Market]) -> list[Market]:
        pools = [(r, t) for r, t in records if r.kind == "pool" and r.market == POOL_MARKET]
        if not pools:
            return list(api_markets)
        record, at_ms = max(pools, key=lambda p: p[1])
        merged = []
        for market in api_markets:
            if market.market_id == POOL_MARKET:
                market = replace(
                    market, available_liquidity=record.fields["lovelace"],
                    provenance=Provenance("chain", at_ms, f"pool utxo {record.ref}"),
                    other_provenance={"max_ltv": market.provenance})
            merged.append(market)
        return merged


class FakeOff(LeverageSource):
    venue = "fakeoff"
    experimental = True

    def __init__(self, settings: Any) -> None:
        super().__init__(settings.cardano_network, None, disabled_reason=(
            f"its scripts on {settings.cardano_network.name} are not public; "
            "set FAKE_OFF_CONFIG (never set)"))


class FakeLendApi:
    """fakelend's API on loopback (start it, point FAKE_LEND_URL or a source's client at
    `server.url`): `markets` and `loans` are what it answers now."""

    def __init__(self, markets: Sequence[Market] = (),
                 loans: Sequence[dict[str, Any]] = ()) -> None:
        self.markets = list(markets)
        self.loans = list(loans)
        self.server = StubServer(self._handle)

    def _handle(self, request: Request) -> Reply:
        if request.path == "/markets":
            return Reply(200, {"markets": [market_to_dict(m) for m in self.markets]})
        if request.path == "/loans":
            owner = request.query.get("owner")
            return Reply(200, {"loans": [loan for loan in self.loans
                                         if owner is None or loan.get("owner") == owner]})
        return Reply(404, {"error": f"no {request.path}"})


def client_for(url: str) -> JsonHttpClient:
    return JsonHttpClient(FakeLend.venue, url, HttpPolicy(timeout_s=0.5, attempts=1,
                                                          min_interval_s=0))


NAMES = ("fakelend", "fakeoff")


def register_fakes() -> None:
    """Register both fakes (again). Importing this module registers nothing: tests that
    import its classes must not leave fakes in the registry for the tests after them;
    VENUE_MODULES names tests.support.fake_venue_plugin, which registers."""
    unregister_fakes()
    register("fakelend", FakeLend)
    register("fakeoff", FakeOff)


def unregister_fakes() -> None:
    for name in NAMES:
        unregister(name)
