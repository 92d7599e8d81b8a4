"""`plan`: what opening or closing a position will do, before anything runs. Pure.

A plan names the venue (the one asked for, or the ranking's cheapest eligible market),
the legs in order with their intended amounts in base units, the expected fees, and the
resulting book with its health, liquidation price and realised leverage. When the
position cannot be opened as asked the answer is a `Refusal` with its reasons: a result,
not an error (bad inputs — a side that is neither long nor short, a leverage not above 1 —
still raise).

Conventions are trading/risk.py's: base units, price in ADA per whole token, leverage =
collateral value / equity, a venue lends (L − 1)/L of the collateral's value.

Open, from `equity` lovelace:
- long: swap the equity ADA → token, deposit it; then rounds of borrow ADA, swap ADA →
  token, deposit the bought token, until the debt reaches (L − 1) × E;
- short: deposit the equity ADA; then rounds of borrow token, swap token → ADA, deposit
  the ADA, until the debt reaches (L − 1) × E / P in tokens.
Each borrow takes at most what the collateral already deposited allows at the market's
max LTV, so every intermediate state is within the venue's limit. A swap's `amount_out`
is the expected output after `swap_cost` (rounded down), which the flow uses as floor.

Where each borrow is its own loan carrying its collateral (`Market.loan_per_borrow`,
Surf's vaults) there is no deposit leg: each round's borrow locks what the round before
bought (the leg's `asset_in`), the last round's swap output stays in the wallet
(`Book.held`), and the health and liquidation price shown are the weakest loan's. Its
close repays the loans last to first, each in full (which releases its collateral),
selling or buying with what the round after it left; what that lacks for a moment comes
from the wallet (`ClosePlan.bridge`) and is back when the next collateral is released.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any, Sequence

from core.units import ADA_TOKEN, Token
from protocols.model import Market
from trading.legs import Leg, LegKind
from trading.pnl import FLAT, Carry, FeeBill, IndexSpan, accrue, accrued, carry
from trading.risk import CONTEXT, Adjustment, Book, RiskError, ceil_int, deleverage, \
    floor_int, health, liquidation_price, lovelace_per_base_unit, loops_needed, \
    realised_leverage, reduce_share
from trading.selection import Candidate, QuoteRequest, Ranking, Reason, rank_venues

#: Venues that liquidate by time, not price: their books carry no liquidation threshold
#: (trading/risk.py), so their plans show no health or liquidation price.
TIME_LIQUIDATED = frozenset({"levvy"})
#: Safety bound on borrow rounds (loops_needed refuses anything needing more).
MAX_LOOPS = 50
#: A loan-by-loan close's buy-back may spend this much more than planned (a fraction).
BUY_BACK_ROOM = Decimal("0.05")


@dataclass(frozen=True)
class Posted:
    """What the user posts, when it is not lovelace: `amount` base units of `token` (ADA,
    or the position's own token). A long posting its token deposits it as it is; a short
    posting the token sells it for ADA first."""

    token: Token
    amount: int

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) \
                or self.amount <= 0:
            raise RiskError(f"the amount posted must be a positive int of base units, "
                            f"got {self.amount!r}")


@dataclass(frozen=True)
class Refusal:
    """Why the position cannot be opened or closed as asked; nothing was sent."""

    reasons: tuple[Reason, ...]
    ranking: Ranking | None = None

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)


@dataclass(frozen=True)
class Plan:
    side: str
    token: Token
    venue: str
    market_id: str
    equity: int  # lovelace posted
    leverage: Decimal  # asked
    price: Decimal
    legs: tuple[Leg, ...]
    loops: int  # borrow rounds
    fees: FeeBill  # expected, lovelace; swap fees are inside the book
    book: Book
    health: Decimal | None  # the venue's own, at `price`
    health_after_swap_cost: Decimal | None  # valuing an unwind at `swap_cost`
    liquidation_price: Decimal | None
    liquidation_price_with_swap_cost: Decimal | None
    realised_leverage: Decimal | None
    carry: Carry  # borrow cost over the holding time (collateral supply not counted)
    ranking: Ranking
    notes: tuple[str, ...] = field(default=())
    #: Where each borrow is its own loan: (collateral, debt) of each, in order.
    loans: tuple[tuple[int, int], ...] = ()
    #: Where each borrow is its own loan: the lovelace a close at the entry price would
    #: need from the wallet for a moment (ClosePlan.bridge); None where not.
    close_bridge: int | None = None
    #: Where collateral is locked as receipt tokens (holds_last_purchase): their unit.
    receipt: str | None = None


@dataclass(frozen=True)
class ClosePlan:
    side: str
    venue: str
    market_id: str
    fraction: Decimal
    legs: tuple[Leg, ...]
    fees: FeeBill
    book_after: Book
    returned_lovelace: int  # what comes back to the user's wallet, before batcher fees
    health_after: Decimal | None
    liquidation_price_after: Decimal | None
    notes: tuple[str, ...] = field(default=())
    #: The part of each repay leg (by step) that is principal; the rest is interest.
    principal: dict[str, int] = field(default_factory=dict, kw_only=True)
    #: Lovelace the wallet must lend the close for a moment (loans repaid one by one).
    bridge: int = field(default=0, kw_only=True)


class _Legs:
    def __init__(self, venue: str, prefix: str) -> None:
        self.venue, self.prefix, self.items = venue, prefix, []  # type: ignore[var-annotated]

    def add(self, kind: LegKind, *, asset_in: str | None = None, amount_in: int = 0,
            asset_out: str | None = None, amount_out: int = 0) -> None:
        name = f"{self.prefix}-{len(self.items):02d}-{kind.value.replace('_', '-')}"
        self.items.append(Leg(name, kind, self.venue, name, 1, asset_in, amount_in,
                              asset_out, amount_out))

    def tuple(self) -> tuple[Leg, ...]:
        return tuple(self.items)

    def count(self, *kinds: LegKind) -> int:
        return sum(1 for leg in self.items if leg.kind in kinds)


def _pick(ranking: Ranking, venue: str | None) -> Candidate | Refusal:
    if venue is None or venue == "auto":
        chosen = ranking.chosen
        if chosen is not None:
            return chosen
        reasons = [Reason("no_market", "no market is eligible for this position")]
        for c in ranking.candidates:
            reasons.extend(Reason(r.code, f"{c.venue}/{c.market_id}: {r.text}")
                           for r in c.reasons)
        return Refusal(tuple(reasons), ranking)
    mine = [c for c in ranking.candidates if c.venue == venue]
    if not mine:
        return Refusal((Reason("no_market", f"venue {venue} has no market in the snapshot"),),
                       ranking)
    eligible = [c for c in mine if c.eligible]
    if eligible:
        return eligible[0]  # candidates come best first
    reasons = [Reason(r.code, f"{c.venue}/{c.market_id}: {r.text}")
               for c in mine for r in c.reasons]
    return Refusal(tuple(reasons), ranking)


def plan_open(side: str, token: Token, equity_lovelace: int | Posted, leverage: Decimal,
              markets: Sequence[Market], *, price: Decimal, swap_cost: Decimal = Decimal("0.003"),
              holding_days: Decimal = Decimal(30), now_ms: int, max_age_s: float,
              venue: str | None = None) -> Plan | Refusal:
    """The plan of opening a `side` position on `token` from `equity_lovelace` at
    `leverage` (or from a `Posted` amount of ADA or of the token: its value at `price`
    is the equity), or the refusal with its reasons."""
    posted_tokens = 0  # base units of the position's token posted
    if isinstance(equity_lovelace, Posted):
        if equity_lovelace.token.asset.is_ada:
            equity_lovelace = equity_lovelace.amount
        elif equity_lovelace.token.asset != token.asset:
            raise RiskError("post ADA or the position's own token")
        else:
            posted_tokens = equity_lovelace.amount
            equity_lovelace = floor_int(posted_tokens * lovelace_per_base_unit(token, price))
    if isinstance(equity_lovelace, bool) or not isinstance(equity_lovelace, int) \
            or equity_lovelace <= 0:
        raise RiskError(f"equity must be a positive number of lovelace, got {equity_lovelace!r}")
    with localcontext(CONTEXT):
        size = ceil_int(leverage * equity_lovelace) if leverage.is_finite() else 0
    request = QuoteRequest(side, token, max(size, 1), leverage, holding_days, price, swap_cost)
    ranking = rank_venues(markets, request, now_ms=now_ms, max_age_s=max_age_s)
    picked = _pick(ranking, venue)
    if isinstance(picked, Refusal):
        return picked
    market, option = picked.market, picked.collateral
    assert option is not None
    try:
        loops_needed(leverage, option.max_ltv, swap_cost=swap_cost, max_loops=MAX_LOOPS)
    except RiskError as exc:
        return Refusal((Reason("ltv", f"{market.venue}/{market.market_id}: {exc}"),), ranking)

    per_unit = lovelace_per_base_unit(token, price)
    unit = token.asset.unit
    ada = ADA_TOKEN.asset.unit
    legs = _Legs(market.venue, "open")
    swap_lost = Decimal(0)
    with localcontext(CONTEXT):
        one_minus_s = 1 - swap_cost
        if side == "long":
            collateral_unit, debt_unit = per_unit, Decimal(1)
            debt_target = floor_int((leverage - 1) * equity_lovelace)
            if posted_tokens:
                bought = posted_tokens
            else:
                bought = floor_int(equity_lovelace * one_minus_s / per_unit)
                swap_lost += equity_lovelace - bought * per_unit
                legs.add(LegKind.SWAP, asset_in=ada, amount_in=equity_lovelace,
                         asset_out=unit, amount_out=bought)
            first = bought
        else:
            collateral_unit, debt_unit = Decimal(1), per_unit
            debt_target = floor_int((leverage - 1) * equity_lovelace / per_unit)
            deposit = equity_lovelace
            if posted_tokens:
                deposit = floor_int(posted_tokens * per_unit * one_minus_s)
                swap_lost += equity_lovelace - deposit
                legs.add(LegKind.SWAP, asset_in=unit, amount_in=posted_tokens, asset_out=ada,
                         amount_out=deposit)
            first = deposit
        borrowed, held = (ada, unit) if side == "long" else (unit, ada)
        per_loan = market.loan_per_borrow
        # Collateral locked as receipts (Liqwid's qTokens): a round's purchase is supplied
        # and locked by the next borrow, so the last round's stays in the wallet.
        holds_last = holds_last_purchase(market) and option.held_as is not None
        # `collateral`: locked at the venue; `free`: bought, in the wallet, not yet locked.
        collateral, free = (0, first) if per_loan else (first, 0)
        if not per_loan:
            legs.add(LegKind.DEPOSIT_COLLATERAL, asset_in=held, amount_in=first)
        loans: list[tuple[int, int]] = []
        debt = 0
        rounds = 0
        # Rounding to base units (and a long's first swap) may need a round or two more
        # than the exact series: bounded by MAX_LOOPS.
        while debt < debt_target and rounds < MAX_LOOPS:
            supply = free if holds_last else 0  # supplied now: the borrow below locks it
            if per_loan:  # a loan of its own: only its own collateral counts
                room = floor_int(option.max_ltv * free * collateral_unit / debt_unit)
            else:
                room = floor_int((option.max_ltv * (collateral + supply) * collateral_unit
                                  - debt * debt_unit) / debt_unit)
            borrow = min(room, debt_target - debt)
            if borrow <= 0:
                break
            got = floor_int(borrow * debt_unit * one_minus_s / collateral_unit)
            if got <= 0:  # what is left of the target buys not one base unit: dust, done
                debt_target = debt
                break
            if supply:
                legs.add(LegKind.DEPOSIT_COLLATERAL, asset_in=held, amount_in=supply)
                collateral, free = collateral + supply, 0
            rounds += 1
            debt += borrow
            swap_lost += borrow * debt_unit - got * collateral_unit
            if per_loan:
                legs.add(LegKind.BORROW, asset_in=held, amount_in=free, asset_out=borrowed,
                         amount_out=borrow)
                loans.append((free, borrow))
                collateral, free = collateral + free, 0
            else:
                legs.add(LegKind.BORROW, asset_out=borrowed, amount_out=borrow)
            legs.add(LegKind.SWAP, asset_in=borrowed, amount_in=borrow, asset_out=held,
                     amount_out=got)
            if per_loan or holds_last:
                free = got
            else:
                legs.add(LegKind.DEPOSIT_COLLATERAL, asset_in=held, amount_in=got)
                collateral += got
        if debt < debt_target:
            return Refusal((Reason("ltv", f"{market.venue}/{market.market_id}: looping at max "
                                          f"LTV {option.max_ltv} reaches only {debt} of "
                                          f"{debt_target} debt in {rounds} round(s)"),),
                           ranking)
        debt_value = debt * debt_unit
        origination = ceil_int(debt_value * market.fees.origination)
    by_time = market.venue in TIME_LIQUIDATED
    threshold = None if by_time else option.liquidation_threshold
    book = Book("long" if side == "long" else "short", token, collateral, debt, threshold,
                held=free)
    # Health and liquidation are the venue's, per loan where each borrow is its own: the
    # weakest loan is the one that goes first.
    risky = weakest_loan(book, loans, price)
    venue_txs = legs.count(LegKind.DEPOSIT_COLLATERAL, LegKind.BORROW)
    fees = FeeBill(origination=origination, batcher=market.fees.batcher_lovelace * venue_txs,
                   swap=floor_int(swap_lost))
    h = health(risky, price)
    if h is not None and h < 1:
        return Refusal((Reason("health", f"the opened book's health would be {h:.4f} < 1"),),
                       ranking)
    notes = list(picked.notes)
    if by_time:
        notes.append("liquidated at the loan's term, not by price: no health or "
                     "liquidation price")
    close_bridge = None
    if holds_last and free:
        notes.append(f"{market.venue} locks collateral as receipt tokens: each round's "
                     f"purchase is supplied and locked by the next borrow; the last "
                     f"round's ({free} base units) stays in the wallet, counted in the "
                     f"exposure but not in the health")
    if per_loan:
        notes.append(f"{market.venue} keeps each borrow as a loan of its own with its "
                     f"collateral ({len(loans)} here); the last swap's output stays in the "
                     f"wallet; health and liquidation price are the weakest loan's; a close "
                     f"repays each loan in full, last first")
        at_entry = _close_loans(book, market, price=price, swap_cost=swap_cost,
                                borrow_index=FLAT, loans=loans)
        if isinstance(at_entry, ClosePlan):
            close_bridge = at_entry.bridge
            if close_bridge:
                notes.append(f"closing at the entry price would need {close_bridge} lovelace "
                             f"of the wallet's own for a moment (more after a move against "
                             f"the position, and with interest)")
    notes.append("network fees are not included")
    notes.append("carry counts the borrow rate only; the collateral's own yield is not known")
    return Plan(
        side=book.side, token=token, venue=market.venue, market_id=market.market_id,
        equity=equity_lovelace, leverage=leverage, price=price, legs=legs.tuple(), loops=rounds,
        fees=fees, book=book, health=h, health_after_swap_cost=health(risky, price,
                                                                      swap_cost=swap_cost),
        liquidation_price=liquidation_price(risky),
        liquidation_price_with_swap_cost=liquidation_price(risky, swap_cost=swap_cost),
        realised_leverage=realised_leverage(book, price),
        carry=carry(book, price, supply_apy=Decimal(0), borrow_apr=market.borrow_apr,
                    holding_days=holding_days),
        ranking=ranking, notes=tuple(notes), loans=tuple(loans), close_bridge=close_bridge,
        receipt=option.held_as.unit if holds_last and option.held_as else None)


def holds_last_purchase(market: Market) -> bool:
    """A pooled venue whose collateral is locked as receipt tokens (Liqwid): what a round
    buys is supplied, then locked by the next round's borrow, so the last round's
    purchase is held in the wallet (exposure, not collateral), as where each borrow is
    its own loan."""
    return market.locks_receipts and not market.loan_per_borrow


def weakest_loan(book: Book, loans: Sequence[tuple[int, int]], price: Decimal) -> Book:
    """Of `book`'s loans, each (collateral, debt), the one with the lowest health at
    `price` (the first to be liquidated), as a book of its own; `book` itself where the
    venue pools its collateral (no loans of their own)."""
    if not loans:
        return book
    books = [Book(book.side, book.token, c, d, book.liquidation_threshold)
             for c, d in loans if d > 0]
    if not books:
        return Book(book.side, book.token, 0, 0, book.liquidation_threshold)
    return min(books, key=lambda b: health(b, price) or Decimal("Infinity"))


def plan_close(book: Book, fraction: Decimal, market: Market, *, price: Decimal,
               swap_cost: Decimal = Decimal("0.003"), borrow_index: IndexSpan = FLAT,
               supply_index: IndexSpan = FLAT,
               loans: Sequence[tuple[int, int]] = ()) -> ClosePlan | Refusal:
    """Closing `fraction` of `book` as it opened, its debt grown by `borrow_index` and its
    collateral by `supply_index` to now (trading.pnl.accrued; FLAT for a book already
    accrued), so the repay includes the interest: withdraw that share of the collateral,
    swap it (a long sells its tokens for ADA; a short buys back its debt tokens), repay
    that share of the debt, and return the rest to the user — in rounds where the venue
    pools the collateral (`_close_pooled`), loan by loan where each borrow is its own
    (`_close_loans`). A partial close where the venue repays only in full is refused."""
    if not fraction.is_finite() or not 0 < fraction <= 1:
        raise RiskError(f"the share to close must be a fraction in (0, 1], got {fraction}")
    if fraction < 1 and not market.partial_repay:
        return Refusal((Reason("partial_repay",
                               f"{market.venue}/{market.market_id} repays only in full: close "
                               f"the whole position (fraction 1) or add collateral instead"),))
    if market.loan_per_borrow:
        if fraction < 1:
            return Refusal((Reason("partial_repay",
                                   f"{market.venue}/{market.market_id} repays each loan only "
                                   f"in full: close the whole position"),))
        return _close_loans(book, market, price=price, swap_cost=swap_cost,
                            borrow_index=borrow_index, loans=loans)
    principal_due = book.debt
    book = accrued(book, borrow=borrow_index, supply=supply_index)
    return _close_pooled(book, fraction, market, price=price, swap_cost=swap_cost,
                         principal_due=principal_due)


def plan_deleverage(book: Book, target: Decimal, market: Market, *, price: Decimal,
                    swap_cost: Decimal = Decimal("0.003"), borrow_index: IndexSpan = FLAT,
                    supply_index: IndexSpan = FLAT) -> ClosePlan | Refusal:
    """Sell part of the collateral and repay debt with all it yields, so the venue's
    health at `price` reaches `target` (trading.risk.deleverage: the closed-form amount):
    the legs of a partial close (withdraw, swap, repay, in rounds where the max LTV
    binds) with nothing returned. Its `fraction` is the share of the collateral sold. A
    venue that repays only in full, or each loan only in full, cannot deleverage."""
    if market.loan_per_borrow or not market.partial_repay:
        return Refusal((Reason("partial_repay",
                               f"{market.venue}/{market.market_id} repays only in full: a "
                               f"deleverage needs a partial repay (add collateral or close)"),))
    principal_due = book.debt
    book = accrued(book, borrow=borrow_index, supply=supply_index)
    try:
        adjustment = deleverage(book, price, target, swap_cost=swap_cost)
    except RiskError as error:
        return Refusal((Reason("under_water", str(error)),))
    if adjustment.collateral_delta == 0:
        return Refusal((Reason("healthy", f"the health at {price} is {adjustment.health}, at "
                                          f"or above {target}: nothing to sell"),))
    if adjustment.collateral_delta >= book.collateral:
        return Refusal((Reason("under_water", f"reaching health {target} would sell all the "
                                              f"collateral: close the position instead"),))
    with localcontext(CONTEXT):
        fraction = Decimal(adjustment.collateral_delta) / Decimal(book.collateral)
    interest = book.debt - principal_due
    return _close_pooled(book, fraction, market, price=price, swap_cost=swap_cost,
                         principal_due=principal_due, share=adjustment,
                         principal_repaid=max(0, adjustment.debt_delta - interest))


def _close_pooled(book: Book, fraction: Decimal, market: Market, *, price: Decimal,
                  swap_cost: Decimal, principal_due: int, share: Adjustment | None = None,
                  principal_repaid: int | None = None) -> ClosePlan | Refusal:
    """A close at a venue that pools the collateral against one debt and repays in part
    (Liqwid): the collateral left must always cover the debt at the market's max LTV, so
    the close unwinds in rounds — withdraw what may leave, swap it (a long sells its
    tokens, a short buys its debt back), repay with it — each round freeing more, then
    withdraws the rest of the share (a long sells it) and returns it. `share`: what to
    withdraw and repay, when not the proportional `fraction` (a deleverage), with the
    principal it repays (interest is repaid first)."""
    exact_share = share is not None
    if share is None:
        share = reduce_share(book, fraction)
    withdraw_total, repay_total = share.collateral_delta, share.debt_delta
    held_share = book.held - share.book.held  # in the wallet: sold (long) or spent first
    releases = holds_last_purchase(market) and fraction == 1
    long = book.side == "long"
    option = market.collateral_for(book.token.asset if long else ADA_TOKEN.asset)
    max_ltv = option.max_ltv if option is not None else book.liquidation_threshold
    if max_ltv is None or max_ltv <= 0:
        return Refusal((Reason("ltv", f"{market.venue}/{market.market_id}: no LTV known for "
                                      f"the collateral: cannot plan what may be withdrawn"),))
    pc, pd = book.unit_values(price)  # lovelace per base unit of collateral, of debt
    unit, ada = book.token.asset.unit, ADA_TOKEN.asset.unit
    held, owed = book.collateral, book.debt  # at the venue, as the rounds go
    legs = _Legs(market.venue, "close")
    withdrawn = repaid = returned = rounds = 0
    lost = Decimal(0)
    repays: list[tuple[str, int]] = []
    with localcontext(CONTEXT):
        one_minus_s = 1 - swap_cost
        owned = withdraw_total + held_share
        worth = owned * pc * one_minus_s if long else owned * one_minus_s
        if worth < repay_total * pd:
            return Refusal((Reason("under_water", f"the share's {owned} of collateral and "
                                                  f"holdings is worth less than its "
                                                  f"{repay_total} of debt at {price}, after "
                                                  f"swap costs"),))
        if held_share:  # what the wallet holds repays first
            cash = held_share
            if long:
                cash = floor_int(held_share * pc * one_minus_s)
                legs.add(LegKind.SWAP, asset_in=unit, amount_in=held_share, asset_out=ada,
                         amount_out=cash)
                lost += held_share * pc - cash
                paid = min(cash, repay_total)
                spend = paid
            else:
                paid = min(floor_int(cash * one_minus_s / pd), repay_total)
                spend = min(cash, ceil_int(paid * pd / one_minus_s))
                if paid > 0:
                    legs.add(LegKind.SWAP, asset_in=ada, amount_in=spend, asset_out=unit,
                             amount_out=paid)
                    lost += spend - paid * pd
            if paid > 0:
                legs.add(LegKind.REPAY, asset_in=ada if long else unit, amount_in=paid)
                repays.append((legs.items[-1].step, paid))
                owed, repaid = owed - paid, paid
            returned += cash - spend
        while repaid < repay_total:
            if rounds == MAX_LOOPS:
                return Refusal((Reason("rounds", f"unwinding needs more than {MAX_LOOPS} "
                                                 f"rounds at max LTV {max_ltv}"),))
            keep = ceil_int(owed * pd / (max_ltv * pc))  # what must stay for the debt
            take = min(held - keep, withdraw_total - withdrawn)
            need = repay_total - repaid
            if take <= 0 and withdrawn == withdraw_total and exact_share \
                    and repay_total - repaid <= rounds:
                # A deleverage whose rounds each rounded their swap's output down: the
                # last few base units stay owed (the closed form kept a unit of slack).
                repay_total = repaid
                break
            if take <= 0:
                what = ("under_water", f"the share's collateral does not pay its debt at "
                                       f"{price}") if withdrawn == withdraw_total else \
                    ("no_room", f"the loan is at its max LTV {max_ltv}: nothing may be "
                                f"withdrawn to repay it; repay part from the wallet or add "
                                f"collateral first")
                return Refusal((Reason(*what),))
            if long:
                out = floor_int(take * pc * one_minus_s)
                paid = min(out, need)
                legs.add(LegKind.WITHDRAW_COLLATERAL, asset_out=unit, amount_out=take)
                legs.add(LegKind.SWAP, asset_in=unit, amount_in=take, asset_out=ada,
                         amount_out=out)
                legs.add(LegKind.REPAY, asset_in=ada, amount_in=paid)
                returned += out - paid
                lost += take * pc - out
            else:
                paid = min(floor_int(take * one_minus_s / pd), need)
                spend = min(take, ceil_int(paid * pd / one_minus_s))
                legs.add(LegKind.WITHDRAW_COLLATERAL, asset_out=ada, amount_out=take)
                legs.add(LegKind.SWAP, asset_in=ada, amount_in=spend, asset_out=unit,
                         amount_out=paid)
                legs.add(LegKind.REPAY, asset_in=unit, amount_in=paid)
                returned += take - spend
                lost += spend - paid * pd
            if paid <= 0:
                return Refusal((Reason("under_water", f"a round's {take} withdrawn repays "
                                                      f"nothing at {price}"),))
            repays.append((legs.items[-1].step, paid))
            held, owed = held - take, owed - paid
            withdrawn, repaid, rounds = withdrawn + take, repaid + paid, rounds + 1
        rest = withdraw_total - withdrawn
        if rest > 0 and owed > 0 and (held - rest) * pc * max_ltv < owed * pd:
            # What stays (the position's remaining share) would be above the max LTV:
            # the venue refuses the withdrawal.
            return Refusal((Reason("no_room", f"the part left open would be above the max "
                                              f"LTV {max_ltv} at {price}: close all of it, "
                                              f"or add collateral first"),))
        if rest > 0 and releases and repays:
            # The repay that ends the loan releases what it still locks.
            last = legs.items.pop()
            legs.add(LegKind.REPAY, asset_in=last.asset_in, amount_in=last.amount_in,
                     asset_out=unit if long else ada, amount_out=rest)
            repays[-1] = (legs.items[-1].step, repays[-1][1])
        elif rest > 0:
            legs.add(LegKind.WITHDRAW_COLLATERAL, asset_out=unit if long else ada,
                     amount_out=rest)
        if rest > 0:
            if long:
                out = floor_int(rest * pc * one_minus_s)
                legs.add(LegKind.SWAP, asset_in=unit, amount_in=rest, asset_out=ada,
                         amount_out=out)
                returned += out
                lost += rest * pc - out
            else:
                returned += rest
        if principal_repaid is None:
            principal_repaid = min(repay_total, ceil_int(principal_due * fraction))
        principal = _split_principal(repays, principal_repaid)
    venue_txs = legs.count(LegKind.WITHDRAW_COLLATERAL, LegKind.REPAY)
    fees = FeeBill(batcher=market.fees.batcher_lovelace * venue_txs, swap=floor_int(lost))
    after = share.book
    if exact_share and book.debt - repaid != after.debt:  # a deleverage's rounding, above
        after = replace(after, debt=book.debt - repaid)
    notes: tuple[str, ...] = ()
    if rounds > 1:
        notes = (f"unwound in {rounds} rounds: the collateral left must cover the debt at "
                 f"max LTV {max_ltv} after each withdrawal",)
    return ClosePlan(book.side, market.venue, market.market_id, fraction, legs.tuple(), fees,
                     after, returned, health(after, price), liquidation_price(after), notes,
                     principal=principal)


def _split_principal(repays: Sequence[tuple[str, int]], principal: int) -> dict[str, int]:
    """The principal among repays (step, amount) in proportion (the rest is interest);
    the last takes what rounding left."""
    total = sum(amount for _, amount in repays)
    split: dict[str, int] = {}
    left = principal
    for index, (step, amount) in enumerate(repays):
        part = left if index == len(repays) - 1 else principal * amount // total
        split[step] = min(part, amount)
        left -= split[step]
    return split


def _close_loans(book: Book, market: Market, *, price: Decimal, swap_cost: Decimal,
                 borrow_index: IndexSpan, loans: Sequence[tuple[int, int]]) -> ClosePlan | Refusal:
    """A close where each borrow is its own loan, repaid only in full, which releases its
    collateral: sell (long) what the wallet holds, then last loan first: repay it, then
    sell (long) the collateral it released; a short buys back each loan's debt before
    repaying it. Where what is in hand falls short of a repay or a buy-back for a moment,
    the wallet lends it (`bridge`), back when the next collateral is released."""
    if sum(c for c, _ in loans) != book.collateral or sum(d for _, d in loans) != book.debt:
        raise RiskError("the loans do not add up to the book")
    per_unit = lovelace_per_base_unit(book.token, price)
    unit, ada = book.token.asset.unit, ADA_TOKEN.asset.unit
    legs = _Legs(market.venue, "close")
    cash, bridge, lost = 0, 0, Decimal(0)  # lovelace in hand; the most lent by the wallet
    principal: dict[str, int] = {}
    with localcontext(CONTEXT):
        one_minus_s = 1 - swap_cost

        def sell(tokens: int) -> None:
            nonlocal cash, lost
            out = floor_int(tokens * per_unit * one_minus_s)
            legs.add(LegKind.SWAP, asset_in=unit, amount_in=tokens, asset_out=ada,
                     amount_out=out)
            cash += out
            lost += tokens * per_unit - out

        if book.side == "long" and book.held:
            sell(book.held)
        if book.side == "short":
            cash += book.held
        for collateral, owed_principal in reversed(loans):
            owed = accrue(owed_principal, borrow_index, round_up=True)
            if book.side == "long":
                cash -= owed
                bridge = max(bridge, -cash)
                legs.add(LegKind.REPAY, asset_in=ada, amount_in=owed, asset_out=unit,
                         amount_out=collateral)
                principal[legs.items[-1].step] = owed_principal
                sell(collateral)
            else:
                spend = ceil_int(owed * per_unit / one_minus_s)
                # amount_in: the most the buy-back may spend (the flow finds what it needs
                # from a reverse quote), with room for the price to move before it runs.
                legs.add(LegKind.SWAP, asset_in=ada,
                         amount_in=ceil_int(spend * (1 + BUY_BACK_ROOM)), asset_out=unit,
                         amount_out=owed)
                lost += spend - owed * per_unit
                cash -= spend
                bridge = max(bridge, -cash)
                legs.add(LegKind.REPAY, asset_in=unit, amount_in=owed, asset_out=ada,
                         amount_out=collateral)
                principal[legs.items[-1].step] = owed_principal
                cash += collateral
    if cash < 0:
        return Refusal((Reason("under_water", f"unwinding every loan at {price} leaves "
                                              f"{-cash} lovelace owed"),))
    fees = FeeBill(batcher=market.fees.batcher_lovelace * legs.count(LegKind.REPAY),
                   swap=floor_int(lost))
    after = Book(book.side, book.token, 0, 0, book.liquidation_threshold)
    notes: tuple[str, ...] = ()
    if bridge:
        notes = (f"{market.venue} releases a loan's collateral only once it is repaid in "
                 f"full: the close needs {bridge} lovelace of the wallet's own for a moment "
                 f"(more if the price moves against the position), back by the end",)
    return ClosePlan(book.side, market.venue, market.market_id, Decimal(1), legs.tuple(),
                     fees, after, cash, None, None, notes, principal=principal, bridge=bridge)


# --- rendering (for `--plan-only` and JSON lines) -----------------------------------------

#: Significant digits shown: the maths keeps 60, a trader reads at most this many.
SHOWN_DIGITS = 16
_SHOWN = Context(prec=SHOWN_DIGITS, rounding=ROUND_HALF_EVEN)


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(_SHOWN), "f")


def leg_json(leg: Leg) -> dict[str, Any]:
    return {"leg": leg.leg_id, "kind": leg.kind.value, "venue": leg.venue,
            "asset_in": leg.asset_in, "amount_in": leg.amount_in,
            "asset_out": leg.asset_out, "amount_out": leg.amount_out}


def fees_json(fees: FeeBill) -> dict[str, int]:
    return {"origination": fees.origination, "batcher": fees.batcher,
            "network": fees.network, "other": fees.other, "swap": fees.swap,
            "outside": fees.outside, "total": fees.total}


def plan_json(result: Plan | ClosePlan | Refusal) -> dict[str, Any]:
    """One JSON object: Decimals as strings, integers as integers; `ok` false for a
    refusal, with its reasons."""
    if isinstance(result, Refusal):
        return {"ok": False, "reasons": [{"code": r.code, "text": r.text}
                                         for r in result.reasons]}
    common = {"ok": True, "venue": result.venue, "market": result.market_id,
              "side": result.side, "legs": [leg_json(g) for g in result.legs],
              "fees": fees_json(result.fees), "notes": list(result.notes)}
    if isinstance(result, ClosePlan):
        return {**common, "fraction": _dec(result.fraction),
                "returned_lovelace": result.returned_lovelace, "bridge": result.bridge,
                "collateral_after": result.book_after.collateral,
                "debt_after": result.book_after.debt,
                "health_after": _dec(result.health_after),
                "liquidation_price_after": _dec(result.liquidation_price_after)}
    return {**common, "token": result.token.asset.unit, "equity": result.equity,
            "leverage": _dec(result.leverage), "price": _dec(result.price),
            "loops": result.loops, "collateral": result.book.collateral,
            "held": result.book.held, "debt": result.book.debt,
            "loans": [{"collateral": c, "debt": d} for c, d in result.loans],
            "close_bridge": result.close_bridge,
            "health": _dec(result.health),
            "health_after_swap_cost": _dec(result.health_after_swap_cost),
            "liquidation_price": _dec(result.liquidation_price),
            "liquidation_price_with_swap_cost": _dec(result.liquidation_price_with_swap_cost),
            "realised_leverage": _dec(result.realised_leverage),
            "carry_over_holding": _dec(result.carry.over_holding)}
