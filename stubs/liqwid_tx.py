"""The Liqwid stub's transaction builder: an unsigned transaction that decodes and pays what
the request asks for, built with cbor2 from the wallet UTxOs in the request.

A stub, and honest about it:
- it spends every wallet UTxO it is given and returns all change to `changeAddress`;
- the venue's own inputs (an Action UTxO, the loan UTxO) are invented here: their refs are
  made up (the loan's is its id) and their values are whatever the transaction needs;
- venue outputs go to enterprise script addresses made from the mainnet validator hashes
  in the fixtures (`market_script_hashes_mainnet.csv`), carrying the market's Action token
  or a Loan token as the real ones do; the real Action UTxOs sit at base addresses with
  stake keys;
- no scripts, no script-data hash, a fee from the size by the mainnet formula; redeemers
  are unit placeholders, one per script input and minted policy.
It is for the offline demo and the tests; what Liqwid really builds is its own.
"""
from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Mapping, Sequence

import cbor2

from chain.ledger import LedgerError
from chain.slots import ms_to_slot
from chain.ledger.tx import TxOut, tx_in, tx_out
from core.units import ReceiptRate

AssetKey = tuple[bytes, bytes]  # (policy, name); ADA is (b"", b"")
ADA_KEY: AssetKey = (b"", b"")
UNIT = bytes.fromhex("d8799fff")  # Constr 0 []
FEE_A, FEE_B = 44, 155_381  # mainnet linear fee parameters
ACTION_LOVELACE = 5_000_000  # what the invented Action UTxO holds besides its token
LOAN_LOVELACE = 2_000_000  # the min-ADA of a loan UTxO the stub makes
TTL_SLOTS = 1800  # a build is valid for half an hour, as a wallet's would be
FIXED_DECIMAL = 1_000_000_000  # a Loan datum's index: FixedDecimal with 9 places, here 1


class BuildRefused(Exception):
    """What the stub answers as a GraphQL error (a message like Liqwid's own)."""


@dataclass(frozen=True)
class StubMarket:
    """What the stub's builder knows of one market."""

    market_id: str
    asset: AssetKey
    decimals: int
    qtoken_policy: bytes | None
    qtoken_decimals: int | None
    exchange_rate: Any  # Decimal whole-per-whole, or None
    action_validator: bytes | None
    action_token: bytes | None
    loan_validator: bytes | None
    loan_token: bytes | None

    def rate(self) -> ReceiptRate:
        if self.exchange_rate is None or self.qtoken_decimals is None or self.exchange_rate <= 0:
            raise BuildRefused(f"stub: no exchange rate or qToken decimals recorded for market "
                               f"{self.market_id}")
        scale = Fraction(10) ** (self.decimals - self.qtoken_decimals)
        return ReceiptRate(Fraction(str(self.exchange_rate)) * scale, "api")

    def need(self, what: str) -> bytes:
        value = getattr(self, what)
        if value is None:
            raise BuildRefused(f"stub: no {what.replace('_', ' ')} known for market "
                               f"{self.market_id}")
        return value


@dataclass
class _Output:
    address: bytes
    value: Counter[AssetKey]
    datum: Any = None  # plutus data, inlined


@dataclass
class _Draft:
    """A transaction being put together: what the venue side brings and takes."""

    wallet: list[tuple[tuple[bytes, int], TxOut]]
    change_address: bytes
    venue_inputs: list[tuple[tuple[bytes, int], Counter[AssetKey]]] = field(default_factory=list)
    venue_outputs: list[_Output] = field(default_factory=list)
    mint: Counter[AssetKey] = field(default_factory=Counter)
    ttl: int | None = None  # the last slot it is valid in


def wallet_utxos(pairs: Any) -> list[tuple[tuple[bytes, int], TxOut]]:
    if not isinstance(pairs, list) or not pairs:
        raise BuildRefused("utxos: the wallet's UTxOs (CIP-30 CBOR hex) are required")
    found = []
    for i, pair in enumerate(pairs):
        try:
            ref_cbor, out_cbor = cbor2.loads(bytes.fromhex(pair))
            found.append((tx_in(ref_cbor, f"utxos[{i}]"), tx_out(out_cbor, f"utxos[{i}]")))
        except (ValueError, TypeError, LedgerError, cbor2.CBORDecodeError) as error:
            raise BuildRefused(f"utxos[{i}]: not a CIP-30 UTxO: {error}") from None
    return found


def address_bytes(bech32: Any, what: str) -> bytes:
    from pycardano import Address

    try:
        return bytes(Address.from_primitive(bech32).to_primitive())
    except Exception:
        raise BuildRefused(f"{what}: not an address: {bech32!r:.80}") from None


def script_address(validator: bytes, like: bytes) -> bytes:
    """The enterprise script address of `validator` on `like`'s network."""
    return bytes([0x70 | (like[0] & 0x0F)]) + validator


def payment_key(address: bytes) -> bytes:
    if address[0] >> 4 not in (0, 2, 4, 6):
        raise BuildRefused("address: its payment part is not a key")
    return address[1:29]


def _value_of(out: TxOut) -> Counter[AssetKey]:
    value: Counter[AssetKey] = Counter({ADA_KEY: out.lovelace})
    value.update(out.assets)
    return value


def _encode_value(value: Counter[AssetKey]) -> Any:
    assets: dict[bytes, dict[bytes, int]] = {}
    for (policy, name), quantity in sorted(value.items()):
        if policy and quantity:
            assets.setdefault(policy, {})[name] = quantity
    return [value[ADA_KEY], assets] if assets else value[ADA_KEY]


def _encode_output(out: _Output) -> dict[int, Any]:
    encoded: dict[int, Any] = {0: out.address, 1: _encode_value(out.value)}
    if out.datum is not None:
        encoded[2] = [1, cbor2.CBORTag(24, cbor2.dumps(out.datum))]
    return encoded


def invented_ref(label: str) -> tuple[bytes, int]:
    """A made-up input ref for a venue UTxO the stub does not really know."""
    return hashlib.blake2b(f"liqwid-stub:{label}".encode(), digest_size=32).digest(), 0


def finish(draft: _Draft) -> bytes:
    """Balance the draft (all change to the change address), fee by size; the CBOR."""
    wallet_total: Counter[AssetKey] = Counter()
    for _, wallet_out in draft.wallet:
        wallet_total.update(_value_of(wallet_out))
    fee = 0
    while True:  # the fee changes the size a little: it settles in a round or two
        change: Counter[AssetKey] = Counter(wallet_total)
        for _, value in draft.venue_inputs:
            change.update(value)
        change.update(draft.mint)
        for venue_out in draft.venue_outputs:
            change.subtract(venue_out.value)
        change[ADA_KEY] -= fee
        short = {key: -q for key, q in change.items() if q < 0}
        if short:
            raise BuildRefused("stub: the wallet's UTxOs do not cover the transaction "
                               f"(short of {_describe(short)})")
        tx = _assemble(draft, _Output(draft.change_address, +change), fee)
        wanted = FEE_A * len(tx) + FEE_B
        if wanted <= fee:
            return tx
        fee = wanted


def _assemble(draft: _Draft, change: _Output, fee: int) -> bytes:
    inputs = sorted([ref for ref, _ in draft.wallet] + [ref for ref, _ in draft.venue_inputs])
    venue_refs = {ref for ref, _ in draft.venue_inputs}
    body: dict[int, Any] = {
        0: [list(ref) for ref in inputs],
        1: [_encode_output(o) for o in draft.venue_outputs + [change]],
        2: fee,
    }
    if draft.ttl is not None:
        body[3] = draft.ttl
    mint = {key: q for key, q in draft.mint.items() if q}
    if mint:
        grouped: dict[bytes, dict[bytes, int]] = {}
        for (policy, name), quantity in sorted(mint.items()):
            grouped.setdefault(policy, {})[name] = quantity
        body[9] = grouped
    plain = [ref for ref, out in draft.wallet if not out.assets]
    if venue_refs and plain:
        body[13] = [list(plain[0])]  # script collateral: an ADA-only wallet UTxO
    redeemers = [[0, i, cbor2.CBORTag(121, []), [1_000_000, 500_000_000]]
                 for i, ref in enumerate(inputs) if ref in venue_refs]
    redeemers += [[1, i, cbor2.CBORTag(121, []), [1_000_000, 500_000_000]]
                  for i, _ in enumerate(sorted({policy for policy, _ in mint}))]
    witnesses = {5: redeemers} if redeemers else {}
    return cbor2.dumps([body, witnesses, True, None])


def _describe(amounts: Mapping[AssetKey, int]) -> str:
    return ", ".join(f"{q} {'lovelace' if not p else (p + n).hex()}"
                     for (p, n), q in sorted(amounts.items()))


# --- the four builders -------------------------------------------------------------------------

def _draft(request: Mapping[str, Any]) -> _Draft:
    change = address_bytes(request.get("changeAddress") or request.get("address"),
                           "changeAddress")
    network = "mainnet" if change[0] & 0x0F == 1 else "preprod"
    ttl = ms_to_slot(network, int(time.time() * 1000)) + TTL_SLOTS
    return _Draft(wallet_utxos(request.get("utxos")), change, ttl=ttl)


def _action_in(draft: _Draft, market: StubMarket, extra: Counter[AssetKey], *,
               label: str = "") -> Counter[AssetKey]:
    """Spend an (invented) Action UTxO of `market` holding its token, 5 ADA and `extra`
    (`label`: another one of the market's Action UTxOs)."""
    value: Counter[AssetKey] = Counter({ADA_KEY: ACTION_LOVELACE,
                                        (market.need("action_token"), b""): 1})
    value.update(extra)
    draft.venue_inputs.append((invented_ref(f"action:{market.market_id}{label}"), value))
    return value


def _action_out(draft: _Draft, market: StubMarket, value: Counter[AssetKey],
                diffs: list[int]) -> None:
    address = script_address(market.need("action_validator"), draft.change_address)
    draft.venue_outputs.append(_Output(address, +value, [diffs, 0]))  # ActionDatum layout


def supply(request: Mapping[str, Any], market: StubMarket) -> bytes:
    amount = _positive(request.get("amount"), "amount")
    rate = market.rate()
    minted = rate.receipts_for_deposit(amount)
    draft = _draft(request)
    before = _action_in(draft, market, Counter())
    after = Counter(before)
    after[market.asset] += amount
    _action_out(draft, market, after, [amount, minted, 0, 0, 0])
    draft.mint[(market.need("qtoken_policy"), b"")] += minted
    return finish(draft)


def withdraw(request: Mapping[str, Any], market: StubMarket) -> bytes:
    amount = _positive(request.get("amount"), "amount")
    burned = market.rate().receipts_to_burn(amount)
    draft = _draft(request)
    before = _action_in(draft, market, Counter({market.asset: amount}))
    after = Counter(before)
    after[market.asset] -= amount
    _action_out(draft, market, after, [-amount, -burned, 0, 0, 0])
    draft.mint[(market.need("qtoken_policy"), b"")] -= burned
    return finish(draft)


def borrow(request: Mapping[str, Any], market: StubMarket,
           collaterals: Sequence[tuple[StubMarket, int]]) -> bytes:
    amount = _positive(request.get("amount"), "amount")
    draft = _draft(request)
    owner = payment_key(address_bytes(request.get("address"), "address"))
    before = _action_in(draft, market, Counter({market.asset: amount}))
    after = Counter(before)
    after[market.asset] -= amount
    _action_out(draft, market, after, [0, 0, amount, 0, 0])
    loan_token = (market.need("loan_token"), b"\x01")
    value: Counter[AssetKey] = Counter({ADA_KEY: LOAN_LOVELACE, loan_token: 1})
    for collateral, quantity in collaterals:
        value[(collateral.need("qtoken_policy"), b"")] += quantity
    draft.mint[loan_token] += 1
    address = script_address(market.need("loan_validator"), draft.change_address)
    draft.venue_outputs.append(_Output(address, value, [owner, amount, 0, 0, FIXED_DECIMAL]))
    return finish(draft)


def modify_borrow(request: Mapping[str, Any], market: StubMarket, loan_ref: tuple[bytes, int],
                  debt: int, current: Mapping[bytes, int], target_debt: int,
                  target: Mapping[bytes, int],
                  collateral_markets: Mapping[bytes, StubMarket] | None = None) -> bytes:
    """`current`/`target`: qToken policy -> base units locked before and after (a full
    repay frees all of `current`). With `redeemCollateral` the freed qTokens are burned
    at their market's Action UTxO and the wallet gets the underlying (rounded down);
    `collateral_markets` names each qToken's market."""
    draft = _draft(request)
    if request.get("redeemCollateral"):
        freed = {policy: quantity - (0 if target_debt == 0 else target.get(policy, 0))
                 for policy, quantity in current.items()}
        for policy, quantity in sorted(freed.items()):
            if quantity > 0:
                _redeem(draft, (collateral_markets or {}).get(policy), policy, quantity)
    owner = payment_key(address_bytes(request.get("address"), "address"))
    loan_token = (market.need("loan_token"), b"\x01")
    held: Counter[AssetKey] = Counter({ADA_KEY: LOAN_LOVELACE, loan_token: 1})
    for policy, quantity in current.items():
        held[(policy, b"")] += quantity
    draft.venue_inputs.append((loan_ref, held))
    delta = debt - target_debt  # > 0: the wallet repays; < 0: it borrows more
    if delta:
        before = _action_in(draft, market, Counter({market.asset: max(0, -delta)}))
        after = Counter(before)
        after[market.asset] += delta
        _action_out(draft, market, after, [0, 0, -delta, 0, 0])
    if target_debt == 0:
        draft.mint[loan_token] -= 1  # the loan ends; its collateral goes back to the wallet
    else:
        value: Counter[AssetKey] = Counter({ADA_KEY: LOAN_LOVELACE, loan_token: 1})
        for policy, quantity in target.items():
            value[(policy, b"")] += quantity
        address = script_address(market.need("loan_validator"), draft.change_address)
        draft.venue_outputs.append(_Output(address, value,
                                           [owner, target_debt, 0, 0, FIXED_DECIMAL]))
    return finish(draft)


def _redeem(draft: _Draft, market: StubMarket | None, policy: bytes, burned: int) -> None:
    """Burn `burned` qTokens freed from a loan at their market's (invented) Action UTxO,
    paying the wallet their underlying: a withdraw inside the loan's transaction."""
    if market is None:
        raise BuildRefused(f"stub: no market's qToken is {policy.hex()}")
    paid = market.rate().underlying(burned)
    before = _action_in(draft, market, Counter({market.asset: paid}), label="redeem")
    after = Counter(before)
    after[market.asset] -= paid
    _action_out(draft, market, after, [-paid, -burned, 0, 0, 0])
    draft.mint[(market.need("qtoken_policy"), b"")] -= burned


def _positive(value: Any, what: str) -> int:
    if type(value) is not int or value <= 0:
        raise BuildRefused("NaN cannot be converted to a BigInt" if not isinstance(value, int)
                           else f"{what} must be positive")
    return value
