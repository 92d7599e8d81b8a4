"""What a trader (or a bot, or later the HTTP API) asks of positions: open, close or
reduce, add collateral, and how a position looks. Each request is checked and recorded
(a new position, or one event by compare-and-set); the flow (tasks/position_flow.py)
then runs it on a worker. `enqueue` is how the caller hands a position to the workers.

Prices are the paper market's (tasks/paper_market.py). A token the paper market has no
price for yet (no CSV, nothing set) starts at DexHunter's price: the first time it is
traded its quote's price is stored as the paper price from now on, so paper fills and
the quotes' floors speak of the same market.
"""
from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext
from typing import Any, Callable, Mapping, Sequence

from core.decimals import finite_decimal, significant_text
from core.errors import AppError, ConfigError
from core.settings import Settings, parse_address
from core.units import ADA, ADA_TOKEN, Asset, Token
from execution.dex.reader import unreadable_dexes
from execution.dexhunter.api import DexHunterApi
from execution.errors import DexHunterRefused, NotEnoughLiquidity
from protocols.errors import MalformedResponse, VenueUnavailable
from protocols.model import Market
from execution.custody import CustodyError
from store import guards as guard_store
from store import accounts, kill_switches, paper_prices
from store import positions as store
from store.mongo import Database
from trading.flow import Group, GroupKind, StartLeg, Step, groups_from_legs, group_to_dict, \
    latest_leg, planned_leg, program_field, program_from_doc
from trading.legs import LegKind
from trading.plan import ClosePlan, Plan, Posted, Refusal, plan_close, plan_deleverage, \
    plan_json, plan_open, weakest_loan
from trading.pnl import FeeBill, IndexSpan, accrued, unrealised_pnl
from trading.position_codec import position_from_dict, position_to_dict, transition_update
from trading.positions import Position, PositionState, Side
from trading.risk import CONTEXT, Book, RiskError, ceil_int, collateral_for_health, health, \
    liquidation_price, lovelace_per_base_unit, realised_leverage
from trading.transitions import Event, EventKind, RefusalReason, event_key
from tasks.live_legs import custody_of
from tasks.position_events import Publish, event_message, no_publish

Enqueue = Callable[[str], None]
#: The amount quoted to learn a token's price when the paper market has none (lovelace).
ANCHOR_QUOTE_LOVELACE = 10_000_000
#: Significant digits of a price learned from a quote.
ANCHOR_DIGITS = 12
YEAR_DAYS = Decimal(365)
MS_PER_DAY = Decimal(86_400_000)

REFUSAL_CODES = {"ltv": RefusalReason.LEVERAGE_ABOVE_LTV,
                 "health": RefusalReason.LEVERAGE_ABOVE_LTV,
                 "liquidity": RefusalReason.NOT_ENOUGH_LIQUIDITY,
                 "min_size": RefusalReason.BELOW_MIN_SIZE,
                 "pair": RefusalReason.COLLATERAL_NOT_ACCEPTED,
                 "partial_repay": RefusalReason.PARTIAL_NOT_SUPPORTED}


class OrderError(AppError):
    """A request that cannot be taken as it stands (bad input, a position in the wrong
    state). Nothing was written."""


class PositionMissing(OrderError):
    pass


@dataclass
class Desk:
    """What the requests need: the database, DexHunter, the markets, the paper prices."""

    db: Database
    settings: Settings
    dexhunter: DexHunterApi
    markets: Callable[[int], Sequence[Market]]  # every venue's current markets at a time
    paper_market: Callable[[], Any]
    now_ms: Callable[[], int] = lambda: int(time.time() * 1000)
    #: Each recorded event, to live views (tasks/position_events.py).
    publish: Publish = no_publish


# --- prices -------------------------------------------------------------------------------

def paper_price(desk: Desk, token: Token, now: int) -> Decimal:
    """The paper price of `token` now, learned from DexHunter the first time."""
    price, source = desk.paper_market().priced(token.asset.unit, now)
    if source != "walk":
        return price
    anchored = _quoted_price(desk, token)
    paper_prices.set_price(desk.db, token.asset.unit, now, anchored)
    return anchored


def _quoted_price(desk: Desk, token: Token) -> Decimal:
    try:
        quote = desk.dexhunter.estimate(ADA, token.asset, ANCHOR_QUOTE_LOVELACE, Decimal(1),
                                        blacklisted_dexes=unreadable_dexes())
    except (DexHunterRefused, VenueUnavailable, MalformedResponse) as error:
        raise OrderError(f"no paper price for {token.asset.unit} and DexHunter gave none: "
                         f"{error}") from None
    out = quote.total_output_without_slippage
    if out <= 0:
        raise OrderError(f"DexHunter quoted nothing for {token.asset.unit}")
    # The pool's own price: what came out before its fee and the trade's price impact
    # (paper fills take those off again, so the anchor must not include them).
    with localcontext(CONTEXT) as ctx:
        ctx.prec = ANCHOR_DIGITS
        before_costs = Decimal(out) / ((1 - quote.pool_fee) * (1 - quote.price_impact))
        # ADA per whole token: lovelace in over token units out, scaled by decimals.
        return +(Decimal(ANCHOR_QUOTE_LOVELACE) / 10 ** 6
                 / (before_costs / 10 ** token.decimals))


# --- open ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class OpenRequest:
    side: str  # long | short
    asset: Asset  # the token
    collateral: Asset  # what is posted: ADA or the token
    amount: int  # base units posted
    leverage: Decimal
    venue: str | None = None  # None or "auto": the ranking's choice
    owner: str | None = None  # the wallet; PAPER_WALLET_ADDRESS by default
    plan_only: bool = False
    live: bool = False  # signed, sent and confirmed on chain (tasks/live_legs.py)
    signing: str = "managed"  # live: managed (the user's account) or wallet (`owner` signs)
    user: str | None = None  # live managed: whose account of the master key pays
    #: The new position's id (a move's reopening names it, so asking twice opens once).
    position_id: str | None = None
    #: Guards to set once it is open (the API's fields: tasks/guard_rules.rules_of).
    guards: Mapping[str, Any] | None = None


#: A live market's price in the guards' store (tasks/guard_prices.LIVE_PREFIX).
LIVE_PRICE_PREFIX = "live:"

#: What a service that did not answer now raises (DexHunter, a venue's API).
SERVICE_ERRORS = (DexHunterRefused, VenueUnavailable, MalformedResponse)
#: Of those, the ones that refuse the request as it stands (not an outage): a caller's 4xx.
REFUSED_ERRORS = (DexHunterRefused,)

#: A position id a caller may choose: what event keys accept (store/positions.py).
_POSITION_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


def open_position(desk: Desk, request: OpenRequest, enqueue: Enqueue) -> dict[str, Any]:
    """Plan the position; unless `plan_only`, store it (refused, with the reasons, when
    it cannot open) and hand it to the workers. Returns the plan as JSON, with
    `position` naming the stored position."""
    if request.side not in ("long", "short"):
        raise OrderError(f"--side must be long or short, got {request.side!r}")
    if request.asset.is_ada:
        raise OrderError("--asset must be a token, not ADA")
    if request.collateral not in (ADA, request.asset):
        raise OrderError("--collateral must be ADA or the position's own token")
    if request.owner is not None:
        try:
            parse_address("--address", request.owner)
        except ConfigError as error:
            raise OrderError(str(error)) from None
    now = desk.now_ms()
    token = _token(desk, request.asset)
    price = paper_price(desk, token, now)
    posted = Posted(ADA_TOKEN if request.collateral.is_ada else token, request.amount)
    try:
        plan = plan_open(request.side, token, posted, request.leverage,
                         desk.markets(now), price=price, now_ms=now,
                         max_age_s=desk.settings.market_max_age_seconds,
                         venue=request.venue)
    except RiskError as error:
        raise OrderError(str(error)) from None
    if isinstance(plan, Plan):
        plan = _liquidity_checked(desk, plan)
    answer = plan_json(plan)
    if request.plan_only:
        return answer
    if request.position_id is not None and not _POSITION_ID.fullmatch(request.position_id):
        raise OrderError(f"a position id is 1 to 100 of [A-Za-z0-9_-], got "
                         f"{request.position_id!r:.80}")
    position_id = request.position_id or f"pos-{uuid.uuid4().hex[:16]}"
    if request.live and isinstance(plan, Plan) and plan.receipt:
        raise OrderError(f"live positions at {plan.venue} are not built yet (its collateral "
                         f"is locked as receipt tokens): open it in paper mode")
    owner, account = live_owner(desk, request) if request.live else \
        (request.owner or desk.settings.paper_wallet_address, None)
    switch = kill_switches.covering(desk.db, request.user or owner)
    if switch is not None:
        raise OrderError(f"kill switch {switch['_id']} is on: no position opens until it is "
                         f"off (dhl kill-switch off)")
    if isinstance(plan, Refusal):
        _insert_refused(desk, position_id, request, token, owner, plan, now, account)
        return {**answer, "position": position_id, "state": PositionState.REFUSED.value}
    _insert(desk, position_id, request, token, owner, plan, now, account)
    enqueue(position_id)
    return {**answer, "position": position_id, "state": PositionState.REQUESTED.value}


def live_owner(desk: Desk, request: OpenRequest) -> tuple[str, int | None]:
    """The wallet a live position trades from: the user's managed account (allocated on
    first use, its address kept for the pipeline to watch), or the trader's own wallet."""
    if request.signing == "wallet":
        if request.owner is None:
            raise OrderError("--address: a wallet-signed live position needs the trader's "
                             "wallet address")
        accounts.watch_wallet(desk.db, request.owner)  # the pipeline follows its UTxOs
        return request.owner, None
    if request.signing != "managed":
        raise OrderError(f"--signing must be managed or wallet, got {request.signing!r}")
    key_file = desk.settings.master_key_file
    if key_file is None:
        raise OrderError("MASTER_KEY_FILE: managed live positions need the master key file")
    if request.user is None:
        raise OrderError("--user: a managed live position names the user whose account pays")
    try:
        account = accounts.account_of(desk.db, request.user)
        network = desk.settings.cardano_network.name
        address = custody_of(key_file).wallet(account, network).address
    except (accounts.AccountError, CustodyError) as error:
        raise OrderError(str(error)) from None
    accounts.set_address(desk.db, request.user, network, address)
    return address, account


def _token(desk: Desk, asset: Asset) -> Token:
    try:
        return desk.dexhunter.token(asset)
    except (DexHunterRefused, VenueUnavailable, MalformedResponse) as error:
        raise OrderError(f"token {asset.unit}: DexHunter does not know it ({error})") from None


def _liquidity_checked(desk: Desk, plan: Plan) -> Plan | Refusal:
    """Pre-trade: DexHunter must route the plan's largest swap now."""
    swaps = [leg for leg in plan.legs if leg.kind is LegKind.SWAP]
    if not swaps:
        return plan
    largest = max(swaps, key=lambda leg: leg.amount_in)
    try:
        desk.dexhunter.estimate(Asset.from_unit(largest.asset_in or ""),
                                Asset.from_unit(largest.asset_out or ""), largest.amount_in,
                                desk.settings.swap_slippage_percent,
                                blacklisted_dexes=unreadable_dexes())
    except NotEnoughLiquidity as error:
        from trading.selection import Reason
        return Refusal((Reason("liquidity", f"DexHunter: {error}"),), plan.ranking)
    except DexHunterRefused as error:
        from trading.selection import Reason
        return Refusal((Reason("no_route", f"DexHunter: {error.code}"),), plan.ranking)
    except (VenueUnavailable, MalformedResponse) as error:
        raise OrderError(f"DexHunter cannot quote now, nothing was stored: {error}") from None
    return plan


def _position(position_id: str, request: OpenRequest, venue: str, now: int) -> Position:
    side = Side(request.side)
    return Position(position_id, side, request.asset.unit, venue,
                    request.asset.unit if side is Side.LONG else ADA.unit, now,
                    paper=not request.live)


def _order(request: OpenRequest, token: Token, owner: str, plan: Plan | None,
           account: int | None = None) -> dict[str, Any]:
    order: dict[str, Any] = {
        "owner": owner, "token": token.asset.unit, "decimals": token.decimals,
        "ticker": token.ticker, "posted_asset": request.collateral.unit,
        "posted": str(request.amount), "leverage": str(request.leverage)}
    if request.live:
        order["signing"] = request.signing
        if account is not None:
            order.update(user=request.user, account=account)
    if request.user is not None:  # whose it is (the API's signed-in user, a managed live one)
        order["user"] = request.user
    if plan is not None:
        order.update(market_id=plan.market_id, equity=str(plan.equity),
                     entry_quote=str(plan.price))
        if plan.book.liquidation_threshold is not None:
            order["liquidation_threshold"] = str(plan.book.liquidation_threshold)
        if plan.loans:  # each borrow its own loan (Surf): closed loan by loan
            order["loan_per_borrow"] = True
        if plan.receipt:  # collateral locked as receipts (Liqwid): the last purchase held
            order.update(holds_last=True, receipt=plan.receipt)
    return order


def _insert(desk: Desk, position_id: str, request: OpenRequest, token: Token, owner: str,
            plan: Plan, now: int, account: int | None = None) -> None:
    market = _market_of(desk, plan.venue, plan.market_id, now)
    fees = _venue_fees(plan, market, token)
    group = groups_from_legs("open", GroupKind.OPEN, plan.legs, service_fees=fees)
    doc = position_to_dict(_position(position_id, request, plan.venue, now))
    doc.update(order=_order(request, token, owner, plan, account),
               program={"000": group_to_dict(group)}, pending=True, blocked={},
               waiting="", work={})
    if request.guards:  # set by the worker once it is open (tasks/guard_rules.arm_on_open)
        doc.update(guards_on_open=dict(request.guards), order_guards=store.GUARDS_TO_ARM)
    store.insert(desk.db, doc)


def _insert_refused(desk: Desk, position_id: str, request: OpenRequest, token: Token,
                    owner: str, refusal: Refusal, now: int,
                    account: int | None = None) -> None:
    venue = request.venue if request.venue and request.venue != "auto" else "none"
    doc = position_to_dict(_position(position_id, request, venue, now))
    doc.update(order=_order(request, token, owner, None, account), program={}, pending=False,
               blocked={}, waiting="refused", work={},
               refusal={str(i).zfill(3): {"code": r.code, "text": r.text}
                        for i, r in enumerate(refusal.reasons)})
    store.insert(desk.db, doc)
    code = next((REFUSAL_CODES[r.code] for r in refusal.reasons if r.code in REFUSAL_CODES),
                RefusalReason.MARKET_UNAVAILABLE)
    event = Event(EventKind.REFUSE, "open", 1, now, reason=code.value)
    _apply(desk, position_id, event_key(position_id, event), transition_update(event))


def _venue_fees(plan: Plan, market: Market | None, token: Token) -> dict[str, int]:
    """Each venue transaction's fees (lovelace): the batcher fee, and a borrow's
    origination fee on the value it borrows."""
    if market is None:
        return {}
    fees: dict[str, int] = {}
    for leg in plan.legs:
        if leg.kind in (LegKind.DEPOSIT_COLLATERAL, LegKind.BORROW):
            fee = market.fees.batcher_lovelace
            if leg.kind is LegKind.BORROW:
                per_unit = Decimal(1) if leg.asset_out == ADA.unit else \
                    lovelace_per_base_unit(token, plan.price)
                with localcontext(CONTEXT):
                    fee += ceil_int(leg.amount_out * per_unit * market.fees.origination)
            fees[leg.step] = fee
    return fees


def _market_of(desk: Desk, venue: str, market_id: str, now: int) -> Market | None:
    return next((m for m in desk.markets(now) if m.venue == venue and m.market_id == market_id),
                None)


# --- close, reduce, add collateral ---------------------------------------------------------

def _load(desk: Desk, position_id: str) -> tuple[dict[str, Any], Position]:
    doc = store.read(desk.db, position_id)
    if doc is None:
        raise PositionMissing(f"no position {position_id}")
    return doc, position_from_dict(doc)


def book_of(doc: Mapping[str, Any], position: Position) -> Book:
    """What the position holds at its venue, from its confirmed legs."""
    order = doc["order"]
    token = Token(Asset.from_unit(order["token"]), int(order["decimals"]), order.get("ticker", ""))
    figures = position.figures
    asset = position.collateral_asset
    debt_asset = ADA.unit if position.side is Side.LONG else order["token"]
    threshold = order.get("liquidation_threshold")
    held = 0
    if order.get("loan_per_borrow") or order.get("holds_last"):
        # What the legs left in the wallet, with what was posted where it was this asset.
        posted = int(order["posted"]) if order.get("posted_asset") == asset else 0
        held = max(0, figures.wallet.get(asset, 0) + posted)
    return Book(position.side.value, token, figures.collateral.get(asset, 0),
                figures.debt.get(debt_asset, 0),
                None if threshold is None else Decimal(threshold), held=held)


def _nothing_moved(position: Position) -> bool:
    figures = position.figures
    return not (figures.collateral or figures.debt or figures.wallet)


def _borrow_index(market: Market, position: Position, now: int) -> IndexSpan:
    """The debt's growth since the position was requested, at the market's borrow rate
    (an effective yearly rate): (1 + r) ** (days / 365)."""
    days = Decimal(max(0, now - position.requested_ms)) / MS_PER_DAY
    with localcontext(CONTEXT):
        growth = (1 + market.borrow_apr) ** (days / YEAR_DAYS)
    return IndexSpan(Decimal(1), max(Decimal(1), growth))


def close_position(desk: Desk, position_id: str, fraction: Decimal,
                   enqueue: Enqueue, reason: str | None = None) -> dict[str, Any]:
    """Close `fraction` of an open position (1: all of it), or unwind a failed one;
    `reason` (a guard's, say) goes into the close's event."""
    if not fraction.is_finite() or not 0 < fraction <= 1:
        raise OrderError(f"--fraction must be in (0, 1], got {fraction}")
    doc, position = _load(desk, position_id)
    if position.state not in (PositionState.OPEN, PositionState.FAILED):
        raise OrderError(f"position {position_id} is {position.state.value}: only an open "
                         f"(or failed) position can be closed")
    now = desk.now_ms()
    book = book_of(doc, position)
    if position.state is PositionState.FAILED and _nothing_moved(position):
        event = Event(EventKind.CANCEL, "unwind", 1, now, reason="failed while opening; "
                                                                  "nothing is held")
        _apply(desk, position_id, event_key(position_id, event),
                    transition_update(event))
        return {"ok": True, "position": position_id, "state": "cancelled"}
    if position.state is PositionState.FAILED:
        fraction = Decimal(1)
    market = _market_of(desk, position.venue, doc["order"]["market_id"], now)
    if market is None:
        raise OrderError(f"market {position.venue}/{doc['order']['market_id']} is not "
                         f"available now: nothing was changed")
    price = paper_price(desk, book.token, now)
    try:
        plan = plan_close(book, fraction, market, price=price,
                          borrow_index=_borrow_index(market, position, now),
                          loans=position.figures.loans)
    except RiskError as error:
        raise OrderError(str(error)) from None
    answer = plan_json(plan)
    if isinstance(plan, Refusal):
        return {**answer, "position": position_id, "state": position.state.value}
    _ask_close(desk, doc, plan, book, fraction, market, now, reason, enqueue)
    return {**answer, "position": position_id, "state": PositionState.CLOSING.value}


def _ask_close(desk: Desk, doc: Mapping[str, Any], plan: ClosePlan, book: Book,
               fraction: Decimal, market: Market, now: int, reason: str | None,
               enqueue: Enqueue) -> None:
    """Add the close group of `plan` to the program with its CLOSE event (one
    compare-and-set: a close asked already is refused) and hand it to the workers."""
    position_id = str(doc["_id"])
    index = len(program_from_doc(doc))
    name = f"close-{index}"
    group = _close_group(name, plan, book, fraction, market)
    event = Event(EventKind.CLOSE, name, 1, now, fraction=fraction, reason=reason)
    outcome = _append_group(desk, position_id, index, group, event)
    if isinstance(outcome, store.AlreadyTaken):
        raise OrderError(f"a close of position {position_id} was asked already")
    enqueue(position_id)


def deleverage_position(desk: Desk, position_id: str, target: Decimal, enqueue: Enqueue,
                        reason: str) -> dict[str, Any]:
    """Sell part of an open position's collateral and repay debt with it, so its health
    at the price now reaches `target` (trading.plan.plan_deleverage: the closed-form
    amount); `reason` goes into the event. The answer carries `health_before` and the
    plan's `health_after`; a refusal (a venue that repays only in full, a book already
    healthy or past saving) changes nothing."""
    doc, position = _load(desk, position_id)
    if position.state is not PositionState.OPEN:
        raise OrderError(f"position {position_id} is {position.state.value}: only an open "
                         f"position is deleveraged")
    now = desk.now_ms()
    market = _market_of(desk, position.venue, doc["order"]["market_id"], now)
    if market is None:
        raise OrderError(f"market {position.venue}/{doc['order']['market_id']} is not "
                         f"available now: nothing was changed")
    book = book_of(doc, position)
    price = paper_price(desk, book.token, now)
    before, _ = position_health(desk, doc, price)
    borrow_index = _borrow_index(market, position, now)
    cost = Decimal(desk.settings.swap_slippage_percent) / 100
    plan = plan_deleverage(book, target, market, price=price, swap_cost=max(cost, SWAP_COST),
                           borrow_index=borrow_index)
    if isinstance(plan, ClosePlan):  # again, at what DexHunter's quote says the sale costs
        cost = max(cost, SWAP_COST, _quoted_swap_cost(desk, book, plan, price))
        plan = plan_deleverage(book, target, market, price=price, swap_cost=cost,
                               borrow_index=borrow_index)
    answer = {**plan_json(plan), "position": position_id,
              "health_before": None if before is None else _fmt(before)}
    if isinstance(plan, Refusal):
        return {**answer, "state": position.state.value}
    _ask_close(desk, doc, plan, book, plan.fraction, market, now, reason, enqueue)
    return {**answer, "state": PositionState.CLOSING.value}


#: The least swap cost a deleverage plans with (the pools' fee).
SWAP_COST = Decimal("0.003")


def _quoted_swap_cost(desk: Desk, book: Book, plan: ClosePlan, price: Decimal) -> Decimal:
    """What selling the plan's swaps costs by DexHunter's quote now, as a fraction of
    their value at `price` (its floor after slippage, fees and impact): the deleverage
    repays what the swap will really bring, so the health reaches its target."""
    swaps = [leg for leg in plan.legs if leg.kind is LegKind.SWAP]
    sold = sum(leg.amount_in for leg in swaps)
    if not swaps or sold <= 0:
        return Decimal(0)
    first = swaps[0]
    try:
        quote = desk.dexhunter.estimate(Asset.from_unit(first.asset_in or ""),
                                        Asset.from_unit(first.asset_out or ""), sold,
                                        desk.settings.swap_slippage_percent,
                                        blacklisted_dexes=unreadable_dexes())
    except (NotEnoughLiquidity, DexHunterRefused, VenueUnavailable, MalformedResponse) as error:
        raise OrderError(f"DexHunter cannot quote the deleverage's sale now: {error}") from None
    pc, pd = book.unit_values(price)
    with localcontext(CONTEXT):
        value_in = sold * pc if book.side == "long" else Decimal(sold)
        value_out = quote.total_output * (1 if book.side == "long" else pd)
        return min(Decimal("0.5"), max(Decimal(0), 1 - value_out / value_in))


def collateral_to_reach(desk: Desk, doc: Mapping[str, Any], price: Decimal,
                        target: Decimal) -> int:
    """Base units of the position's collateral asset a margin call adds so its health at
    `price`, its debt grown to now, reaches `target`."""
    try:
        return collateral_for_health(_book_now(desk, doc)[1], price, target)
    except RiskError as error:
        raise OrderError(str(error)) from None


def oracle_mark(desk: Desk, doc: Mapping[str, Any]) -> tuple[Decimal, str, int] | None:
    """The venue's own oracle price of the position's token now (ADA per whole token),
    with its source and time, where the venue has one for this loan's collateral: what
    the venue judges the loan's health and liquidation by. A long's collateral is the
    token, priced in the ADA the market lends; a short's is ADA, priced in the token the
    market lends (so the token's price is its inverse). None where there is none."""
    position = position_from_dict(doc)
    market = _market_of(desk, position.venue, doc["order"]["market_id"], desk.now_ms())
    if market is None:
        return None
    option = market.collateral_for(Asset.from_unit(position.collateral_asset))
    oracle = None if option is None else option.oracle_price
    if oracle is None or oracle.price <= 0:
        return None
    if position.side is Side.LONG and market.borrow.asset.is_ada:
        price = oracle.price
    elif position.side is Side.SHORT and market.borrow.asset.unit == position.traded:
        with localcontext(CONTEXT):
            price = 1 / oracle.price
    else:
        return None
    return price, oracle.source, oracle.as_of_ms


def position_health(desk: Desk, doc: Mapping[str, Any], price: Decimal
                    ) -> tuple[Decimal | None, Decimal | None]:
    """(health, liquidation price) of a position at `price`, its debt grown to now; of
    its weakest loan where each borrow is its own. None where there is no debt or the
    venue liquidates by time."""
    position, book = _book_now(desk, doc)
    risky = weakest_loan(book, position.figures.loans, price)
    return health(risky, price), liquidation_price(risky)


def _book_now(desk: Desk, doc: Mapping[str, Any]) -> tuple[Position, Book]:
    """The position and its book from its confirmed legs, the debt grown to now at its
    market's rate (as it stands where the market is not known now)."""
    position = position_from_dict(doc)
    book = book_of(doc, position)
    now = desk.now_ms()
    market = _market_of(desk, position.venue, doc["order"]["market_id"], now)
    if market is not None:
        book = accrued(book, borrow=_borrow_index(market, position, now))
    return position, book


def cancel_order(desk: Desk, position_id: str) -> dict[str, Any]:
    """Withdraw an order that has not started: requested, no leg planned. Recorded by a
    compare-and-set on the position, so a worker that planned its first leg meanwhile
    wins and the cancel is refused (close it instead)."""
    doc, position = _load(desk, position_id)
    if position.state is PositionState.CANCELLED:  # withdrawn before: the same answer
        return {"ok": True, "position": position_id, "state": position.state.value}
    if position.state is not PositionState.REQUESTED:
        raise OrderError(f"order {position_id} is {position.state.value}: only an order not "
                         f"started is withdrawn (close the position instead)")
    event = Event(EventKind.CANCEL, "open", 1, desk.now_ms(), reason="withdrawn by the user")
    decide = transition_update(event)

    def unstarted(current: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        if position_from_dict(current).legs:
            raise OrderError(f"order {position_id} has started: close the position instead")
        fields, entry = decide(current)
        return {**fields, "pending": False}, entry

    outcome = _apply(desk, position_id, event_key(position_id, event), unstarted)
    if isinstance(outcome, store.AlreadyTaken):
        return {"ok": True, "position": position_id, "state": "cancelled"}
    return {"ok": True, "position": position_id, "state": PositionState.CANCELLED.value}


def _append_group(desk: Desk, position_id: str, index: int, group: Group,
                  event: Event) -> store.Applied | store.AlreadyTaken:
    """Record `event` and add `group` to the program as its `index`-th, in one
    compare-and-set: a request planned on a position that moved since is refused."""
    decide = transition_update(event)

    def with_group(current: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        if len(program_from_doc(current)) != index:
            raise OrderError("the position changed while this was planned: ask again")
        fields, entry = decide(current)
        return {**fields, program_field(index): group_to_dict(group), "pending": True}, entry

    return _apply(desk, position_id, event_key(position_id, event), with_group)


def _apply(desk: Desk, position_id: str, key: str,
           decide: Any) -> store.Applied | store.AlreadyTaken:
    """Record one event once (store.apply) and, when it was recorded now, publish it."""
    outcome = store.apply(desk.db, position_id, key, decide)
    if isinstance(outcome, store.Applied):
        desk.publish(event_message(outcome.doc, outcome.seq))
    return outcome


def _close_group(name: str, plan: ClosePlan, book: Book, fraction: Decimal,
                 market: Market) -> Group:
    service = {leg.step: market.fees.batcher_lovelace for leg in plan.legs
               if leg.kind in (LegKind.REPAY, LegKind.WITHDRAW_COLLATERAL)}
    group = groups_from_legs(name, GroupKind.CLOSE, plan.legs, fraction=fraction,
                             principal=plan.principal, service_fees=service)
    token = book.token.asset.unit

    def shaped(step: Step) -> Step:
        # A short buys its debt back: that swap must deliver what the repay needs. A
        # loan repaid only whole is repaid in full, whatever the swap before brought.
        if step.kind is LegKind.SWAP and step.asset_out == token and book.side == "short":
            return replace(step, exact_out=True)
        if step.kind is LegKind.REPAY and market.loan_per_borrow:
            return replace(step, in_full=True)
        return step

    return replace(group, steps=tuple(shaped(s) for s in group.steps))


def add_collateral(desk: Desk, position_id: str, amount: int,
                   enqueue: Enqueue) -> dict[str, Any]:
    """Deposit `amount` (base units of the position's collateral asset) more."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise OrderError(f"--add must be a positive amount, got {amount!r}")
    doc, position = _load(desk, position_id)
    if position.state is not PositionState.OPEN:
        raise OrderError(f"position {position_id} is {position.state.value}: collateral is "
                         f"added to an open position")
    now = desk.now_ms()
    market = _market_of(desk, position.venue, doc["order"]["market_id"], now)
    if doc["order"].get("loan_per_borrow") or (market is not None and market.loan_per_borrow):
        raise OrderError(f"{position.venue} keeps each loan's collateral with it: none can be "
                         f"added to an open loan here (close the position, or open another)")
    index = len(program_from_doc(doc))
    name = f"add-{index}"
    fee = 0 if market is None else market.fees.batcher_lovelace
    step = Step(f"{name}-00-deposit-collateral", LegKind.DEPOSIT_COLLATERAL, position.venue,
                position.collateral_asset, amount, service_fee=fee)
    steps: tuple[Step, ...] = (step,)
    if doc["order"].get("holds_last"):
        # Collateral locked as receipts: supplied, then locked in the loan (its own
        # transaction; the receipts it locks are those the supply brought).
        receipts = _receipts_for(desk, position.venue, str(doc["order"]["receipt"]), amount,
                                 now)
        steps += (Step(f"{name}-01-lock-collateral", LegKind.LOCK_COLLATERAL,
                       position.venue, str(doc["order"]["receipt"]), receipts,
                       service_fee=fee),)
    group = Group(name, GroupKind.ADD, steps)
    leg = planned_leg(StartLeg(group, step, 1, amount))
    _append_group(desk, position_id, index, group,
                  Event(EventKind.LEG, step.step, 1, now, leg=leg))
    enqueue(position_id)
    return {"ok": True, "position": position_id, "adding": amount,
            "asset": position.collateral_asset}


def _receipts_for(desk: Desk, venue: str, receipt: str, amount: int, now: int) -> int:
    """The receipts a supply of `amount` should mint at the rate of the market they are
    the receipts of (a planned figure: the lock locks what the supply really brought)."""
    for market in desk.markets(now):
        if market.venue == venue and market.receipt is not None \
                and market.receipt.unit == receipt and market.receipt_rate is not None:
            return max(1, market.receipt_rate.receipts_for_deposit(amount))
    return 1


# --- how a position looks ----------------------------------------------------------------

def describe(desk: Desk, doc: Mapping[str, Any], *, detail: bool = False) -> dict[str, Any]:
    """A position as `dhl positions list|show` print it: figures from its confirmed legs,
    health, liquidation price and PnL at the paper price now."""
    position = position_from_dict(doc)
    figures = position.figures
    order = doc.get("order") or {}
    out: dict[str, Any] = {
        "position": position.position_id, "state": position.state.value,
        "paper": position.paper, "side": position.side.value, "token": position.traded,
        "ticker": order.get("ticker", ""), "venue": position.venue,
        "market": order.get("market_id"), "owner": order.get("owner"),
        "requested_ms": position.requested_ms, "size": figures.size,
        "entry_price": _price_text(figures.entry_price, order),
        "collateral": figures.collateral, "debt": figures.debt,
        "interest_paid": figures.interest_paid, "fees_paid": figures.fees_paid,
        "realised_pnl": figures.realised_pnl, "waiting": doc.get("waiting", ""),
        "blocked": (doc.get("blocked") or {}).get("reason", ""),
        "version": position.version}
    if not position.paper:
        out["signing"] = order.get("signing", "managed")
        if doc.get("chain_alerts"):  # confirmed legs a deep rollback took for good
            out["chain_alerts"] = dict(sorted(doc["chain_alerts"].items()))
    if doc.get("refusal"):
        out["refusal"] = [r for _, r in sorted(doc["refusal"].items())]
    triggers = guard_store.current_triggers(desk.db, position.position_id)
    if triggers:  # the current guards version's price triggers (docs/guards.md)
        out["guards"] = {"version": triggers[0]["version"],
                         "triggers": [{"name": t["_id"].rsplit(":", 1)[-1],
                                       **{k: t[k] for k in ("kind", "direction", "price",
                                                            "fraction", "health", "target",
                                                            "max_apr")
                                          if t.get(k) is not None}}
                                      for t in sorted(triggers, key=lambda t: t["_id"])]}
    if order.get("loan_per_borrow"):  # each borrow its own loan: show them, and the wallet's
        out["loans"] = [{"collateral": c, "debt": d} for c, d in figures.loans]
    if order.get("loan_per_borrow") or order.get("holds_last"):
        out["held"] = book_of(doc, position).held
    if order.get("holds_last") and doc.get("loan"):  # the venue's loan, as last confirmed
        out["loan"] = dict(doc["loan"])
    if position.state in (PositionState.OPEN, PositionState.CLOSING) and order.get("equity"):
        out.update(_marked(desk, doc, position))
        if detail:
            out.update(_quoted(desk, doc, position))
            out.update(_carry(desk, doc, position))
    if detail:
        out["legs"] = [_leg_view(position, leg_id) for leg_id in _leg_order(position)]
        if not position.paper:  # what the chain showed of each leg
            for leg in out["legs"]:
                work = (doc.get("work") or {}).get(leg["leg"]) or {}
                leg.update({k: work[k] for k in ("confirmations", "fill_tx", "order_ref")
                            if k in work})
        out["history"] = [{"seq": h.seq, "at_ms": h.event.at_ms, "event": h.event.kind.value,
                           "step": h.event.step, "attempt": h.event.attempt,
                           "state": h.after.value,
                           **({"leg": h.event.leg.state.value} if h.event.leg else {}),
                           **({"reason": h.event.reason} if h.event.reason else {})}
                          for h in position.history]
        out["program"] = [{"group": g.name, "kind": g.kind.value,
                           "steps": [s.step for s in g.steps],
                           "current": [_state_of(position, s.step) for s in g.steps]}
                          for g in program_from_doc(doc)]
    return out


def _state_of(position: Position, step: str) -> str:
    leg = latest_leg(position, step)
    return "pending" if leg is None else f"{leg.state.value} (attempt {leg.attempt})"


def _marked(desk: Desk, doc: Mapping[str, Any], position: Position) -> dict[str, Any]:
    book = book_of(doc, position)
    try:
        price, source = desk.paper_market().priced(book.token.asset.unit, desk.now_ms())
    except ValueError:
        return {}
    marked: dict[str, Any] = {"mark_price": str(price), "mark": f"paper ({source})"}
    if book.collateral == 0 and book.held == 0:
        return marked
    loans = position.figures.loans
    # Where each borrow is its own loan, the weakest loan is the one liquidated first.
    risky = weakest_loan(book, loans, price)
    h = health(risky, price)
    liq = liquidation_price(risky)
    lev = realised_leverage(book, price)
    fees = FeeBill(other=position.figures.fees_paid)
    pnl = unrealised_pnl(book, price, equity_posted=int(doc["order"]["equity"]), fees=fees)
    marked.update(health=None if h is None else _fmt(h),
                  liquidation_price=None if liq is None else _fmt(liq),
                  leverage=None if lev is None else _fmt(lev),
                  equity_now=int(pnl.equity), unrealised_pnl=int(pnl.pnl))
    return marked


def _quoted(desk: Desk, doc: Mapping[str, Any], position: Position) -> dict[str, Any]:
    """PnL at DexHunter's executable quote too, where the guards keep one (a live
    position's market: docs/guards.md), with its source and time."""
    book = book_of(doc, position)
    kept = guard_store.price_of(desk.db, LIVE_PRICE_PREFIX + book.token.asset.unit)
    if kept is None:
        return {}
    price = finite_decimal(kept["price"])
    pnl = unrealised_pnl(book, price, equity_posted=int(doc["order"]["equity"]),
                         fees=FeeBill(other=position.figures.fees_paid))
    return {"quote": {"price": str(price), "source": kept.get("source"),
                      "as_of_ms": kept.get("as_of_ms"), "unrealised_pnl": int(pnl.pnl)}}


def _carry(desk: Desk, doc: Mapping[str, Any], position: Position) -> dict[str, Any]:
    """What the debt costs a day at the market's borrow rate now (base units of each
    borrowed asset, rounded down), and that rate."""
    market = _market_of(desk, position.venue, str(doc["order"].get("market_id")),
                        desk.now_ms())
    if market is None:
        return {}
    with localcontext(CONTEXT):
        per_day = {unit: int(Decimal(int(amount)) * market.borrow_apr / 365)
                   for unit, amount in position.figures.debt.items()}
    return {"borrow_apr": str(market.borrow_apr), "carry_per_day": per_day}


def _fmt(value: Decimal) -> str:
    return str(significant_text(value))


def _price_text(entry: Any, order: Mapping[str, Any]) -> str | None:
    """The entry price as ADA per whole token (figures keep lovelace per base unit)."""
    if entry is None:
        return None
    decimals = int(order.get("decimals", 0))
    with localcontext(CONTEXT) as ctx:
        ctx.prec = 10
        value = Decimal(entry.numerator) / Decimal(entry.denominator)
        return format(+(value * Decimal(10) ** decimals / 10 ** 6), "f")


def _leg_order(position: Position) -> list[str]:
    seen: list[str] = []
    for entry in position.history:
        leg = entry.event.leg
        if leg is not None and leg.leg_id not in seen:
            seen.append(leg.leg_id)
    return seen


def _leg_view(position: Position, leg_id: str) -> dict[str, Any]:
    leg = position.legs[leg_id]
    view: dict[str, Any] = {"leg": leg.leg_id, "kind": leg.kind.value, "state": leg.state.value,
                            "attempt": leg.attempt, "asset_in": leg.asset_in,
                            "amount_in": leg.amount_in, "asset_out": leg.asset_out,
                            "amount_out": leg.amount_out, "tx_id": leg.tx_id}
    if leg.actual is not None:
        a = leg.actual
        view["actual"] = {"amount_in": a.amount_in, "amount_out": a.amount_out,
                          "network_fee": a.network_fee, "service_fee": a.service_fee,
                          "interest": a.interest}
    return view


def list_positions(desk: Desk) -> list[dict[str, Any]]:
    return [describe(desk, doc) for doc in store.all_positions(desk.db)]
