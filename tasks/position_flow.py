"""Running a position's program in paper mode: the I/O around trading/flow.py.

`advance` asks `next_action` what to do, does it (a DexHunter quote or build and its
pre-signing check, a paper fill), and records the result as one event by the store's
compare-and-set under the event's idempotency key — then asks again, until the position
waits. Every step is therefore on record before the next begins: a worker that dies
anywhere leaves the position where its last event put it, and the next `advance` (the
redelivered task, or the resume sweep) goes on from there. Two workers never both take a
step: one holds the position's Redis lock while it advances it, and the compare-and-set
refuses the second recording of any phase even if the lock expired.

Paper mode sends nothing and signs nothing:
- a swap is quoted (its floor: the quote's `total_output`, or the paper market's price
  now less the slippage where that is lower), built by DexHunter for the
  position's wallet and checked as the live path would check it before signing
  (execution/check.py); it fills at the paper market's price of the block after its
  submission (STEP_MS later), less the pool fee and the quote's price impact, and fails
  — not filled, to be retried with a fresh quote — if that is below its floor;
- a loan that carries its collateral (Surf: a borrow locking it, a full repay releasing
  it) is built by the venue (its API, through the venue's source, which compares it with
  the project's own order) for the position's wallet and checked as the live path would
  check it before signing; a refused build is a failed leg. It then fills as built
  (paper: at once), booked with the built transaction's network fee and the plan's
  venue fees;
- a leg at a venue that locks collateral as receipt tokens (Liqwid: supply, borrow,
  modifyBorrow) is built by the venue for made-up wallet UTxOs and checked the same way
  (tasks/receipt_legs.py); the loan it leaves becomes the position's `loan` with its
  confirmation;
- other venue transactions (a pooled venue without receipts: only the tests' markets)
  fill as planned with the plan's fees and PAPER_VENUE_NETWORK_FEE, unbuilt.

Live mode (tasks/live_legs.py) builds and checks the same way, keeps the build, then
signs (the managed account, or the trader's wallet), sends it to the node and confirms
each leg from the chain — a swap or batched venue order with what its fill really paid.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from decimal import Decimal, localcontext
from typing import Any, Callable, Mapping, Sequence

from chain.slots import ms_to_slot
from core.units import ADA, Asset
from execution.check import CheckResult, check_transaction
from execution.dex.reader import unreadable_dexes
from execution.dexhunter.api import DexHunterApi
from execution.errors import DexHunterRefused
from execution.expectation import Expectation, ExpectedOrder
from execution.loan_check import LoanLeg, loan_intent_problems
from execution.order_reader import DexOrderReader
from execution.submit import NodeUnavailable
from execution.addresses import key_hashes
from chain.ledger import decode_transaction
from protocols.base import LeverageSource
from protocols.errors import MalformedResponse, VenueError, VenueUnavailable
from protocols.model import Intent, Transfer, UnsignedTx, Wallet
from store import positions as store
from store.mongo import Database
from trading.flow import CONFIRM_EVENT, DriveLeg, GroupEvent, Idle, StartLeg, Step, \
    next_action, planned_leg, program_from_doc
from trading.legs import Actual, Leg, LegKind, LegState, advance as move
from trading.paper_market import STEP_MS, PaperMarket, PaperMarketError, QuoteFees, paper_fill
from trading.position_codec import position_from_dict, transition_update
from trading.positions import Position, open_loan_legs
from trading.risk import CONTEXT, ceil_int
from trading.transitions import Event, EventKind, IllegalTransition, event_key
from tasks import live_legs as live
from tasks.position_events import Publish, event_message, no_publish
from tasks.receipt_legs import build_receipt_leg

log = logging.getLogger(__name__)

#: The network fee a paper venue transaction is booked with (lovelace): a typical fee of
#: a Plutus venue transaction. Paper mode builds no venue transaction to read a real one.
PAPER_VENUE_NETWORK_FEE = 350_000
#: The most network fee a position's transaction may pay (lovelace).
FEE_CAP = 1_000_000
#: Bought beyond the reverse quote's input, so a buy-back's floor covers the debt.
EXACT_OUT_MARGIN = Decimal("0.002")
#: Forward quotes tried at most to find a buy-back's input.
EXACT_OUT_ROUNDS = 4
#: Events one `advance` records at most before it hands over (a bound, not a plan).
MAX_EVENTS_PER_RUN = 500


class Blocked(Exception):
    """A step cannot go on now for a reason that may pass (DexHunter unreachable or out
    of sync): nothing was recorded for it; try again later."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class FlowContext:
    db: Database
    dexhunter: DexHunterApi
    readers: Sequence[DexOrderReader]
    network: str
    slippage_pct: Decimal
    fee_addresses: tuple[str, ...]  # where DexHunter's fees may go
    paper_market: Callable[[], PaperMarket]  # fresh each call: operators move prices
    now_ms: Callable[[], int]
    exit_after: frozenset[int] = frozenset()  # tests: die after recording these seqs
    venues: Mapping[str, LeverageSource] = field(default_factory=dict)  # by venue name
    #: A venue's source on a network (the wallet's, where that is not the stack's).
    venue_on: Callable[[str, str], LeverageSource | None] | None = None
    #: The node and the master key, for live positions (None: live positions wait).
    live: live.LiveChain | None = None
    #: Each recorded event, to live views (tasks/position_events.py).
    publish: Publish = no_publish

    def venue(self, name: str, network: str) -> LeverageSource | None:
        if self.venue_on is not None:
            return self.venue_on(name, network)
        return self.venues.get(name)


@dataclass(frozen=True)
class Recorded:
    event: Event
    extra: Mapping[str, Any] = field(default_factory=dict)  # fields set with the event


@dataclass(frozen=True)
class Advanced:
    position_id: str
    recorded: int  # events this run recorded
    state: str
    waiting: str  # why it stopped


def advance(ctx: FlowContext, position_id: str, *,
            renew: Callable[[], None] = lambda: None) -> Advanced:
    """Take the position as far as it goes now. Raises Blocked (after noting why on the
    position) when a step must wait for DexHunter; `renew` is called after every event
    (the caller's lock)."""
    recorded = 0
    for _ in range(MAX_EVENTS_PER_RUN):
        doc = store.read(ctx.db, position_id)
        if doc is None:
            raise store.PositionNotFound(f"no position {position_id}")
        position = position_from_dict(doc)
        if not position.paper and ctx.live is not None:
            try:  # nothing new is sent while a confirmed leg is off the chain
                live.reconcile_confirmed(ctx.live, ctx.db, doc,
                                         live.confirmed_in_order(position))
            except live.ChainWait as wait:
                store.set_chain_waiting(ctx.db, position_id, int(doc["version"]), wait.why,
                                        pending=wait.pending)
                return Advanced(position_id, recorded, position.state.value, wait.why)
            except NodeUnavailable as error:
                store.set_blocked(ctx.db, position_id, f"node: {error}", ctx.now_ms())
                raise Blocked(f"node: {error}") from None
        action = next_action(position, program_from_doc(doc))
        if isinstance(action, Idle):
            store.set_waiting(ctx.db, position_id, int(doc["version"]), action.why)
            return Advanced(position_id, recorded, position.state.value, action.why)
        if not position.paper and ctx.live is None:
            why = "live positions need CARDANO_NODE (the node to submit to)"
            store.set_waiting(ctx.db, position_id, int(doc["version"]), why)
            return Advanced(position_id, recorded, position.state.value, why)
        try:
            try:
                results = perform(ctx, doc, position, action)
            except (VenueUnavailable, MalformedResponse) as error:
                # A DexHunter call outside the guarded ones (token decimals, a reverse
                # quote) failed the same way: the step waits, nothing recorded.
                raise Blocked(f"DexHunter: {error}") from None
        except Blocked as blocked:
            store.set_blocked(ctx.db, position_id, blocked.reason, ctx.now_ms())
            raise
        except live.ChainWait as wait:
            # Nothing to record until the chain moves (or the trader signs); a block
            # applied by the pipeline, or the resume sweep, looks again.
            store.set_chain_waiting(ctx.db, position_id, int(doc["version"]), wait.why,
                                    pending=wait.pending)
            return Advanced(position_id, recorded, position.state.value, wait.why)
        for result in results:
            if record(ctx, position_id, result):
                recorded += 1
            renew()
    doc = store.read(ctx.db, position_id) or {}
    return Advanced(position_id, recorded, str(doc.get("state")), "event bound reached")


def record(ctx: FlowContext, position_id: str, result: Recorded) -> bool:
    """Apply one event once; False if another worker (or an earlier try) recorded it."""
    key = event_key(position_id, result.event)
    decide = transition_update(result.event)

    def with_extra(doc: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        fields, entry = decide(doc)
        # Work recorded: the position is in flight again and no longer blocked.
        return {**fields, **result.extra, "pending": True, "blocked": {}}, entry

    outcome = store.apply(ctx.db, position_id, key, with_extra)
    if isinstance(outcome, store.AlreadyTaken):
        log.info("position %s: %s was recorded before (seq %s)", position_id, key, outcome.seq)
        return False
    log.info("position %s: seq %s %s", position_id, outcome.seq, key)
    ctx.publish(event_message(outcome.doc, outcome.seq))
    if outcome.seq in ctx.exit_after:  # tests: die here, as a kill would
        log.warning("TEST_EXIT_AFTER_EVENTS: exiting after seq %s", outcome.seq)
        logging.shutdown()
        os._exit(70)
    return True


# --- one action ---------------------------------------------------------------------------

def perform(ctx: FlowContext, doc: Mapping[str, Any], position: Position,
            action: StartLeg | DriveLeg | GroupEvent) -> list[Recorded]:
    now = ctx.now_ms()
    if isinstance(action, GroupEvent):
        fraction = action.group.fraction if action.kind is EventKind.CLOSE else None
        return [Recorded(Event(action.kind, action.group.name, 1, now, reason=action.reason,
                               fraction=fraction))]
    if isinstance(action, StartLeg):
        return _start(ctx, doc, action, now)
    return _drive(ctx, doc, position, action, now)


def _start(ctx: FlowContext, doc: Mapping[str, Any], action: StartLeg,
           now: int) -> list[Recorded]:
    step = action.step
    if step.kind is not LegKind.SWAP:
        leg = planned_leg(action)
        return [Recorded(leg_event(leg, now))]
    sell, buy = Asset.from_unit(step.asset_in or ""), Asset.from_unit(step.asset_out or "")
    try:
        if step.exact_out:
            action = replace(action, amount_in=_input_for(ctx, sell, buy, step, action))
        quote = ctx.dexhunter.estimate(sell, buy, action.amount_in, ctx.slippage_pct,
                                       blacklisted_dexes=_blacklist(ctx))
    except DexHunterRefused as refused:
        leg = planned_leg(action)
        failed = move(leg, LegState.FAILED)
        return [Recorded(leg_event(leg, now)),
                Recorded(leg_event(failed, now, reason=f"DexHunter refused: {refused.code}"))]
    except (VenueUnavailable, MalformedResponse) as error:
        raise Blocked(f"DexHunter quote: {error}") from None
    token = buy if sell.is_ada else sell
    decimals = ctx.dexhunter.token(token).decimals
    floor = quote.total_output
    if doc.get("paper") is not False:
        floor = min(floor, _paper_floor(ctx, sell, token, action.amount_in, quote.pool_fee,
                                        quote.price_impact, decimals, now))
    leg = planned_leg(action, amount_out=floor)
    work = {"fees": str(quote.fees.batcher + quote.fees.partner + quote.fees.dexhunter),
            "pool_fee": str(quote.pool_fee), "price_impact": str(quote.price_impact),
            "decimals": decimals, "quoted_ms": now}
    return [Recorded(leg_event(leg, now), {f"work.{leg.leg_id}": work})]


def _paper_floor(ctx: FlowContext, sell: Asset, token: Asset, amount_in: int,
                 pool_fee: Decimal, price_impact: Decimal, decimals: int, now: int) -> int:
    """Paper: the least the swap may pay, from the paper market's price now (the quote's
    price may not be the paper market's: an operator moved it, or a stop fired in a gap),
    less the slippage allowed. The fill is at the price of the block after, so a swap
    placed into a gap fills at the gap's price instead of failing on a stale floor."""
    try:
        price = ctx.paper_market().price_at(token.unit, now)
        expected = paper_fill("buy" if sell.is_ada else "sell", amount_in, price,
                              QuoteFees(0, pool_fee), price_impact, token_decimals=decimals)
    except PaperMarketError:
        return 2 ** 64  # no paper price: the quote's floor stands
    with localcontext(CONTEXT):
        return int(Decimal(expected) * (1 - ctx.slippage_pct / 100))


def _input_for(ctx: FlowContext, sell: Asset, buy: Asset, step: Step,
               action: StartLeg) -> int:
    """What to sell so that even the quote's floor (after slippage) covers
    `step.amount_out`: from the reverse quote, grossed up until a forward quote's floor
    covers it; never more than `action.amount_in`, what the step may spend."""
    reverse = ctx.dexhunter.reverse_estimate(sell, buy, step.amount_out, ctx.slippage_pct,
                                             blacklisted_dexes=_blacklist(ctx))
    base = reverse.total_input_without_slippage or reverse.total_input
    with localcontext(CONTEXT):
        needed = ceil_int(Decimal(base) * (1 + EXACT_OUT_MARGIN)
                          / (1 - ctx.slippage_pct / 100))
    for _ in range(EXACT_OUT_ROUNDS):
        needed = min(needed, action.amount_in)
        floor = ctx.dexhunter.estimate(sell, buy, needed, ctx.slippage_pct,
                                       blacklisted_dexes=_blacklist(ctx)).total_output
        if floor >= step.amount_out or needed == action.amount_in or floor <= 0:
            break
        with localcontext(CONTEXT):
            needed = ceil_int(Decimal(needed) * step.amount_out / floor * (1 + EXACT_OUT_MARGIN))
    return needed


def _drive(ctx: FlowContext, doc: Mapping[str, Any], position: Position, action: DriveLeg,
           now: int) -> list[Recorded]:
    leg, step = action.leg, action.step
    receipts = bool(doc["order"].get("holds_last"))
    if leg.state is LegState.PLANNED:
        if leg.kind is LegKind.SWAP:
            return [_build_swap(ctx, doc, leg, now)]
        if not position.paper and (receipts or not leg.carries_collateral):
            return [Recorded(leg_event(move(leg, LegState.FAILED), now, reason=(
                f"live {leg.kind.value} legs at {leg.venue} are not built yet: only "
                f"DexHunter swaps and loans that carry their collateral (Surf) go live")))]
        if receipts:
            return [build_receipt_leg(ctx, doc, position, leg, now)]
        if leg.carries_collateral:
            return [_build_loan(ctx, doc, position, leg, now)]
        return [Recorded(leg_event(move(leg, LegState.BUILT), now))]
    if leg.state is LegState.BUILT:
        if not position.paper:
            return [_send_live(ctx, doc, leg, now)]
        # Paper: nothing is signed or sent; the time of this event is the submission's.
        return [Recorded(leg_event(move(leg, LegState.SUBMITTED), now))]
    confirm = CONFIRM_EVENT[(action.group.kind, leg.kind)]
    if not position.paper:
        return [_judge_live(ctx, doc, position, action, confirm, now)]
    if leg.kind is LegKind.SWAP:
        return [_fill_swap(ctx, doc, position, action, confirm, now)]
    work = doc.get("work", {}).get(leg.leg_id, {})
    actual = _venue_actual(position, step, leg, work)
    # The loan as this leg leaves it, recorded with its confirmation (receipt venues).
    extra = {"loan": work["loan_after"]} if "loan_after" in work else {}
    return [Recorded(Event(confirm, leg.step, leg.attempt, now,
                           leg=move(leg, LegState.CONFIRMED, actual=actual)), extra)]


def _build_loan(ctx: FlowContext, doc: Mapping[str, Any], position: Position, leg: Leg,
                now: int) -> Recorded:
    """Have the venue build the loan's transaction for the position's wallet, and check
    it as it would be checked before signing."""
    owner = str(doc["order"]["owner"])
    source = ctx.venues.get(leg.venue)
    if source is None:
        return Recorded(leg_event(move(leg, LegState.FAILED), now,
                                   reason=f"venue {leg.venue} is not configured here"))
    wallet = Wallet(owner)
    try:
        if leg.kind is LegKind.BORROW:
            built = source.build_borrow(str(doc["order"]["market_id"]), leg.amount_out,
                                        Asset.from_unit(leg.asset_in or ""), leg.amount_in,
                                        wallet)
        else:
            built = source.build_repay(_loan_ref(doc, position, leg), None, wallet)
    except (VenueUnavailable, MalformedResponse) as error:
        raise Blocked(f"{leg.venue} build: {error}") from None
    except (VenueError, ValueError) as error:
        return Recorded(leg_event(move(leg, LegState.FAILED), now,
                                   reason=f"{leg.venue} refused the build: {error}"[:2000]))
    result = check_venue_build(ctx, built, wallet, _loan_leg(leg), now)
    if isinstance(result, str):
        log.warning("position leg %s: %s", leg.leg_id, result)
        return Recorded(leg_event(move(leg, LegState.FAILED), now, reason=result[:2000]))
    tx_id = decode_transaction(built.cbor).id.hex()
    work: dict[str, Any] = {"network_fee": str(result.fee_lovelace or 0)}
    venue_outputs = [o.index for o in result.outputs if o.role == "venue"]
    if leg.kind is LegKind.BORROW and len(venue_outputs) == 1:
        work["loan_ref"] = f"{tx_id}#{venue_outputs[0]}"  # the loan's borrow id (its order)
    if doc.get("paper") is False:
        try:
            work.update(live.built_work(built.cbor, result, owner,
                                        batched=built.intent.settles == "batched",
                                        deposit=live.order_envelope(built.intent, result)))
        except live.LiveRefused as refused:
            return Recorded(leg_event(move(leg, LegState.FAILED), now, reason=str(refused)))
    return Recorded(leg_event(move(leg, LegState.BUILT, tx_id=tx_id), now),
                    {f"work.{leg.leg_id}": work})


def check_venue_build(ctx: FlowContext, built: UnsignedTx, wallet: Wallet, expect: LoanLeg,
                      now: int) -> CheckResult | str:
    """A venue's build checked as it would be before signing (execution/check.py, on the
    wallet's network) and its intent held to the leg (execution/loan_check.py: the
    venue's intent is partly read off its own transaction); the check's result, or why it
    is refused."""
    expected = Expectation.for_wallet(built.intent, wallet, fee_cap=FEE_CAP)
    network = wallet_network(wallet.address, ctx.network)
    result = check_transaction(built.cbor, expected, readers=ctx.readers,
                               now_slot=ms_to_slot(network, now),
                               network=network)  # type: ignore[arg-type]
    reasons = [*result.reasons, *loan_intent_problems(built.intent, expect)]
    if reasons:
        return "the pre-signing check refused the build: " + "; ".join(reasons)
    return result


def _loan_leg(leg: Leg) -> LoanLeg:
    return LoanLeg("borrow" if leg.kind is LegKind.BORROW else "repay",
                   Asset.from_unit(leg.asset_in or ""), leg.amount_in,
                   Asset.from_unit(leg.asset_out or ""), leg.amount_out)


def _loan_ref(doc: Mapping[str, Any], position: Position, repay: Leg) -> str:
    """The loan a full repay releases: the open loan whose collateral is what the repay
    releases, the last taken first (trading.positions.open_loan_legs)."""
    for borrow in reversed(open_loan_legs(position.legs.values())):
        if borrow.actual is not None and borrow.actual.amount_in == repay.amount_out:
            ref = (doc.get("work", {}).get(borrow.leg_id) or {}).get("loan_ref")
            if ref:
                return str(ref)
            raise ValueError(f"loan {borrow.leg_id} has no borrow id on record")
    raise ValueError(f"no open loan locks {repay.amount_out} {repay.asset_out}")


def _build_swap(ctx: FlowContext, doc: Mapping[str, Any], leg: Leg, now: int) -> Recorded:
    owner = str(doc["order"]["owner"])
    sell, buy = Asset.from_unit(leg.asset_in or ""), Asset.from_unit(leg.asset_out or "")
    try:
        built = ctx.dexhunter.build(owner, sell, buy, leg.amount_in, ctx.slippage_pct,
                                    blacklisted_dexes=_blacklist(ctx))
    except DexHunterRefused as refused:
        return Recorded(leg_event(move(leg, LegState.FAILED), now,
                                   reason=f"DexHunter refused the build: {refused.code}"))
    except (VenueUnavailable, MalformedResponse) as error:
        raise Blocked(f"DexHunter build: {error}") from None
    fees = built.quote.fees
    intent = Intent(action="swap", venue="dexhunter", market=f"{sell.unit}/{buy.unit}",
                    wallet=owner, leaves=(Transfer("order", sell, leg.amount_in),),
                    comes_back=(Transfer(owner, buy, leg.amount_out),),
                    fees=tuple(Transfer(party, ADA, fees.partner + fees.dexhunter)
                               for party in ctx.fee_addresses),
                    settles="batched")
    expected = Expectation(intent=intent, ours=frozenset({owner}), fee_cap=FEE_CAP,
                           signers=key_hashes({owner}),
                           order=ExpectedOrder(want=buy, min_receive=leg.amount_out,
                                               dexes=frozenset(built.quote.dexes) or None,
                                               max_batcher_fee=fees.batcher))
    network = wallet_network(owner, ctx.network)
    result = check_transaction(built.tx_cbor, expected, readers=ctx.readers,
                               now_slot=ms_to_slot(network, now),
                               network=network)  # type: ignore[arg-type]
    if not result.ok:
        reason = "the pre-signing check refused the build: " + "; ".join(result.reasons)
        log.warning("position leg %s: %s", leg.leg_id, reason)
        return Recorded(leg_event(move(leg, LegState.FAILED), now, reason=reason[:2000]))
    extra = {f"work.{leg.leg_id}.network_fee": str(result.fee_lovelace or 0)}
    if doc.get("paper") is False:
        deposit = sum(order.deposit for order in result.orders)
        try:
            kept = live.built_work(built.tx_cbor, result, owner, batched=True,
                                   deposit=deposit)
        except live.LiveRefused as refused:
            return Recorded(leg_event(move(leg, LegState.FAILED), now, reason=str(refused)))
        extra.update({f"work.{leg.leg_id}.{name}": value for name, value in kept.items()})
    return Recorded(leg_event(move(leg, LegState.BUILT, tx_id=built.tx_id), now), extra)


def _send_live(ctx: FlowContext, doc: Mapping[str, Any], leg: Leg, now: int) -> Recorded:
    """Sign the built leg (or take the wallet's signatures), check them, send it."""
    assert ctx.live is not None  # advance() does not take live steps without it
    try:
        signed = live.signed_tx(ctx.live, doc, leg)
    except live.LiveRefused as refused:
        log.warning("position leg %s: %s", leg.leg_id, refused)
        return Recorded(leg_event(move(leg, LegState.FAILED), now, reason=str(refused)[:2000]))
    try:
        refused_reason = live.send(ctx.live, ctx.db, doc, leg, signed)
    except NodeUnavailable as error:
        raise Blocked(f"node: {error}") from None
    if refused_reason is not None:
        return Recorded(leg_event(move(leg, LegState.FAILED), now,
                                   reason=f"the node refused it: {refused_reason}"[:2000]))
    return Recorded(leg_event(move(leg, LegState.SUBMITTED), now),
                    {f"work.{leg.leg_id}.signed": signed.hex()})


def _judge_live(ctx: FlowContext, doc: Mapping[str, Any], position: Position,
                action: DriveLeg, confirm: EventKind, now: int) -> Recorded:
    """A sent leg's next move from the chain as the pipeline stored it."""
    assert ctx.live is not None
    leg, step = action.leg, action.step
    work = doc["work"][leg.leg_id]
    judged = live.judge_leg(ctx.live, ctx.db, doc, leg)
    if judged.move == "fail":
        return Recorded(leg_event(move(leg, LegState.FAILED), now, reason=judged.why))
    if judged.move == "resend":
        try:
            what = live.resend(ctx.live, ctx.db, leg.tx_id or "", work["signed"], ctx.now_ms())
        except NodeUnavailable as error:
            raise Blocked(f"node: {error}") from None
        raise live.ChainWait(f"leg {leg.leg_id}: not on chain and still valid: {what}")
    if leg.kind is LegKind.SWAP:
        base = Actual(tx_id=leg.tx_id or "", amount_in=leg.amount_in,
                      network_fee=0, service_fee=int(work["fees"]))
    else:
        base = _venue_actual(position, step, leg, work)
    actual = live.chain_actual(leg, judged, base, work)
    extra: dict[str, Any] = {f"work.{leg.leg_id}.confirmations": judged.confirmations}
    if judged.fill_tx:
        extra[f"work.{leg.leg_id}.fill_tx"] = judged.fill_tx
    if "loan_after" in work:
        extra["loan"] = work["loan_after"]
    return Recorded(Event(confirm, leg.step, leg.attempt, now,
                          leg=move(leg, LegState.CONFIRMED, actual=actual)), extra)


def wallet_network(owner: str, configured: str) -> str:
    """The network a swap is checked on: the wallet's own. A mainnet wallet trades on
    mainnet (where DexHunter is) even while the stack follows a test network, as `dhl
    run` replaying preprod does; a test-network wallet on the configured test network."""
    return "mainnet" if owner.startswith("addr1") else configured


def _fill_swap(ctx: FlowContext, doc: Mapping[str, Any], position: Position,
               action: DriveLeg, confirm: EventKind, now: int) -> Recorded:
    leg = action.leg
    work = doc["work"][leg.leg_id]
    submitted = _submitted_ms(position, leg)
    executes = submitted + STEP_MS  # the block after submission, never the trigger time
    token = leg.asset_out if leg.asset_in == ADA.unit else leg.asset_in
    try:
        price = ctx.paper_market().price_at(token or "", executes)
        got = paper_fill("buy" if leg.asset_in == ADA.unit else "sell", leg.amount_in, price,
                         QuoteFees(0, Decimal(work["pool_fee"])),
                         Decimal(work["price_impact"]), token_decimals=int(work["decimals"]))
    except PaperMarketError as error:
        return Recorded(leg_event(move(leg, LegState.FAILED), now,
                                   reason=f"not filled: {error}"))
    if got < leg.amount_out:
        return Recorded(leg_event(
            move(leg, LegState.FAILED), now,
            reason=f"not filled: at the paper price {price} of the block after submission "
                   f"it pays {got}, below the order's floor {leg.amount_out}"))
    actual = Actual(tx_id=leg.tx_id or f"paper-{leg.leg_id}", amount_in=leg.amount_in,
                    amount_out=got, network_fee=int(work.get("network_fee", "0")),
                    service_fee=int(work["fees"]))
    return Recorded(Event(confirm, leg.step, leg.attempt, now,
                          leg=move(leg, LegState.CONFIRMED, actual=actual)),
                    {f"work.{leg.leg_id}.price": str(price),
                     f"work.{leg.leg_id}.executed_ms": executes})


def _venue_actual(position: Position, step: Step, leg: Leg, work: Mapping[str, Any]) -> Actual:
    tx_id = leg.tx_id or f"paper-{position.position_id}-{leg.leg_id}"
    # A built transaction's own network fee; a leg not built, a typical one.
    fee = int(work.get("network_fee", PAPER_VENUE_NETWORK_FEE))
    service = step.service_fee
    if leg.kind is LegKind.WITHDRAW_COLLATERAL:
        held = position.figures.collateral.get(leg.asset_out or "", 0)
        return Actual(tx_id, amount_out=min(leg.amount_out, held), network_fee=fee,
                      service_fee=service)
    if leg.kind is LegKind.BORROW:  # with the collateral it locks, where it carries it
        return Actual(tx_id, amount_in=leg.amount_in, amount_out=leg.amount_out,
                      network_fee=fee, service_fee=service)
    if leg.kind is LegKind.REPAY:
        paid = int(work.get("paid", leg.amount_in))  # what the venue's build takes
        leg = replace(leg, amount_in=paid)
        if step.in_full:  # one loan's debt: its principal is known
            interest = max(0, leg.amount_in - step.principal)
        else:  # a pooled debt: principal first, what is beyond it is interest
            outstanding = position.figures.debt.get(leg.asset_in or "", 0)
            interest = max(0, leg.amount_in - outstanding)
        released = 0
        if leg.carries_collateral:  # a full repay releases the loan's collateral
            released = min(leg.amount_out, position.figures.collateral.get(leg.asset_out or "", 0))
        return Actual(tx_id, amount_in=leg.amount_in, amount_out=released, network_fee=fee,
                      service_fee=service, interest=interest)
    return Actual(tx_id, amount_in=leg.amount_in, network_fee=fee, service_fee=service)


def _submitted_ms(position: Position, leg: Leg) -> int:
    for entry in position.history:
        shown = entry.event.leg
        if shown is not None and shown.leg_id == leg.leg_id \
                and shown.state is LegState.SUBMITTED:
            return entry.event.at_ms
    raise IllegalTransition(position.position_id, position.state, EventKind.LEG,
                            f"leg {leg.leg_id} has no submission on record")


def leg_event(leg: Leg, now: int, *, reason: str | None = None) -> Event:
    return Event(EventKind.LEG, leg.step, leg.attempt, now, leg=leg, reason=reason)


def _blacklist(ctx: FlowContext) -> list[str]:
    return unreadable_dexes(ctx.readers)
