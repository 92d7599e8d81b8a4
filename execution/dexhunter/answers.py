"""DexHunter's answers, typed: token info, quotes (estimate, reverse estimate, build),
orders, cancel and sign; and its bare-string error bodies as typed errors.

Shapes from live captures and DexHunter's widget (dexhunter.md; fixtures/dexhunter): flat
fee fields in ADA, amounts in display units, ADA as `""` in requests and as 56 zeros +
hex("lovelace") in answers. Every amount is converted by amounts.py with the decimals of
its token. Pure: no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from chain.ledger import LedgerError, decode_transaction
from core.units import ADA, Asset, Token, UnitError
from execution.dexhunter.amounts import PAID, RECEIVED, base_amount, lovelace
from execution.errors import (DEXHUNTER, DexHunterRefused, InputTooSmall, NoRoute,
                              NotEnoughLiquidity, PoolOutOfSync)
from protocols.errors import MalformedResponse, VenueApiError, VenueUnavailable
from protocols.http import require

#: ADA as DexHunter writes it in answers (token ids, pool ids): 56 zeros + hex("lovelace").
WIRE_LOVELACE = "0" * 56 + "6c6f76656c616365"

#: The bare-string error bodies known (widget `useSwapEstimation.js`, docs copy).
REFUSALS: dict[str, type[DexHunterRefused]] = {
    "not_enough_liquidity": NotEnoughLiquidity,
    "input_too_small": InputTooSmall,
    "pool_not_found": NoRoute,
    "no_valid_pools_for_trade": NoRoute,
}
TRANSIENT = frozenset({"pool_out_of_sync"})


# --- errors ----------------------------------------------------------------------------------

def classify(status: int, said: Any, where: str) -> VenueApiError | None:
    """A bare JSON string body as a typed error, whatever the status (the statuses are not
    documented): known refusals by type, `pool_out_of_sync` transient, an unknown string
    a DexHunterRefused with its code (or transient on 429/5xx). None: default handling."""
    if not isinstance(said, str):
        return None
    code = said.strip()[:100]
    shown = f"{where}: HTTP {status}: {code!r}"
    if code in TRANSIENT:
        return PoolOutOfSync(shown)
    if code in REFUSALS:
        return REFUSALS[code](code, shown)
    if status == 429 or status >= 500:
        return VenueUnavailable(DEXHUNTER, shown)
    if status >= 400:
        return DexHunterRefused(code, shown)
    return None  # a 200 string: the caller's parser calls it malformed


# --- token ids -------------------------------------------------------------------------------

def wire_token(asset: Asset) -> str:
    """A token id as requests take it: policy id + asset name hex, no dot; ADA is ""."""
    return "" if asset.is_ada else asset.policy + asset.name


def answer_asset(value: Any, path: str) -> Asset:
    text = require(DEXHUNTER, value, path, str).strip().lower()
    if text in ("", "ada", "lovelace", WIRE_LOVELACE):
        return ADA
    try:
        return Asset.from_unit(text)
    except UnitError as error:
        raise MalformedResponse(DEXHUNTER, f"{path}: {error}") from None


def parse_token(answer: Any, asked: Asset) -> Token:
    """`GET /swap/token/{id}`: the token's decimals (`token_decimals`; the docs' older
    `decimals` is accepted), for the asset that was asked."""
    body = require(DEXHUNTER, answer, "token", dict)
    asset = answer_asset(body.get("token_id"), "token.token_id")
    if asset != asked:
        raise MalformedResponse(DEXHUNTER, f"token: asked {asked}, answered {asset}")
    decimals = body.get("token_decimals", body.get("decimals"))
    decimals = require(DEXHUNTER, decimals, "token.token_decimals", int)
    ticker = body.get("ticker") or body.get("token_ascii") or ""
    try:
        return Token(asset, decimals, require(DEXHUNTER, ticker, "token.ticker", str))
    except UnitError as error:
        raise MalformedResponse(DEXHUNTER, f"token: {error}") from None


# --- quotes ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fees:
    """In lovelace. `deposits` come back when the order executes; `total_fee` is kept as
    DexHunter said it but is not all costs (estimate and build disagree): use `paid`."""

    batcher: int
    deposits: int
    dexhunter: int
    partner: int
    total_fee: int

    @property
    def paid(self) -> int:
        """What the swap costs beside the network fee: batcher + DexHunter + partner."""
        return self.batcher + self.dexhunter + self.partner


@dataclass(frozen=True)
class Split:
    """One leg of a route: base units of the sold token in, of the bought token out."""

    dex: str
    pool_id: str
    amount_in: int
    expected_output: int  # after slippage: this leg's floor
    expected_output_without_slippage: int
    fee: int  # lovelace (batcher + deposits of this leg)
    batcher_fee: int
    deposits: int
    price_impact_pct: Decimal
    pool_fee: Decimal  # a fraction as DexHunter gives it (0.002)
    initial_price: Decimal
    final_price: Decimal


@dataclass(frozen=True)
class Quote:
    """An estimate (or the quote part of a build). `total_output` is the guaranteed floor
    DexHunter quotes (observed 1 % or 5 % below the expectation whatever was asked); the
    order datum in a built transaction is the final word on it."""

    sell: Token
    buy: Token
    amount_in: int  # what we asked to sell (base units)
    slippage_pct: Decimal  # what we asked
    total_output: int  # the floor
    total_output_without_slippage: int
    splits: tuple[Split, ...]
    fees: Fees
    net_price: Decimal
    net_price_reverse: Decimal
    possible_routes: Mapping[str, Decimal]
    communications: tuple[str, ...]
    partner_code: str

    @property
    def dexes(self) -> tuple[str, ...]:
        return tuple(s.dex for s in self.splits)

    @property
    def pool_fee(self) -> Decimal:
        """The highest pool fee of the route's splits, a fraction (0.003 = 0.3%)."""
        return max((s.pool_fee for s in self.splits), default=Decimal(0))

    @property
    def price_impact(self) -> Decimal:
        """The highest price impact of the route's splits, a fraction (DexHunter gives
        it in percent)."""
        return max((s.price_impact_pct for s in self.splits), default=Decimal(0)) / 100

    @property
    def effective_slippage_pct(self) -> Decimal:
        """How far below the expectation the floor really is, in percent."""
        if not self.total_output_without_slippage:
            return Decimal(0)
        gap = self.total_output_without_slippage - self.total_output
        return Decimal(100) * gap / self.total_output_without_slippage


@dataclass(frozen=True)
class ReverseQuote(Quote):
    """A reverse estimate: what must be sold (`total_input`, rounded up) for `wanted`."""

    wanted: int = 0
    total_input: int = 0
    total_input_without_slippage: int = 0


@dataclass(frozen=True)
class BuiltSwap:
    """`POST /swap/build`: the quote and the whole unsigned transaction (CBOR bytes). Its
    order datum and outputs are for the pre-signing check to read."""

    quote: Quote
    tx_cbor: bytes
    tx_id: str


def _number(body: Mapping[str, Any], key: str, path: str,
            default: Decimal | None = None) -> Decimal:
    value = body.get(key, default)
    if value is None:
        raise MalformedResponse(DEXHUNTER, f"{path}.{key}: missing")
    number = require(DEXHUNTER, value, f"{path}.{key}", (int, Decimal))
    return Decimal(number)


def _amount(body: Mapping[str, Any], key: str, token: Token, path: str, rounding: str) -> int:
    if key not in body:
        raise MalformedResponse(DEXHUNTER, f"{path}.{key}: missing")
    return base_amount(body[key], token, f"{path}.{key}", rounding)


def _fee(body: Mapping[str, Any], key: str, path: str) -> int:
    return lovelace(body.get(key, 0), f"{path}.{key}")


def parse_split(item: Any, sell: Token, buy: Token, path: str) -> Split:
    body = require(DEXHUNTER, item, path, dict)
    return Split(
        dex=require(DEXHUNTER, body.get("dex"), f"{path}.dex", str),
        pool_id=require(DEXHUNTER, body.get("pool_id", ""), f"{path}.pool_id", str),
        amount_in=_amount(body, "amount_in", sell, path, PAID),
        expected_output=_amount(body, "expected_output", buy, path, RECEIVED),
        expected_output_without_slippage=_amount(body, "expected_output_without_slippage",
                                                 buy, path, RECEIVED),
        fee=_fee(body, "fee", path),
        batcher_fee=_fee(body, "batcher_fee", path),
        deposits=_fee(body, "deposits", path),
        price_impact_pct=_number(body, "price_impact", path, Decimal(0)),
        pool_fee=_number(body, "pool_fee", path, Decimal(0)),
        initial_price=_number(body, "initial_price", path, Decimal(0)),
        final_price=_number(body, "final_price", path, Decimal(0)))


def _quote_fields(answer: Any, sell: Token, buy: Token, amount_in: int,
                  slippage_pct: Decimal, path: str) -> dict[str, Any]:
    body = require(DEXHUNTER, answer, path, dict)
    splits = require(DEXHUNTER, body.get("splits"), f"{path}.splits", list)
    if not splits:
        raise MalformedResponse(DEXHUNTER, f"{path}.splits: empty (no route)")
    routes = require(DEXHUNTER, body.get("possible_routes") or {}, f"{path}.possible_routes",
                     dict)
    communications = require(DEXHUNTER, body.get("communications") or [],
                             f"{path}.communications", list)
    fields: dict[str, Any] = dict(
        sell=sell, buy=buy, amount_in=amount_in, slippage_pct=slippage_pct,
        total_output=_amount(body, "total_output", buy, path, RECEIVED),
        total_output_without_slippage=_amount(
            body, "total_output_without_slippage" if "total_output_without_slippage" in body
            else "total_output", buy, path, RECEIVED),
        splits=tuple(parse_split(s, sell, buy, f"{path}.splits[{i}]")
                     for i, s in enumerate(splits)),
        fees=Fees(batcher=_fee(body, "batcher_fee", path), deposits=_fee(body, "deposits", path),
                  dexhunter=_fee(body, "dexhunter_fee", path),
                  partner=_fee(body, "partner_fee", path),
                  total_fee=_fee(body, "total_fee", path)),
        net_price=_number(body, "net_price", path, Decimal(0)),
        net_price_reverse=_number(body, "net_price_reverse", path, Decimal(0)),
        possible_routes={str(k): Decimal(require(DEXHUNTER, v, f"{path}.possible_routes.{k}",
                                                 (int, Decimal)))
                         for k, v in routes.items()},
        communications=tuple(require(DEXHUNTER, c, f"{path}.communications[{i}]", str)
                             for i, c in enumerate(communications)),
        partner_code=require(DEXHUNTER, body.get("partner_code", ""), f"{path}.partner_code",
                             str))
    if fields["total_output"] > fields["total_output_without_slippage"]:
        raise MalformedResponse(DEXHUNTER, f"{path}: the floor total_output is above the "
                                           f"expected output")
    return fields


def parse_quote(answer: Any, sell: Token, buy: Token, amount_in: int,
                slippage_pct: Decimal, path: str = "estimate") -> Quote:
    return Quote(**_quote_fields(answer, sell, buy, amount_in, slippage_pct, path))


def parse_reverse_quote(answer: Any, sell: Token, buy: Token, wanted: int,
                        slippage_pct: Decimal) -> ReverseQuote:
    path = "reverseEstimate"
    body = require(DEXHUNTER, answer, path, dict)
    total_input = _amount(body, "total_input", sell, path, PAID)
    without = (_amount(body, "total_input_without_slippage", sell, path, PAID)
               if "total_input_without_slippage" in body else total_input)
    fields = _quote_fields(body, sell, buy, total_input, slippage_pct, path)
    return ReverseQuote(**fields, wanted=wanted, total_input=total_input,
                        total_input_without_slippage=without)


def parse_build(answer: Any, sell: Token, buy: Token, amount_in: int,
                slippage_pct: Decimal) -> BuiltSwap:
    path = "build"
    body = require(DEXHUNTER, answer, path, dict)
    quote = parse_quote(body, sell, buy, amount_in, slippage_pct, path)
    raw = hex_field(body, "cbor", path)
    try:
        tx = decode_transaction(raw)
    except (LedgerError, ValueError) as error:
        raise MalformedResponse(DEXHUNTER, f"{path}.cbor: not a transaction "
                                           f"({str(error)[:120]})") from None
    return BuiltSwap(quote, raw, tx.id.hex())


def hex_field(body: Mapping[str, Any], key: str, path: str) -> bytes:
    text = require(DEXHUNTER, body.get(key), f"{path}.{key}", str)
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise MalformedResponse(DEXHUNTER, f"{path}.{key}: not hex") from None
    if not raw:
        raise MalformedResponse(DEXHUNTER, f"{path}.{key}: empty")
    return raw


# --- sign, orders, cancel --------------------------------------------------------------------

@dataclass(frozen=True)
class Signed:
    """`POST /swap/sign`: the transaction with our witness set merged in (not submitted)."""

    tx_cbor: bytes
    strat_id: str


def parse_signed(answer: Any) -> Signed:
    body = require(DEXHUNTER, answer, "sign", dict)
    return Signed(hex_field(body, "cbor", "sign"),
                  require(DEXHUNTER, body.get("strat_id", ""), "sign.strat_id", str))


@dataclass(frozen=True)
class Order:
    """One order of `GET /swap/orders/{address}`, amounts in base units of their tokens.
    `amount_in` is signed: a recorded order has a negative one."""

    id: str
    status: str
    dex: str
    sell: Asset
    buy: Asset
    amount_in: int
    expected_out: int
    actual_out: int
    batcher_fee: int  # lovelace
    deposit: int  # lovelace
    tx_hash: str
    output_index: int
    update_tx_hash: str
    user_address: str
    submission_time: str
    last_update: str
    is_dexhunter: bool


def order_assets(answer: Any) -> set[Asset]:
    """The tokens an orders answer names: their decimals are needed to read it."""
    items = require(DEXHUNTER, answer, "orders", list)
    found = set()
    for i, item in enumerate(items):
        body = require(DEXHUNTER, item, f"orders[{i}]", dict)
        for key in ("token_id_in", "token_id_out"):
            found.add(answer_asset(body.get(key), f"orders[{i}].{key}"))
    return found


def parse_orders(answer: Any, tokens: Mapping[Asset, Token]) -> list[Order]:
    items = require(DEXHUNTER, answer, "orders", list)
    orders = []
    for i, item in enumerate(items):
        path = f"orders[{i}]"
        body = require(DEXHUNTER, item, path, dict)
        sell = answer_asset(body.get("token_id_in"), f"{path}.token_id_in")
        buy = answer_asset(body.get("token_id_out"), f"{path}.token_id_out")

        def text(key: str, default: str | None = "") -> str:
            return str(require(DEXHUNTER, body.get(key, default), f"{path}.{key}", str))

        orders.append(Order(
            id=text("_id", None), status=text("status", None), dex=text("dex"),
            sell=sell, buy=buy,
            amount_in=base_amount(body.get("amount_in"), tokens[sell], f"{path}.amount_in",
                                  PAID, signed=True),
            expected_out=base_amount(body.get("expected_out_amount", 0), tokens[buy],
                                     f"{path}.expected_out_amount", RECEIVED),
            actual_out=base_amount(body.get("actual_out_amount", 0), tokens[buy],
                                   f"{path}.actual_out_amount", RECEIVED),
            batcher_fee=_fee(body, "batcher_fee", path), deposit=_fee(body, "deposit", path),
            tx_hash=text("tx_hash"),
            output_index=require(DEXHUNTER, body.get("output_index", 0),
                                 f"{path}.output_index", int),
            update_tx_hash=text("update_tx_hash"), user_address=text("user_address"),
            submission_time=text("submission_time"), last_update=text("last_update"),
            is_dexhunter=require(DEXHUNTER, body.get("is_dexhunter", False),
                                 f"{path}.is_dexhunter", bool)))
    return orders


@dataclass(frozen=True)
class Cancel:
    """`POST /swap/cancel`: a transaction to sign (not decoded here: the pre-signing check
    decodes whatever is to be signed) and the extra fee as the API gives it (2000000 in the
    only sample: lovelace, unconfirmed)."""

    tx_cbor: bytes
    additional_cancellation_fee: int


def parse_cancel(answer: Any) -> Cancel:
    body = require(DEXHUNTER, answer, "cancel", dict)
    fee = require(DEXHUNTER, body.get("additional_cancellation_fee", 0),
                  "cancel.additional_cancellation_fee", int)
    if fee < 0:
        raise MalformedResponse(DEXHUNTER, "cancel.additional_cancellation_fee: negative")
    return Cancel(hex_field(body, "cbor", "cancel"), fee)
