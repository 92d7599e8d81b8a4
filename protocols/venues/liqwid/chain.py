"""What the chain says about Liqwid: its UTxOs read into records, a transaction into
events, markets from chain state, and the fate of a loan. Pure (no I/O); `LiqwidSource`
delegates to these functions.

How a transaction is read (`read_tx`):
- market_state_updated / market_params_updated: it creates a MarketState / MarketParams
  UTxO (recognised by its token).
- order_batched: it creates or spends a Batch UTxO (the batch folds the Action diffs into
  MarketState).
- supply / withdraw: the market's qTokens are minted / burned in a transaction that
  touches one of the market's Action UTxOs; the underlying amount is the change of the
  Action UTxOs' supply_diff when the spent ones are known.
- loans, matched by (market, owner) between the loan UTxOs spent and created:
  created with no spent one: loan_opened; spent and created: loan_updated (or
  loan_liquidated with partial=true when the Liquidation policy mints); spent with no
  successor: loan_liquidated when the market's Liquidation policy mints in the tx (rule
  "liquidation_minted") or, failing that, when the owner is not a required signer (rule
  "owner_did_not_sign": repaying needs the owner's signature, liquidating does not);
  loan_repaid otherwise.

How a loan's fate is told (`loan_fate`), from indexed UTxOs only:
- open: the loan UTxO is unspent, or the transaction that spent it created a successor
  loan UTxO (same market and owner) that is open: successors are followed;
- repaid: spent with no successor, by our own transaction, or by one that minted no
  Liquidation token (Liquidation tokens are watched, so a liquidating transaction's
  output holding them is indexed);
- liquidated: spent with no successor by a transaction we did not send that minted the
  market's Liquidation token; where the market's Liquidation policy is unknown, any such
  spend by a transaction we did not send (issue 8's rule).
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any, Callable, Iterable, Mapping, Sequence

from chain.ledger import Tx, TxOut
from core.units import Asset, ReceiptRate
from protocols.base import ChainView, StoredUtxo, VenueTokens
from protocols.model import LoanFate, LoanState, Market, Provenance, VenueEvent, VenueRecord
from protocols.venues.liqwid import rates
from protocols.venues.liqwid.addresses import payment_script_hash, payment_script_hash_of_text
from protocols.venues.liqwid.datums import (
    IncomeRatio,
    Loan,
    MarketState,
    RateModel,
    decode_action,
    decode_loan,
    decode_market_params,
    decode_market_state,
)
from protocols.venues.liqwid.plutusdata import VENUE, layout_error
from protocols.venues.liqwid.tokens import loan_credentials

log = logging.getLogger(__name__)

#: Roles whose UTxO carries a datum this module decodes, in order of precedence.
DATUM_ROLES = ("market_state", "market_params", "action", "loan")
#: Roles recorded without a datum (Batch: layout unknown; Liquidation: a marker).
MARKER_ROLES = ("batch", "liquidation")


# --- one output ----------------------------------------------------------------------

def _roles(tokens: VenueTokens, assets: Iterable[tuple[bytes, int]]) -> dict[str, set[str]]:
    """role -> markets, for the watched tokens among (policy, quantity) pairs."""
    found: dict[str, set[str]] = defaultdict(set)
    for policy, quantity in assets:
        if quantity <= 0:
            continue
        kind = tokens.kind_of(policy)
        if kind in DATUM_ROLES or kind in MARKER_ROLES:
            market = tokens.market_of.get(policy.hex())
            if market is not None:
                found[kind].add(market)
    return found


def _qtokens(tokens: VenueTokens, assets: Iterable[tuple[bytes, bytes, int]]) -> dict[Asset, int]:
    held = tokens.by_kind.get("qtoken", frozenset())
    return {Asset(policy.hex(), name.hex()): quantity
            for policy, name, quantity in assets if policy in held and quantity > 0}


def read_output(tokens: VenueTokens, ref: str, out: TxOut,
                datum_cbor: bytes | None) -> VenueRecord | None:
    """A Liqwid output as a record: its kind by the token it holds, its market by that
    token, its datum decoded into `fields`. None when it is not a Liqwid UTxO. Raises
    DatumLayoutError on a datum this code does not know (or an output with two roles)."""
    roles = _roles(tokens, ((policy, q) for (policy, _), q in out.assets.items()))
    datum_roles = [kind for kind in DATUM_ROLES if kind in roles]
    if len(datum_roles) > 1:
        raise layout_error(f"output {ref}", f"holds the tokens of {', '.join(datum_roles)}")
    markers = [kind for kind in MARKER_ROLES if kind in roles]
    if not datum_roles and not markers:
        return _loan_by_validator(tokens, ref, out, datum_cbor)
    kind = datum_roles[0] if datum_roles else markers[0]
    markets = roles[kind]
    if len(markets) > 1:
        raise layout_error(f"output {ref}", f"holds {kind} tokens of markets {sorted(markets)}")
    market = next(iter(markets))
    extra: dict[str, Any] = {}
    also = [k for k in (*datum_roles, *markers) if k != kind]
    if also:
        extra["also_holds"] = also
    if kind in MARKER_ROLES:
        return VenueRecord(VENUE, kind, market, ref, {}, extra)  # no layout to read
    if datum_cbor is None:
        raise layout_error(f"{kind} output {ref}", "has no datum")
    if kind == "market_state":
        fields = decode_market_state(datum_cbor).fields()
    elif kind == "action":
        fields = decode_action(datum_cbor).fields()
    elif kind == "market_params":
        params = decode_market_params(datum_cbor)
        fields = params.fields()
        extra.update(params_extra(params.rate_model))
    else:
        loan = decode_loan(datum_cbor)
        fields = loan.fields()
        extra.update(loan_extra(tokens, loan, out))
    return VenueRecord(VENUE, kind, market, ref, fields, extra)


def params_extra(model: RateModel) -> dict[str, Any]:
    """What a market_params line shows beside its datum (issue 8, point 9)."""
    return {"rate_model": rates.rate_model_json(model),
            "base_borrow_apr": format(rates.base_borrow_apr(model), "f"),
            "optimal_borrow_apr": format(rates.optimal_borrow_apr(model), "f"),
            "max_borrow_apr": format(rates.max_borrow_apr(model), "f")}


def loan_extra(tokens: VenueTokens, loan: Loan, out: TxOut) -> dict[str, Any]:
    held = _qtokens(tokens, ((p, n, q) for (p, n), q in out.assets.items()))
    return {"debt": loan.debt, "collateral": {asset.unit: q for asset, q in held.items()}}


def _loan_by_validator(tokens: VenueTokens, ref: str, out: TxOut,
                       datum_cbor: bytes | None) -> VenueRecord | None:
    """The fallback for markets whose Loan token is unknown: an output at their Loan
    validator whose datum reads as a loan. Anyone can pay to a script address, so such an
    output is not authenticated: it is marked, and one that does not read is skipped
    rather than made a poison block."""
    credentials = loan_credentials(tokens)
    if not credentials:
        return None
    script = payment_script_hash(out.address_bytes)
    market = None if script is None else credentials.get(script.hex())
    if market is None or datum_cbor is None:
        return None
    try:
        loan = decode_loan(datum_cbor)
    except ValueError:  # DatumLayoutError is one
        log.debug("liqwid: %s at the %s Loan validator does not hold a loan datum", ref, market)
        return None
    extra = {"identified_by": "loan_validator", **loan_extra(tokens, loan, out)}
    return VenueRecord(VENUE, "loan", market, ref, loan.fields(), extra)


# --- one transaction -----------------------------------------------------------------

def output_datum(tx: Tx, out: TxOut) -> bytes | None:
    """An output's datum: inline, or the one its hash names in the transaction."""
    if out.inline_datum is not None:
        return out.inline_datum
    return None if out.datum_hash is None else tx.datums.get(out.datum_hash)


def _int(value: Any) -> int:
    """An integer field, typed or in its stored form (a decimal string)."""
    return value if type(value) is int else int(value)


def _owner(record: VenueRecord) -> bytes:
    owner = record.fields.get("owner")
    return owner if isinstance(owner, bytes) else bytes.fromhex(str(owner))


def _debt(record: VenueRecord) -> int:
    return sum(_int(record.fields[k]) for k in ("principal", "interest", "min_interest"))


def _mint_by_market(tokens: VenueTokens, tx: Tx, role: str) -> dict[str, int]:
    policies = tokens.by_kind.get(role, frozenset())
    minted: dict[str, int] = defaultdict(int)
    for (policy, _), quantity in tx.mint.items():
        if policy in policies:
            market = tokens.market_of.get(policy.hex())
            if market is not None:
                minted[market] += quantity
    return minted


def read_tx(tokens: VenueTokens, tx: Tx, spent: Mapping[str, VenueRecord]) -> list[VenueEvent]:
    """What one transaction did at Liqwid (see the module's docstring for the rules).
    `spent`: the Liqwid records among its inputs, by ref."""
    if not tx.valid:
        return []  # only collateral moved
    tx_id = tx.id.hex()
    created: list[VenueRecord] = []
    for index, out in enumerate(tx.outputs):
        record = read_output(tokens, f"{tx_id}#{index}", out, output_datum(tx, out))
        if record is not None:
            created.append(record)
    inputs = [spent[ref] for ref in (f"{t.hex()}#{i}" for t, i in tx.inputs) if ref in spent]
    events: list[VenueEvent] = []

    def event(kind: str, market: str | None, refs: Iterable[str], **details: Any) -> None:
        events.append(VenueEvent(VENUE, kind, market, tx_id, tuple(refs), details))

    def of(records: list[VenueRecord], kind: str, market: str | None = None) -> list[VenueRecord]:
        return [r for r in records if r.kind == kind and (market is None or r.market == market)]

    for record in of(created, "market_params"):
        old = [r.ref for r in of(inputs, "market_params", record.market)]
        event("market_params_updated", record.market, [*old, record.ref], **record.extra)
    for record in of(created, "market_state"):
        old = [r.ref for r in of(inputs, "market_state", record.market)]
        supply, principal = _int(record.fields["supply"]), _int(record.fields["principal"])
        interest = _int(record.fields["interest"])
        event("market_state_updated", record.market, [*old, record.ref],
              supply=supply, principal=principal, interest=interest,
              utilisation=rates.decimal_text(rates.utilisation(supply, principal, interest)),
              qtoken_rate=record.fields["qtoken_rate"])
    batch_markets = sorted({r.market for r in of(created + inputs, "batch") if r.market})
    for market in batch_markets:
        refs = [r.ref for r in of(inputs + created, "batch", market)]
        event("order_batched", market, refs, actions=len(of(inputs, "action", market)))

    minted = _mint_by_market(tokens, tx, "qtoken")
    for market, quantity in sorted(minted.items()):
        before, after = of(inputs, "action", market), of(created, "action", market)
        if quantity == 0 or not (before or after):
            continue
        underlying = None
        if before and len(before) == len(after):
            underlying = abs(sum(_int(r.fields["supply_diff"]) for r in after)
                             - sum(_int(r.fields["supply_diff"]) for r in before))
        event("supply" if quantity > 0 else "withdraw", market,
              [r.ref for r in before + after], qtokens=abs(quantity), underlying=underlying)

    _loan_events(tokens, tx, of(inputs, "loan"), of(created, "loan"), event)
    return events


def _loan_events(tokens: VenueTokens, tx: Tx, before: list[VenueRecord],
                 after: list[VenueRecord], event: Callable[..., None]) -> None:
    liquidated = {m for m, q in _mint_by_market(tokens, tx, "liquidation").items() if q > 0}
    signers = set(tx.required_signers)
    successors: dict[tuple[str | None, bytes], list[VenueRecord]] = defaultdict(list)
    for record in after:
        successors[(record.market, _owner(record))].append(record)
    for old in before:
        owner = _owner(old)
        following = successors.get((old.market, owner))
        if following:
            new = following.pop(0)
            if old.market in liquidated:
                event("loan_liquidated", old.market, [old.ref, new.ref], owner=owner,
                      debt=_debt(old), debt_after=_debt(new), partial=True,
                      rule="liquidation_minted")
            else:
                event("loan_updated", old.market, [old.ref, new.ref], owner=owner,
                      debt=_debt(old), debt_after=_debt(new))
        elif old.market in liquidated:
            event("loan_liquidated", old.market, [old.ref], owner=owner, debt=_debt(old),
                  partial=False, rule="liquidation_minted")
        elif owner not in signers:
            event("loan_liquidated", old.market, [old.ref], owner=owner, debt=_debt(old),
                  partial=False, rule="owner_did_not_sign")
        else:
            event("loan_repaid", old.market, [old.ref], owner=owner, debt=_debt(old))
    for remaining in successors.values():
        for new in remaining:
            event("loan_opened", new.market, [new.ref], owner=_owner(new),
                  principal=_int(new.fields["principal"]), debt=_debt(new))


# --- markets from chain state ----------------------------------------------------------

@dataclass(frozen=True)
class Bounds:
    """How far chain and API may differ before a warning. A borrow APR disagrees when it
    differs by more than `borrow_apr_abs` AND more than `borrow_apr_rel` of the API's
    figure (the larger tolerance wins, so small rates do not warn on noise)."""

    borrow_apr_abs: Decimal = Decimal("0.005")
    borrow_apr_rel: Decimal = Decimal("0.05")
    utilisation_abs: Decimal = Decimal("0.02")


@dataclass(frozen=True)
class Disagreement:
    market: str
    figure: str  # "borrow_apr" or "utilisation"
    chain: Decimal
    api: Decimal
    chain_as_of_ms: int
    api_as_of_ms: int


@dataclass(frozen=True)
class ChainMarkets:
    markets: list[Market]
    disagreements: list[Disagreement] = field(default_factory=list)


def _latest(records: Sequence[tuple[VenueRecord, int]], kind: str
            ) -> dict[str, tuple[VenueRecord, int]]:
    latest: dict[str, tuple[VenueRecord, int]] = {}
    for record, time_ms in records:
        if record.venue != VENUE or record.kind != kind or record.market is None:
            continue
        if record.market not in latest or time_ms >= latest[record.market][1]:
            latest[record.market] = (record, time_ms)
    return latest


def state_of(record: VenueRecord) -> MarketState:
    return MarketState(**record.fields)


def params_of(record: VenueRecord) -> tuple[RateModel, IncomeRatio]:
    f = record.fields
    model = RateModel(base_rate=f["base_rate"], util_multiplier=f["util_multiplier"],
                      jump_multiplier=f["jump_multiplier"], kink=f["kink"],
                      borrow_cap=f["borrow_cap"], supply_cap=f["supply_cap"])
    return model, IncomeRatio(**f["income_ratio"])


def _decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def merge_markets(records: Sequence[tuple[VenueRecord, int]], api_markets: Sequence[Market],
                  *, now_ms: int, bounds: Bounds = Bounds(),
                  staking_apy: Mapping[str, Decimal] | None = None) -> ChainMarkets:
    """`markets_from_chain`, with the disagreements it found."""
    states = _latest(records, "market_state")
    params = _latest(records, "market_params")
    markets: list[Market] = []
    disagreements: list[Disagreement] = []
    for api in api_markets:
        found = states.get(api.market_id)
        if found is None:
            markets.append(api)
            continue
        merged = _merge_one(api, found, params.get(api.market_id),
                            (staking_apy or {}).get(api.market_id, Decimal(0)))
        markets.append(merged)
        disagreements.extend(_compare(merged, api, bounds, now_ms))
    return ChainMarkets(markets, disagreements)


def markets_from_chain(records: Sequence[tuple[VenueRecord, int]], api_markets: Sequence[Market],
                       *, now_ms: int, bounds: Bounds = Bounds(),
                       staking_apy: Mapping[str, Decimal] | None = None) -> list[Market]:
    """The API's markets with what the chain knows replaced by the chain's figures: for
    each market with a MarketState record (and, for the rates, its MarketParams),
    utilisation, borrow APR (the rate model at the chain's utilisation; the MarketState's
    own rate without MarketParams), supply APY, available liquidity, the qToken rate and
    the provenance. The collateral parameters, fees, status and minimum stay the API's
    (their provenance in `other_provenance`). `staking_apy`: per market, what unlent
    underlying earns besides (not on chain; 0 when not given). Disagreements beyond
    `bounds` are logged as warnings."""
    return merge_markets(records, api_markets, now_ms=now_ms, bounds=bounds,
                         staking_apy=staking_apy).markets


def _merge_one(api: Market, state_record: tuple[VenueRecord, int],
               params_record: tuple[VenueRecord, int] | None, staking: Decimal) -> Market:
    record, time_ms = state_record
    state = state_of(record)
    u = rates.state_utilisation(state)
    kept = dict(api.other_provenance)
    for name in ("collaterals", "fees", "status", "min_size"):
        kept.setdefault(name, api.provenance)
    if params_record is not None:
        model, income = params_of(params_record[0])
        borrow = rates.borrow_apr(model, u)
        supply = rates.supplier_apy(borrow, u, income, staking)
        detail = f"MarketState {record.ref}, MarketParams {params_record[0].ref}"
    else:
        model = None
        borrow = rates.yearly(state.interest_rate)
        supply = api.supply_apy  # the suppliers' share is in MarketParams
        kept.setdefault("supply_apy", api.provenance)
        detail = f"MarketState {record.ref} (its own rate; no MarketParams read)"
    return replace(
        api,
        utilisation=_decimal(u),
        borrow_apr=borrow,
        supply_apy=supply,
        available_liquidity=rates.available_to_borrow(state, model),
        receipt_rate=ReceiptRate(state.qtoken_rate, "chain"),
        provenance=Provenance("chain", time_ms, detail),
        other_provenance=kept,
    )


def _compare(chain: Market, api: Market, bounds: Bounds, now_ms: int) -> list[Disagreement]:
    found = []
    apr_gap = abs(chain.borrow_apr - api.borrow_apr)
    if apr_gap > bounds.borrow_apr_abs and apr_gap > bounds.borrow_apr_rel * abs(api.borrow_apr):
        found.append(("borrow_apr", chain.borrow_apr, api.borrow_apr))
    if abs(chain.utilisation - api.utilisation) > bounds.utilisation_abs:
        found.append(("utilisation", chain.utilisation, api.utilisation))
    out = []
    for figure, on_chain, from_api in found:
        log.warning("liqwid %s: %s from chain %s (%.0f s old) disagrees with the API's "
                    "%s (%.0f s old)", chain.market_id, figure, format(on_chain, ".6f"),
                    chain.provenance.age_s(now_ms), format(from_api, ".6f"),
                    api.provenance.age_s(now_ms))
        out.append(Disagreement(chain.market_id, figure, on_chain, from_api,
                                chain.provenance.as_of_ms, api.provenance.as_of_ms))
    return out


# --- the fate of a loan --------------------------------------------------------------

def _stored_assets(utxo: StoredUtxo) -> list[tuple[bytes, bytes, int]]:
    return [(bytes.fromhex(policy), bytes.fromhex(name), quantity)
            for (policy, name), quantity in utxo.assets.items()]


def _stored_loan_market(tokens: VenueTokens, utxo: StoredUtxo) -> tuple[str, bool] | None:
    """(market, identified by its token) of a stored loan UTxO, or None."""
    roles = _roles(tokens, ((p, q) for p, _, q in _stored_assets(utxo)))
    if "loan" in roles:
        markets = roles["loan"]
        if len(markets) > 1:
            raise layout_error(f"loan {utxo.ref}", f"holds loan tokens of {sorted(markets)}")
        return next(iter(markets)), True
    credentials = loan_credentials(tokens)
    script = payment_script_hash_of_text(utxo.address) if credentials else None
    market = None if script is None else credentials.get(script.hex())
    return None if market is None else (market, False)


def _stored_loan(utxo: StoredUtxo, by_token: bool) -> Loan | None:
    """The loan a stored UTxO holds. A token-identified one must decode (else
    DatumLayoutError); one found by the Loan validator alone may be anything: None."""
    try:
        if utxo.inline_datum is None:
            raise layout_error(f"loan {utxo.ref}", "has no inline datum")
        return decode_loan(utxo.inline_datum)
    except ValueError:
        if by_token:
            raise
        return None


def loan_fate(tokens: VenueTokens, loan_ref: str, view: ChainView, *,
              max_hops: int = 10_000) -> LoanFate:
    """Open, repaid or liquidated, from indexed UTxOs (see the module's docstring), with
    the debt (principal + interest + min_interest) and the qTokens held at the loan UTxO
    while open; a closed loan owes nothing and holds nothing."""
    utxo = view.utxo(loan_ref)
    if utxo is None:
        return LoanFate(VENUE, loan_ref, "unknown", None, None, {},
                        reason="the loan UTxO is not indexed")
    identity = _stored_loan_market(tokens, utxo)
    first = None if identity is None else _stored_loan(utxo, identity[1])
    if identity is None or first is None:
        return LoanFate(VENUE, loan_ref, "unknown", None, None, {},
                        reason="the UTxO is not a Liqwid loan")
    market, loan = identity[0], first
    liquidation_policies = {p.hex() for p in tokens.by_kind.get("liquidation", frozenset())
                            if tokens.market_of.get(p.hex()) == market}
    partial: list[str] = []
    for _ in range(max_hops):
        spender = utxo.spent_tx
        if spender is None:
            held = _qtokens(tokens, _stored_assets(utxo))
            reason = "open" + (f"; partly liquidated by {', '.join(partial)}" if partial else "")
            return LoanFate(VENUE, loan_ref, "open", utxo.ref, loan.debt, held,
                            as_of_slot=utxo.created_slot, reason=reason)
        made = view.created_by(spender)
        liquidating = any(policy in liquidation_policies
                          for u in made for (policy, _), q in u.assets.items() if q > 0)
        successors: list[tuple[StoredUtxo, Loan]] = []
        for candidate in made:
            found = _stored_loan_market(tokens, candidate)
            if found is None or found[0] != market:
                continue
            next_loan = _stored_loan(candidate, found[1])
            if next_loan is not None and next_loan.owner == loan.owner:
                successors.append((candidate, next_loan))
        if len(successors) > 1:
            return LoanFate(VENUE, loan_ref, "unknown", None, None, {}, spent_by=spender,
                            as_of_slot=utxo.spent_slot,
                            reason=f"{spender} created {len(successors)} loans of this owner")
        if successors:
            if liquidating:
                partial.append(spender)
            utxo, loan = successors[0]
            continue
        last = f"last debt {loan.debt}"
        state: LoanState
        if view.is_ours(spender):
            state, reason = "repaid", f"spent by our transaction; {last}"
        elif liquidating:
            state, reason = "liquidated", f"the spending transaction minted the {market} " \
                                          f"Liquidation token; {last}"
        elif liquidation_policies:
            state, reason = "repaid", f"spent by a transaction we did not send, with no " \
                                      f"liquidation; {last}"
        else:
            state, reason = "liquidated", f"spent by a transaction we did not send and the " \
                                          f"{market} Liquidation policy is unknown; {last}"
        return LoanFate(VENUE, loan_ref, state, None, 0, {}, spent_by=spender,
                        as_of_slot=utxo.spent_slot, reason=reason)
    return LoanFate(VENUE, loan_ref, "unknown", None, None, {},
                    reason=f"more than {max_hops} successive loan UTxOs")
