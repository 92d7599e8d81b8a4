"""Transactions for Levvy's documented v2 token flows (lending.md §2.4), built by the
project with pycardano's types and nothing online. Pure: each builder takes the wallet's
UTxOs (CIP-30 CBOR pairs), the offer / loan / repayment UTxO read from chain, the
configuration and the time, and returns an unsigned transaction with its exact Intent.

UNVERIFIED: these shapes follow SAIB's and a SAIB developer's preview-testnet code and the
one mainnet-addressed datum; no transaction built here has been checked against Levvy's
mainnet scripts, which are not public. Read docs/venues.md before using them.

- Lend: pay `loan_amount` to the validator (script credential + the lender's stake key)
  with a LendToken datum. No script runs.
- Cancel: the lender spends their offer (redeemer Cancel 4) and signs.
- Borrow: spend the offer (Borrow 0); lock the collateral plus min-ADA at the validator
  (+ the borrower's stake key) with a BorrowToken datum naming the offer; pay the
  borrower's fee (12.5 % of the interest) to the "main" address with a PaymentDatum.
- Repay: the borrower spends the loan (Repay 1), signs, and pays loan + interest to the
  validator (+ the lender's stake key) with a RepayToken datum naming the loan; the
  collateral comes back.
- Foreclose: after the loan's end, the lender spends the loan (Foreclose 3), signs, takes
  the collateral and pays the lender's fee to "main" with a PaymentDatum.
- Claim: the lender spends a repayment (Claim 2), signs, and pays the lender's fee.

Plutus execution units cannot be evaluated offline (that needs the script and a ledger):
every script spend carries the fixed budget of the configuration (default 1,400,000 mem,
1,000,000,000 steps, the budget SAIB's test code used). Evaluate the transaction with a
node (e.g. Ogmios evaluateTransaction) before signing; a node refuses a transaction whose
budget is short. The fee is computed from the fixed parameters in params.py.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Mapping, Sequence, TypeVar

import cbor2
from pycardano import (
    Address,
    Asset as PcAsset,
    AssetName,
    ExecutionUnits,
    MultiAsset,
    Network,
    PaymentVerificationKey,
    RedeemerKey,
    RedeemerMap,
    RedeemerTag,
    RedeemerValue,
    ScriptHash,
    Transaction,
    TransactionBody,
    TransactionInput,
    TransactionOutput,
    TransactionWitnessSet,
    Value,
    VerificationKeyHash,
    VerificationKeyWitness,
)
from pycardano.plutus import CostModels
from pycardano.serialization import RawCBOR
from pycardano.utils import script_data_hash

from core.units import ADA, Asset
from protocols.base import StoredUtxo
from protocols.errors import Unsupported, VenueError
from protocols.model import Intent, Transfer, UnsignedTx, Wallet
from protocols.offline_chain import MAINNET_CONWAY, ProtocolParams

from .config import NetworkConfig
from .datums import (
    VENUE,
    Credential,
    DatumAddress,
    LevvyDatum,
    Loan,
    Offer,
    OutRef,
    Repayment,
    encode_datum,
    payment_datum,
    read_datum,
)
from .redeemers import TokenAction, token_action_redeemer
from .slots import SlotClock

UNVERIFIED = ("UNVERIFIED: Levvy's mainnet scripts are not public; this shape follows "
              "preview-testnet code (docs/venues.md)")
BUDGET_NOTE = ("the script budget is fixed, not evaluated offline: evaluate the "
               "transaction with a node before signing")


class BuildRefused(VenueError):
    """The transaction cannot be built as asked: not enough funds, not this wallet's
    offer or loan, too early to foreclose. The message says which."""


# --- inputs ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ScriptUtxo:
    """A Levvy UTxO as read from chain: where it is, what it holds, its inline datum."""

    ref: str  # "txid#ix"
    address: str
    lovelace: int
    assets: Mapping[Asset, int]
    datum: bytes

    @classmethod
    def from_stored(cls, utxo: StoredUtxo) -> "ScriptUtxo":
        if utxo.inline_datum is None:
            raise BuildRefused(VENUE, f"{utxo.ref} has no inline datum: not a Levvy UTxO")
        return cls(utxo.ref, utxo.address, utxo.lovelace,
                   {Asset(p, n): q for (p, n), q in utxo.assets.items()}, utxo.inline_datum)

    def value(self) -> Counter[Asset]:
        value: Counter[Asset] = Counter({ADA: self.lovelace})
        value.update(self.assets)
        return value

    def read(self) -> LevvyDatum:
        return read_datum(self.datum)


@dataclass(frozen=True)
class BuildContext:
    config: NetworkConfig
    clock: SlotClock
    now_ms: int
    mainnet: bool
    params: ProtocolParams = MAINNET_CONWAY
    ttl_s: int = 1800  # how long a built transaction stays valid

    @property
    def network(self) -> Network:
        return Network.MAINNET if self.mainnet else Network.TESTNET

    @property
    def now_slot(self) -> int:
        return self.clock.slot_at(self.now_ms)


@dataclass
class _Plan:
    outputs: list[TransactionOutput]
    script_inputs: list[tuple[ScriptUtxo, bytes]] = field(default_factory=list)
    required_signers: list[bytes] = field(default_factory=list)
    validity_start: int | None = None
    ttl: int | None = None


# --- values and addresses ----------------------------------------------------------------

def _pc_value(value: Mapping[Asset, int]) -> Value:
    multi = MultiAsset()
    for asset, quantity in sorted(value.items()):
        if asset.is_ada or quantity == 0:
            continue
        policy = ScriptHash(bytes.fromhex(asset.policy))
        multi.setdefault(policy, PcAsset())[AssetName(bytes.fromhex(asset.name))] = quantity
    return Value(value.get(ADA, 0), multi)


def _counter(value: Value) -> Counter[Asset]:
    counted: Counter[Asset] = Counter({ADA: value.coin})
    for policy, names in value.multi_asset.items():
        for name, quantity in names.items():
            counted[Asset(policy.payload.hex(), name.payload.hex())] += quantity
    return counted


def _datum_address(address: Address, what: str) -> DatumAddress:
    if not isinstance(address.payment_part, VerificationKeyHash):
        raise BuildRefused(VENUE, f"{what} must be a key address (it signs), not a script")
    payment = Credential("key", address.payment_part.payload)
    stake = address.staking_part
    if isinstance(stake, VerificationKeyHash):
        return DatumAddress(payment, stake=Credential("key", stake.payload))
    if isinstance(stake, ScriptHash):
        return DatumAddress(payment, stake=Credential("script", stake.payload))
    return DatumAddress(payment)  # enterprise (a pointer is not carried over)


def _validator_address(ctx: BuildContext, owner: DatumAddress) -> Address:
    """The validator with the owner's stake credential: lender ADA keeps its stake key,
    collateral is "locked to your stake key" (Levvy docs); a pointer is dropped."""
    stake = None
    if owner.stake is not None:
        stake = (VerificationKeyHash(owner.stake.hash) if owner.stake.kind == "key"
                 else ScriptHash(owner.stake.hash))
    return Address(ScriptHash(ctx.config.validator_hash), stake, ctx.network)


def _output(address: Address, value: Mapping[Asset, int],
            datum: bytes | None = None) -> TransactionOutput:
    return TransactionOutput(address, _pc_value(value),
                             datum=None if datum is None else RawCBOR(datum))


def _min_lovelace(ctx: BuildContext, address: Address, value: Mapping[Asset, int],
                  datum: bytes | None = None) -> int:
    lovelace = max(value.get(ADA, 0), 1_000_000)
    for _ in range(4):  # the coin's own size moves the minimum by a few bytes at most
        sized = dict(value)
        sized[ADA] = lovelace
        needed = ctx.params.min_lovelace(len(_output(address, sized, datum).to_cbor()))
        if needed == lovelace:
            break
        lovelace = needed
    return lovelace


def _funded_output(ctx: BuildContext, address: Address, value: Mapping[Asset, int],
                   datum: bytes | None = None) -> TransactionOutput:
    """`value`, its ADA raised to the output's minimum where needed."""
    lovelace = max(value.get(ADA, 0), _min_lovelace(ctx, address, value, datum))
    return _output(address, {**value, ADA: lovelace}, datum)


def _fee_of_interest(interest: int, percent: Decimal) -> int:
    """Levvy's fee: a per-mille share of the interest, rounded down (SAIB's
    `amount * feePercent / 1000` with feePercent 125 for 12.5 %)."""
    return math.floor(Fraction(interest) * Fraction(percent) / 100)


def _ref_input(ref: str) -> TransactionInput:
    tx_id, _, index = ref.partition("#")
    return TransactionInput.from_primitive([bytes.fromhex(tx_id), int(index)])


def _input_key(tx_in: TransactionInput) -> tuple[bytes, int]:
    return tx_in.transaction_id.payload, tx_in.index


# --- the wallet ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _WalletUtxo:
    input: TransactionInput
    output: TransactionOutput

    @property
    def key(self) -> tuple[bytes, int]:
        return _input_key(self.input)

    @property
    def value(self) -> Counter[Asset]:
        return _counter(self.output.amount)


def wallet_utxos(wallet: Wallet) -> list[_WalletUtxo]:
    """The wallet's key-controlled UTxOs, largest first (ties by reference)."""
    found = []
    for pair in wallet.utxos_cbor:
        try:
            ref, out = cbor2.loads(bytes.fromhex(pair))
            utxo = _WalletUtxo(TransactionInput.from_primitive(ref),
                               TransactionOutput.from_primitive(out))
        except Exception as error:  # bad hex, bad CBOR, or pycardano's own errors
            raise BuildRefused(VENUE, f"a wallet UTxO is not a CIP-30 [input, output] "
                                      f"pair: {type(error).__name__}") from None
        if isinstance(utxo.output.address.payment_part, VerificationKeyHash):
            found.append(utxo)
    found.sort(key=lambda u: (-u.output.amount.coin, u.key))
    return found


def _select(ctx: BuildContext, utxos: Sequence[_WalletUtxo], need: Counter[Asset],
            change_address: Address) -> tuple[list[_WalletUtxo], Counter[Asset]]:
    """Wallet UTxOs covering `need` (tokens first, then ADA) with a change that meets
    its minimum ADA; returns them and the change."""
    chosen: list[_WalletUtxo] = []
    have: Counter[Asset] = Counter()

    def take(utxo: _WalletUtxo) -> None:
        chosen.append(utxo)
        have.update(utxo.value)

    for asset in sorted(a for a, q in need.items() if not a.is_ada and q > 0):
        holders = sorted((u for u in utxos if u.value[asset] > 0),
                         key=lambda u: (-u.value[asset], u.key))
        for utxo in holders:
            if have[asset] >= need[asset]:
                break
            if utxo not in chosen:
                take(utxo)
        if have[asset] < need[asset]:
            raise BuildRefused(VENUE, f"the wallet holds {have[asset]} of {asset}, "
                                      f"{need[asset]} needed")
    rest = iter(u for u in utxos if u not in chosen)
    while True:
        change = Counter(have)
        change.subtract(need)
        tokens = {a: q for a, q in change.items() if not a.is_ada and q}
        lovelace = change[ADA]
        if chosen and lovelace == 0 and not tokens:
            return chosen, change  # exactly spent: no change output
        if chosen and lovelace >= _min_lovelace(ctx, change_address, {**tokens, ADA: 0}):
            return chosen, change
        extra = next(rest, None)
        if extra is None:
            short = _min_lovelace(ctx, change_address, {**tokens, ADA: 0}) - lovelace
            raise BuildRefused(VENUE, f"the wallet is {short} lovelace short of what this "
                                      "transaction needs (with fee and change)")
        take(extra)


def _collateral(ctx: BuildContext, utxos: Sequence[_WalletUtxo], amount: int,
                return_address: Address) -> tuple[_WalletUtxo, TransactionOutput]:
    """One wallet UTxO as Plutus collateral (ADA-only preferred) and its return."""
    ordered = sorted(utxos, key=lambda u: (len(u.value) > 1, -u.output.amount.coin, u.key))
    for utxo in ordered:
        back = utxo.value
        back[ADA] -= amount
        if back[ADA] >= _min_lovelace(ctx, return_address, {**back, ADA: 0}):
            return utxo, _output(return_address, back)
    raise BuildRefused(VENUE, f"no wallet UTxO can serve as collateral for {amount} lovelace")


# --- assembling one transaction ------------------------------------------------------------

def _assemble(ctx: BuildContext, wallet: Wallet, plan: _Plan) -> bytes:
    utxos = wallet_utxos(wallet)
    if not utxos:
        raise BuildRefused(VENUE, "the wallet has no key-controlled UTxOs")
    change_address = Address.from_primitive(wallet.change)
    builder = ctx.config.builder
    scripts = bool(plan.script_inputs)
    if scripts and builder is None:
        raise Unsupported(VENUE, "spending Levvy's script needs the `builder` section of "
                                 "LEVVY_CONFIG_FILE (reference script, cost model)")
    out_value: Counter[Asset] = Counter()
    for out in plan.outputs:
        out_value.update(_counter(out.amount))
    script_value: Counter[Asset] = Counter()
    for utxo, _ in plan.script_inputs:
        script_value.update(utxo.value())

    fee = 0
    for _ in range(12):
        need = Counter(out_value)
        need[ADA] += fee
        need.subtract(script_value)
        chosen, change = _select(ctx, utxos, need, change_address)
        tx, signers = _transaction(ctx, plan, chosen, change, change_address, fee, utxos)
        size = len(_with_fake_witnesses(tx, len(signers)).to_cbor())
        if size > ctx.params.max_tx_size:
            raise BuildRefused(VENUE, f"the transaction would be {size} bytes, over the "
                                      f"{ctx.params.max_tx_size}-byte limit")
        needed = ctx.params.min_fee_a * size + ctx.params.min_fee_b
        if scripts and builder is not None:
            mem, steps = builder.execution_units
            count = len(plan.script_inputs)
            needed += ctx.params.script_fee(mem * count, steps * count)
            needed += ctx.params.reference_scripts_fee(builder.reference_script_size)
        if needed <= fee:
            return tx.to_cbor()
        fee = needed
    raise BuildRefused(VENUE, "the fee did not settle (wallet UTxOs too fragmented?)")


def _transaction(ctx: BuildContext, plan: _Plan, chosen: Sequence[_WalletUtxo],
                 change: Counter[Asset], change_address: Address, fee: int,
                 utxos: Sequence[_WalletUtxo]) -> tuple[Transaction, set[bytes]]:
    """The transaction, and the payment keys that must sign it (for its size)."""
    signers = {bytes(u.output.address.payment_part.payload) for u in chosen}
    signers.update(plan.required_signers)
    inputs = [u.input for u in chosen] + [_ref_input(s.ref) for s, _ in plan.script_inputs]
    inputs.sort(key=_input_key)
    outputs = list(plan.outputs)
    if any(change.values()):
        outputs.append(_output(change_address, +change))
    body = TransactionBody(inputs=inputs, outputs=outputs, fee=fee, ttl=plan.ttl,
                           validity_start=plan.validity_start)
    witnesses = TransactionWitnessSet()
    builder = ctx.config.builder
    if plan.script_inputs and builder is not None:
        mem, steps = builder.execution_units
        if mem * len(plan.script_inputs) > ctx.params.max_tx_ex_mem or \
                steps * len(plan.script_inputs) > ctx.params.max_tx_ex_steps:
            raise BuildRefused(VENUE, "the fixed script budget exceeds the transaction limit")
        order = [_input_key(i) for i in inputs]
        redeemers = RedeemerMap({
            RedeemerKey(RedeemerTag.SPEND, order.index(_input_key(_ref_input(utxo.ref)))):
                RedeemerValue(RawCBOR(redeemer), ExecutionUnits(mem, steps))
            for utxo, redeemer in plan.script_inputs})
        witnesses = TransactionWitnessSet(redeemer=redeemers)
        language = builder.plutus_version - 1  # PlutusV2 is language 1, V3 language 2
        body.script_data_hash = script_data_hash(redeemers, None, CostModels(
            {language: dict(enumerate(builder.cost_model))}))
        body.reference_inputs = [_ref_input(builder.validator_reference)]
        amount = math.ceil(Fraction(fee * ctx.params.collateral_percent, 100))
        collateral, back = _collateral(ctx, utxos, amount, change_address)
        body.collateral = [collateral.input]
        signers.add(bytes(collateral.output.address.payment_part.payload))
        body.collateral_return = back
        body.total_collateral = amount
        if plan.required_signers:
            body.required_signers = [VerificationKeyHash(h)
                                     for h in sorted(set(plan.required_signers))]
    return Transaction(body, witnesses), signers


def _with_fake_witnesses(tx: Transaction, count: int) -> Transaction:
    """The same transaction with `count` dummy key witnesses: the size it will have once
    signed, which is what the fee is paid on."""
    dummy = VerificationKeyWitness(PaymentVerificationKey.from_primitive(bytes(32)), bytes(64))
    witnesses = TransactionWitnessSet(vkey_witnesses=[dummy] * count,
                                      redeemer=tx.transaction_witness_set.redeemer)
    return Transaction(tx.transaction_body, witnesses)


# --- checks shared by the builders ----------------------------------------------------------

def _wallet_address(wallet: Wallet) -> Address:
    try:
        return Address.from_primitive(wallet.address)
    except Exception:  # pycardano raises several types for a bad address
        raise BuildRefused(VENUE, f"not a Cardano address: {wallet.address!r}") from None


def _owned_by(wallet: Wallet, owner: DatumAddress, role: str, ref: str) -> bytes:
    """The wallet's payment key hash, which must be `owner`'s (it signs)."""
    address = _wallet_address(wallet)
    pkh = address.payment_part.payload
    if owner.payment.kind != "key" or owner.payment.hash != pkh:
        raise BuildRefused(VENUE, f"{ref}: the {role} is {owner.payment.hash.hex()}, not this "
                                  f"wallet's key {pkh.hex()}")
    return bytes(pkh)


_D = TypeVar("_D", Offer, Loan, Repayment)


def _v2_datum(utxo: ScriptUtxo, kind: type[_D]) -> _D:
    """The UTxO's datum, which must be a v2 `kind` (the only ones built here)."""
    datum = utxo.read()
    if not isinstance(datum, kind):
        raise BuildRefused(VENUE, f"{utxo.ref} holds a {type(datum).__name__.lower()} datum, "
                                  f"not the {kind.__name__.lower()} this needs")
    if datum.version != "v2":
        raise Unsupported(VENUE, f"{utxo.ref}: only v2 token datums are built here "
                                 f"(this one is {datum.version})")
    return datum


def _holds(utxo: ScriptUtxo, asset: Asset, amount: int, what: str) -> None:
    held = utxo.value()[asset]
    if held < amount:
        raise BuildRefused(VENUE, f"{utxo.ref} holds {held} of {asset}, less than {what} "
                                  f"its datum names ({amount}): not a real Levvy UTxO")


def _main_address(ctx: BuildContext) -> Address:
    if ctx.config.main_address is None:
        raise Unsupported(VENUE, "the fee (main) address is not configured "
                                 "(main_address in LEVVY_CONFIG_FILE)")
    return Address.from_primitive(ctx.config.main_address)


def _script_ref(utxo: ScriptUtxo, wrapped: bool) -> OutRef:
    return OutRef.from_text(utxo.ref, wrapped)


def _intent(action: str, market: str, wallet: Wallet, *, leaves: Sequence[Transfer] = (),
            comes_back: Sequence[Transfer] = (), to_venue: Sequence[Transfer] = (),
            fees: Sequence[Transfer] = (), notes: Sequence[str] = ()) -> Intent:
    return Intent(action=action, venue=VENUE, market=market, wallet=wallet.address,
                  leaves=tuple(leaves), comes_back=tuple(comes_back),
                  to_venue=tuple(to_venue), fees=tuple(fees),
                  notes=(UNVERIFIED, *notes))


def _transfers(party: str, value: Mapping[Asset, int]) -> list[Transfer]:
    return [Transfer(party, asset, quantity) for asset, quantity in sorted(value.items())
            if quantity]


def _market(policy_id: bytes, asset_name: bytes) -> str:
    return str(Asset(policy_id.hex(), asset_name.hex()))


# --- the flows ---------------------------------------------------------------------------------

def build_offer(ctx: BuildContext, wallet: Wallet, collateral: Asset, token_amount: int,
                loan_amount: int, interest_amount: int) -> UnsignedTx:
    """Lend: an open offer of `loan_amount` lovelace against `token_amount` units of
    `collateral`, for `interest_amount` lovelace over the configured duration."""
    if collateral.is_ada:
        raise BuildRefused(VENUE, "Levvy lends ADA against tokens: the collateral cannot be ADA")
    for name, value in (("token_amount", token_amount), ("loan_amount", loan_amount),
                        ("interest_amount", interest_amount)):
        if not isinstance(value, int) or value <= 0:
            raise BuildRefused(VENUE, f"{name} must be a positive integer, got {value!r}")
    lender = _datum_address(_wallet_address(wallet), "the lender's wallet")
    offer = Offer(version="v2", form="nested", lender=lender,
                  policy_id=bytes.fromhex(collateral.policy),
                  asset_name=bytes.fromhex(collateral.name), token_amount=token_amount,
                  loan_amount=loan_amount, interest_amount=interest_amount,
                  loan_duration_ms=ctx.config.loan_duration_ms,
                  output_reference=OutRef(b"\x00", 0))
    venue = _validator_address(ctx, lender)
    datum = encode_datum(offer)
    if loan_amount < _min_lovelace(ctx, venue, {ADA: loan_amount}, datum):
        raise BuildRefused(VENUE, f"a loan of {loan_amount} lovelace is below the offer "
                                  "output's minimum ADA")
    plan = _Plan(outputs=[_output(venue, {ADA: loan_amount}, datum)])
    cbor = _assemble(ctx, wallet, plan)
    party = str(venue)
    intent = _intent("lend", str(collateral), wallet,
                     leaves=[Transfer(party, ADA, loan_amount)],
                     to_venue=[Transfer(party, ADA, loan_amount)],
                     notes=["an offer: the ADA stays at the validator under the lender's "
                            "stake key until a borrower takes it or the lender cancels",
                            f"the lender's fee ({ctx.config.fees.token_lender_percent} % of "
                            "the interest) is paid at claim or foreclosure"])
    return UnsignedTx(cbor, intent, "project")


def build_cancel(ctx: BuildContext, wallet: Wallet, offer_utxo: ScriptUtxo) -> UnsignedTx:
    """The lender takes back an offer nobody has taken."""
    offer = _v2_datum(offer_utxo, Offer)
    signer = _owned_by(wallet, offer.lender, "lender", offer_utxo.ref)
    plan = _Plan(outputs=[], script_inputs=[(offer_utxo, token_action_redeemer("cancel"))],
                 required_signers=[signer], ttl=ctx.now_slot + ctx.ttl_s)
    cbor = _assemble(ctx, wallet, plan)
    intent = _intent("cancel", _market(offer.policy_id, offer.asset_name), wallet,
                     comes_back=_transfers(wallet.address, offer_utxo.value()),
                     notes=[BUDGET_NOTE])
    return UnsignedTx(cbor, intent, "project")


def build_borrow(ctx: BuildContext, wallet: Wallet, offer_utxo: ScriptUtxo) -> UnsignedTx:
    """Take an offer: lock its collateral, pay the borrower's fee, receive the loan."""
    offer = _v2_datum(offer_utxo, Offer)
    if offer.levvy_type != "tokens":
        raise Unsupported(VENUE, "NFT offers are not built here")
    # Nothing checks an offer when it is made: its UTxO must hold what its datum lends.
    _holds(offer_utxo, ADA, offer.loan_amount, "the loan")
    main = _main_address(ctx)
    borrower = _datum_address(_wallet_address(wallet), "the borrower's wallet")
    valid_from = ctx.now_slot
    # The validator's rule for loanEndTime is UNKNOWN; the start of validity plus the
    # offer's duration is the natural reading.
    loan_end = ctx.clock.time_ms(valid_from) + offer.loan_duration_ms
    wrapped = offer.output_reference.wrapped if offer.output_reference else True
    offer_ref = _script_ref(offer_utxo, wrapped)
    loan = Loan(version="v2", form=offer.form, lender=offer.lender, borrower=borrower,
                policy_id=offer.policy_id, asset_name=offer.asset_name,
                token_amount=offer.token_amount, loan_amount=offer.loan_amount,
                interest_amount=offer.interest_amount, loan_end_ms=loan_end,
                offer_ref=offer_ref)
    venue = _validator_address(ctx, borrower)
    collateral = offer.collateral
    locked = _funded_output(ctx, venue, {ADA: ctx.config.collateral_lovelace,
                                         collateral: offer.token_amount}, encode_datum(loan))
    fee = _fee_of_interest(offer.interest_amount, ctx.config.fees.token_borrower_percent)
    fee_out = _funded_output(ctx, main, {ADA: fee}, payment_datum(offer_ref))
    plan = _Plan(outputs=[locked, fee_out],
                 script_inputs=[(offer_utxo, token_action_redeemer("borrow"))],
                 validity_start=valid_from, ttl=valid_from + ctx.ttl_s)
    cbor = _assemble(ctx, wallet, plan)
    party, main_party = str(venue), str(main)
    locked_lovelace, fee_paid = locked.amount.coin, fee_out.amount.coin
    notes = [BUDGET_NOTE, f"the loan ends at {loan_end} ms (Unix); repay "
             f"{loan.debt} lovelace before then or the lender may take the collateral"]
    if fee_paid > fee:
        notes.append(f"the fee ({fee} lovelace) is raised to the output minimum {fee_paid}")
    intent = _intent("borrow", str(collateral), wallet,
                     leaves=[Transfer(party, collateral, offer.token_amount),
                             Transfer(party, ADA, locked_lovelace),
                             Transfer(main_party, ADA, fee_paid)],
                     comes_back=_transfers(wallet.address, offer_utxo.value()),
                     to_venue=[Transfer(party, collateral, offer.token_amount),
                               Transfer(party, ADA, locked_lovelace)],
                     fees=[Transfer(main_party, ADA, fee_paid)], notes=notes)
    return UnsignedTx(cbor, intent, "project")


def build_repay(ctx: BuildContext, wallet: Wallet, loan_utxo: ScriptUtxo) -> UnsignedTx:
    """Repay a loan in full (Levvy has no partial repayment) and take the collateral."""
    loan = _v2_datum(loan_utxo, Loan)
    signer = _owned_by(wallet, loan.borrower, "borrower", loan_utxo.ref)
    # Anyone can lock any datum at a script: repay only a loan that holds its collateral.
    _holds(loan_utxo, loan.collateral, loan.token_amount, "its collateral")
    wrapped = loan.offer_ref.wrapped if loan.offer_ref else True
    repayment = Repayment(version="v2", form=loan.form, lender=loan.lender,
                          token_amount=loan.token_amount, loan_amount=loan.loan_amount,
                          interest_amount=loan.interest_amount,
                          loan_ref=_script_ref(loan_utxo, wrapped))
    venue = _validator_address(ctx, loan.lender)
    paid = _funded_output(ctx, venue, {ADA: loan.debt}, encode_datum(repayment))
    plan = _Plan(outputs=[paid], script_inputs=[(loan_utxo, token_action_redeemer("repay"))],
                 required_signers=[signer], ttl=ctx.now_slot + ctx.ttl_s)
    cbor = _assemble(ctx, wallet, plan)
    notes = [BUDGET_NOTE]
    if ctx.now_ms > loan.loan_end_ms:
        notes.append(f"the loan ended at {loan.loan_end_ms} ms: whether Levvy still takes a "
                     "repayment after its end is UNKNOWN")
    party = str(venue)
    intent = _intent("repay", _market(loan.policy_id, loan.asset_name), wallet,
                     leaves=[Transfer(party, ADA, paid.amount.coin)],
                     comes_back=_transfers(wallet.address, loan_utxo.value()),
                     to_venue=[Transfer(party, ADA, paid.amount.coin)], notes=notes)
    return UnsignedTx(cbor, intent, "project")


def _lender_takes(ctx: BuildContext, wallet: Wallet, utxo: ScriptUtxo, action: TokenAction,
                  lender: DatumAddress, interest: int, market: str,
                  validity_start: int | None, notes: Sequence[str]) -> UnsignedTx:
    main = _main_address(ctx)
    signer = _owned_by(wallet, lender, "lender", utxo.ref)
    fee = _fee_of_interest(interest, ctx.config.fees.token_lender_percent)
    fee_out = _funded_output(ctx, main, {ADA: fee}, payment_datum(_script_ref(utxo, True)))
    plan = _Plan(outputs=[fee_out], script_inputs=[(utxo, token_action_redeemer(action))],
                 required_signers=[signer], validity_start=validity_start,
                 ttl=ctx.now_slot + ctx.ttl_s)
    cbor = _assemble(ctx, wallet, plan)
    main_party = str(main)
    intent = _intent(action, market, wallet,
                     leaves=[Transfer(main_party, ADA, fee_out.amount.coin)],
                     comes_back=_transfers(wallet.address, utxo.value()),
                     fees=[Transfer(main_party, ADA, fee_out.amount.coin)],
                     notes=[BUDGET_NOTE, *notes])
    return UnsignedTx(cbor, intent, "project")


def build_foreclose(ctx: BuildContext, wallet: Wallet, loan_utxo: ScriptUtxo) -> UnsignedTx:
    """After the loan's end, the lender takes the collateral."""
    loan = _v2_datum(loan_utxo, Loan)
    start = ctx.clock.first_slot_after(loan.loan_end_ms)
    if ctx.clock.time_ms(start) > ctx.now_ms:
        raise BuildRefused(VENUE, f"{loan_utxo.ref}: the loan ends at {loan.loan_end_ms} ms; "
                                  "it can be foreclosed only after that")
    return _lender_takes(ctx, wallet, loan_utxo, "foreclose", loan.lender,
                         loan.interest_amount, _market(loan.policy_id, loan.asset_name),
                         start, ["foreclosure: the collateral goes to the lender"])


def build_claim(ctx: BuildContext, wallet: Wallet, repayment_utxo: ScriptUtxo) -> UnsignedTx:
    """The lender collects a repaid loan's ADA."""
    repayment = _v2_datum(repayment_utxo, Repayment)
    return _lender_takes(ctx, wallet, repayment_utxo, "claim", repayment.lender,
                         repayment.interest_amount, "", None, [])
