"""The check of every transaction before it may be signed, whoever built it: decode it and
compare what it does with what it was meant to do. Pure: bytes and expectations in, a
verdict with its reasons out. A failed check means nothing is signed."""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import cbor2

from chain.ledger import LedgerError, Tx, TxOut, decode_transaction
from chain.ledger.address import address_text
from core.units import ADA, Asset
from protocols.model import Intent

from .addresses import AddressError, address_bytes, network_id, payment_script
from .expectation import Expectation, Value, output_value
from .order_reader import DexOrder, DexOrderReader

Network = Literal["mainnet", "preprod", "preview"]
Role = Literal["ours", "dex-order", "venue", "fee", "stranger"]


@dataclass(frozen=True)
class OutputFact:
    index: int
    address: str
    lovelace: int
    assets: dict[str, int]  # "<policy>.<name hex>" -> quantity
    role: Role


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    reasons: list[str]
    fee_lovelace: int | None = None
    ttl: int | None = None
    validity_start: int | None = None
    outputs: list[OutputFact] = field(default_factory=list)
    orders: list[DexOrder] = field(default_factory=list)
    balance_checked: bool = False  # our spent inputs were indexed and compared with the plan

    @property
    def min_out(self) -> int:
        return sum(order.min_receive for order in self.orders)

    @property
    def receivers(self) -> list[str]:
        return sorted({order.receiver for order in self.orders})

    def summary(self) -> dict[str, object]:
        """JSON-ready: what `dhl swap --dry-run` prints."""
        receivers = self.receivers
        return {
            "ok": self.ok, "reasons": list(self.reasons), "min_out": self.min_out,
            "receiver": receivers[0] if len(receivers) == 1 else receivers,
            "fee_lovelace": self.fee_lovelace, "ttl": self.ttl,
            "validity_start": self.validity_start, "balance_checked": self.balance_checked,
            "outputs": [{"index": o.index, "address": o.address, "lovelace": o.lovelace,
                         "assets": o.assets, "role": o.role} for o in self.outputs],
            "orders": [{"dex": o.dex, "receiver": o.receiver, "want": o.want.unit,
                        "min_receive": o.min_receive, "batcher_fee": o.batcher_fee,
                        "deposit": o.deposit} for o in self.orders],
        }


def amount(asset: Asset, quantity: int) -> str:
    if asset.is_ada:
        return f"{quantity} lovelace"
    return f"{quantity} of {asset.policy}.{asset.name}"


def _values(value: Value) -> str:
    return ", ".join(amount(a, q) for a, q in sorted(value.items(), key=lambda i: i[0].unit)
                     if q) or "nothing"


def check_transaction(tx_cbor: bytes, expected: Expectation, *,
                      readers: Sequence[DexOrderReader], now_slot: int,
                      network: Network) -> CheckResult:
    try:
        tx = decode_transaction(tx_cbor)
    except LedgerError as exc:
        return CheckResult(False, [f"the transaction does not decode: {exc}"])
    return _Check(tx, expected, readers, now_slot, network).run()


class _Check:
    def __init__(self, tx: Tx, expected: Expectation, readers: Sequence[DexOrderReader],
                 now_slot: int, network: Network) -> None:
        self.tx, self.x, self.readers, self.now = tx, expected, readers, now_slot
        self.network = 1 if network == "mainnet" else 0
        self.reasons: list[str] = []
        self.facts: list[OutputFact] = []
        self.orders: list[DexOrder] = []
        self.returned: Value = Counter()
        self.paid: dict[str, Value] = {}
        self.fees_paid: dict[str, Value] = {}

    def run(self) -> CheckResult:
        tx = self.tx
        if not tx.valid:
            self.reasons.append("the transaction is marked invalid: only collateral would move")
        self._fee()
        self._window()
        for index, out in enumerate(tx.outputs):
            self._output(index, out)
        self._order_totals()
        self._venue_and_fees()
        self._wallet_balance()
        self._mint()
        self._signers()
        self._collateral()
        self._body_extras()
        return CheckResult(ok=not self.reasons, reasons=self.reasons, fee_lovelace=tx.fee,
                           ttl=tx.ttl, validity_start=tx.validity_start, outputs=self.facts,
                           orders=self.orders,
                           balance_checked=self.x.our_utxos is not None)

    # --- fee and validity window ------------------------------------------------------

    def _fee(self) -> None:
        fee = self.tx.fee or 0
        if fee > self.x.fee_cap:
            self.reasons.append(f"network fee {fee} lovelace is over the cap of "
                                f"{self.x.fee_cap} lovelace")

    def _window(self) -> None:
        ttl, start, now = self.tx.ttl, self.tx.validity_start, self.now
        if ttl is None:
            self.reasons.append("no TTL: the transaction would stay valid forever")
        elif ttl <= now:
            self.reasons.append(f"TTL slot {ttl} is in the past (now slot {now})")
        elif ttl > now + self.x.max_ttl_ahead:
            self.reasons.append(f"TTL slot {ttl} is {ttl - now} slots ahead, more than "
                                f"{self.x.max_ttl_ahead}")
        if start is not None and start > now + self.x.max_start_ahead:
            self.reasons.append(f"validity starts at slot {start}, {start - now} slots in "
                                f"the future (at most {self.x.max_start_ahead})")

    # --- outputs ----------------------------------------------------------------------

    def _output(self, index: int, out: TxOut) -> None:
        value = output_value(out.lovelace, out.assets)
        role = self._classify(index, out, value)
        self.facts.append(OutputFact(
            index, out.address, out.lovelace,
            {f"{p.hex()}.{n.hex()}": q for (p, n), q in out.assets.items()}, role))

    def _classify(self, index: int, out: TxOut, value: Value) -> Role:
        x = self.x
        if network_id(out.address_bytes) != self.network and out.address_bytes[0] >> 4 <= 7:
            self.reasons.append(f"output {index} pays {out.address} on the wrong network")
        if out.address in x.ours:
            self.returned.update(value)
            return "ours"
        script = payment_script(out.address_bytes)
        if script is not None and self._is_dex(script):
            self._order(index, out, script)
            return "dex-order"
        venue = {t.party for t in x.intent.to_venue}
        if out.address in venue or (script is not None and script in x.venue_scripts):
            self.paid.setdefault(out.address, Counter()).update(value)
            return "venue"
        if out.address in {t.party for t in x.intent.fees}:
            self.fees_paid.setdefault(out.address, Counter()).update(value)
            return "fee"
        self.reasons.append(f"output {index} pays {_values(value)} to {out.address}, "
                            f"which is not an expected party")
        return "stranger"

    def _is_dex(self, script: str) -> bool:
        return script in self.x.dex_scripts or any(
            script in reader.order_scripts for reader in self.readers)

    def _order(self, index: int, out: TxOut, script: str) -> None:
        datum = out.inline_datum
        if datum is None and out.datum_hash is not None:
            datum = self.tx.datums.get(out.datum_hash)
        dex = self.x.dex_scripts.get(script, f"script {script}")
        for reader in self.readers:
            if script not in reader.order_scripts:
                continue
            try:
                order = reader.read(out, datum)
            except Exception as exc:  # any failure to read is a refusal, never a guess
                self.reasons.append(f"output {index}: the {dex} order datum at {out.address} "
                                    f"does not decode ({exc}): it could pay its output to "
                                    f"anyone")
                return
            if order is not None:
                self._expected_order(index, order)
                return
        self.reasons.append(f"output {index} pays {out.lovelace} lovelace to a {dex} order "
                            f"script ({out.address}) whose datum this project cannot read: "
                            f"it could pay its output to anyone")

    def _expected_order(self, index: int, order: DexOrder) -> None:
        self.orders.append(order)
        want = self.x.order
        if want is None:
            self.reasons.append(f"output {index} places a {order.dex} order that was not "
                                f"expected")
            return
        if order.receiver not in self.x.ours:
            self.reasons.append(f"output {index}: the {order.dex} order pays its receiver "
                                f"{order.receiver}, which is not our address")
        if order.want != want.want:
            self.reasons.append(f"output {index}: the {order.dex} order buys "
                                f"{order.want.unit}, expected {want.want.unit}")
        if want.dexes is not None and order.dex not in want.dexes:
            self.reasons.append(f"output {index}: order at {order.dex}, expected one of "
                                f"{sorted(want.dexes)}")

    def _order_totals(self) -> None:
        want = self.x.order
        if want is None:
            return
        if not self.orders:
            self.reasons.append(f"no DEX order buying {want.want.unit} was found")
            return
        total = sum(o.min_receive for o in self.orders if o.want == want.want)
        if total < want.min_receive:
            self.reasons.append(f"the orders' minimum receive is {amount(want.want, total)}, "
                                f"below the quote's floor of "
                                f"{amount(want.want, want.min_receive)}")
        batcher = sum(o.batcher_fee for o in self.orders)
        if want.max_batcher_fee is not None and batcher > want.max_batcher_fee:
            self.reasons.append(f"batcher fees {batcher} lovelace exceed the quoted "
                                f"{want.max_batcher_fee} lovelace")

    def _venue_and_fees(self) -> None:
        intent = self.x.intent
        for t in intent.to_venue:
            got = self.paid.get(t.party, Counter())[t.asset]
            if got < t.amount:
                self.reasons.append(f"the venue ({t.party}) gets {amount(t.asset, got)}, the "
                                    f"intent says {amount(t.asset, t.amount)}")
        allowed: dict[str, Value] = {}
        for t in intent.fees:
            allowed.setdefault(t.party, Counter())[t.asset] += t.amount
        for party, value in self.fees_paid.items():
            for asset, quantity in value.items():
                if quantity > allowed[party][asset]:
                    self.reasons.append(f"fee to {party}: {amount(asset, quantity)} is more "
                                        f"than the quoted {amount(asset, allowed[party][asset])}")

    # --- what leaves our wallets --------------------------------------------------------

    def _wallet_balance(self) -> None:
        utxos = self.x.our_utxos
        if utxos is None:
            return  # not indexed: the outputs' parties are all that can be checked
        spent: Value = Counter()
        for ref in self.tx.inputs:
            if ref in utxos:
                spent.update(utxos[ref])
        if not spent:
            self.reasons.append("spends none of our indexed UTxOs")
            return
        intent = self.x.intent
        leaves: Value = Counter()
        for t in intent.leaves:
            leaves[t.asset] += t.amount
        back: Value = Counter()
        if intent.settles == "now":
            for t in intent.comes_back:
                back[t.asset] += t.amount
        fee = self.tx.fee or 0
        for asset in sorted(set(spent) | set(self.returned) | set(leaves) | set(back),
                            key=lambda a: a.unit):
            net = spent[asset] - self.returned[asset]
            planned = leaves[asset] - back[asset]
            if asset == ADA:
                if net - fee > planned:
                    self.reasons.append(f"{net - fee} lovelace leaves our wallets (network fee "
                                        f"{fee} apart), the plan says {planned}")
            elif net != planned:
                self.reasons.append(f"{amount(asset, net)} leaves our wallets, the plan says "
                                    f"{planned}")

    # --- mint, signers, collateral ------------------------------------------------------

    def _mint(self) -> None:
        minted = {Asset(p.hex(), n.hex()): q for (p, n), q in self.tx.mint.items()}
        for asset in sorted(set(minted) | set(self.x.mint), key=lambda a: a.unit):
            got, want = minted.get(asset, 0), self.x.mint.get(asset, 0)
            if got != want:
                self.reasons.append(f"mints {got} of {asset.policy}.{asset.name}, expected "
                                    f"{want}")

    def _signers(self) -> None:
        for signer in self.tx.required_signers:
            if signer not in self.x.signers:
                self.reasons.append(f"requires a signature from key {signer.hex()}, which is "
                                    f"not ours")

    def _body_extras(self) -> None:
        _body_extras(self)

    def _collateral(self) -> None:
        ret = self.tx.collateral_return
        if ret is not None and ret.address not in self.x.ours:
            self.reasons.append(f"collateral return of {ret.lovelace} lovelace goes to "
                                f"{ret.address}, not to us")
        utxos = self.x.our_utxos
        if not self.tx.collateral or utxos is None:
            return
        ours = sum(utxos[ref][ADA] for ref in self.tx.collateral if ref in utxos)
        back = ret.lovelace if ret is not None and ret.address in self.x.ours else 0
        if ours - back > self.x.max_collateral_at_risk:
            self.reasons.append(f"{ours - back} lovelace of our collateral is at risk if a "
                                f"script fails, more than {self.x.max_collateral_at_risk}")


# body keys (Conway CDDL) the Tx view does not carry: network id, certificates, votes,
# proposals, treasury donation
_NETWORK_ID, _CERTIFICATES, _VOTES, _PROPOSALS, _DONATION = 15, 4, 19, 20, 22


def _body_extras(check: _Check) -> None:
    body = cbor2.loads(check.tx.body_raw)
    x, reasons = check.x, check.reasons
    if _NETWORK_ID in body and body[_NETWORK_ID] != check.network:
        reasons.append(f"the body's network id is {body[_NETWORK_ID]}, not {check.network}")
    certificates = body.get(_CERTIFICATES) or ()
    if len(certificates) > x.certificates:
        reasons.append(f"carries {len(certificates)} certificate(s), {x.certificates} expected "
                       f"(a delegation or deregistration nobody planned)")
    for key, what in ((_VOTES, "votes"), (_PROPOSALS, "governance proposals"),
                      (_DONATION, "a treasury donation")):
        if body.get(key):
            reasons.append(f"carries {what}, which nothing planned")
    for account, quantity in check.tx.withdrawals.items():
        if x.withdrawals.get(account) != quantity:
            reasons.append(f"withdraws {quantity} lovelace from reward account "
                           f"{address_text(account)}, not planned")


def check_cost(tx_cbor: bytes, n: int, expected: Expectation | None = None, *,
               readers: Sequence[DexOrderReader] = (), now_slot: int | None = None,
               network: Network = "mainnet") -> tuple[float, float]:
    """Seconds per check and seconds per `cbor2.loads` of the same bytes, n runs each.
    Without an expectation, one that accepts the transaction as it is (every output ours)
    is used: the decoding and the walk over the outputs are what cost."""
    if expected is None or now_slot is None:
        tx = decode_transaction(tx_cbor)
        now_slot = now_slot if now_slot is not None else (tx.validity_start or 0)
        if expected is None:
            intent = Intent(action="bench", venue="", market="", wallet="", leaves=(),
                            comes_back=())
            expected = Expectation(intent=intent, ours=frozenset(o.address for o in tx.outputs),
                                   fee_cap=tx.fee or 0, max_ttl_ahead=1 << 62)
    start = time.perf_counter()
    for _ in range(n):
        check_transaction(tx_cbor, expected, readers=readers, now_slot=now_slot,
                          network=network)
    checked = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for _ in range(n):
        cbor2.loads(tx_cbor)
    return checked, (time.perf_counter() - start) / n


__all__ = ["AddressError", "CheckResult", "OutputFact", "address_bytes", "amount",
           "check_cost", "check_transaction"]
