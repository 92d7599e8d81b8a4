"""Levvy's datums, read into typed records and written back. Pure.

Shapes (lending.md §2.3 and §6.3; fixtures/protocols/levvy/datum_redeemer_schema.json),
all UNVERIFIED against Levvy's mainnet scripts except where a fixture says otherwise:

- v1, one validator for tokens and NFTs: `LendDatum` = Constr 0 [LendDetails],
  `BorrowDatum` = Constr 1 [BorrowDetails], each details record a Constr 0.
- v2 "token" validator, **nested** form (SAIB's Chrysalis types; the one datum seen with a
  mainnet address): `Constr i [Constr 0 [fields]]` with i = 0 LendToken, 1 BorrowToken,
  2 RepayToken.
- v2 token, **flat** form (a developer's Blaze schema): `Constr i [fields]`, same fields.

Anything else (v2 NFT datums included: their fields are only partly known) raises
`DatumLayoutError`, never a guess.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from chain.ledger.address import bech32_encode
from core.units import Asset
from protocols.errors import DatumLayoutError

from protocols.plutus import Constr, Data, PlutusDataError, dumps, loads

VENUE = "levvy"

Version = Literal["v1", "v2"]
Form = Literal["nested", "flat"]
LevvyType = Literal["tokens", "nfts"]


def _fail(message: str) -> DatumLayoutError:
    return DatumLayoutError(VENUE, message)


# --- small records --------------------------------------------------------------------

@dataclass(frozen=True)
class Credential:
    kind: Literal["key", "script"]
    hash: bytes  # 28 bytes

    def to_data(self) -> Constr:
        return Constr(0 if self.kind == "key" else 1, (self.hash,))


@dataclass(frozen=True)
class DatumAddress:
    """A Plutus `Address`: payment credential and optional stake reference."""

    payment: Credential
    stake: Credential | None = None
    stake_pointer: tuple[int, int, int] | None = None  # (slot, tx index, cert index)

    def to_data(self) -> Constr:
        if self.stake is not None:
            stake: Data = Constr(0, (Constr(0, (self.stake.to_data(),)),))
        elif self.stake_pointer is not None:
            stake = Constr(0, (Constr(1, tuple(self.stake_pointer)),))
        else:
            stake = Constr(1, ())
        return Constr(0, (self.payment.to_data(), stake))

    def address_bytes(self, mainnet: bool) -> bytes:
        script_pay = self.payment.kind == "script"
        if self.stake is not None:
            kind = (1 if script_pay else 0) + (2 if self.stake.kind == "script" else 0)
            tail = self.stake.hash
        elif self.stake_pointer is not None:
            kind, tail = (5 if script_pay else 4), b"".join(_varnat(n) for n in self.stake_pointer)
        else:
            kind, tail = (7 if script_pay else 6), b""
        return bytes([kind << 4 | (1 if mainnet else 0)]) + self.payment.hash + tail

    def bech32(self, mainnet: bool) -> str:
        return bech32_encode("addr" if mainnet else "addr_test", self.address_bytes(mainnet))


def _varnat(n: int) -> bytes:
    """A pointer address number: 7-bit groups, most significant first, high bit = more."""
    groups = [n & 0x7F]
    n >>= 7
    while n:
        groups.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(reversed(groups))


@dataclass(frozen=True)
class OutRef:
    """A Plutus `OutputReference`. `wrapped`: the transaction id inside its own
    Constr 0 (Plutus V1/V2 `TxId`, the form in the mainnet-addressed offer) rather than
    bare bytes (Plutus V3, the Blaze schema)."""

    tx_id: bytes
    index: int
    wrapped: bool = True

    @property
    def text(self) -> str:
        return f"{self.tx_id.hex()}#{self.index}"

    def to_data(self) -> Constr:
        tx_id: Data = Constr(0, (self.tx_id,)) if self.wrapped else self.tx_id
        return Constr(0, (tx_id, self.index))

    @classmethod
    def from_text(cls, ref: str, wrapped: bool = True) -> "OutRef":
        tx_id, _, index = ref.partition("#")
        try:
            raw = bytes.fromhex(tx_id)
            number = int(index)
        except ValueError:
            raise ValueError(f"not an output reference (txid#index): {ref!r}") from None
        if len(raw) != 32 or number < 0:
            raise ValueError(f"not an output reference (txid#index): {ref!r}")
        return cls(raw, number, wrapped)


def v1_payment_tag(ref: OutRef) -> bytes:
    """v1's link from a lender payment to one loan: blake2b-256 of the CBOR of the
    OutputReference (lending.md §2.3). Which OutputReference encoding v1 hashes is
    UNVERIFIED; callers try both forms."""
    return hashlib.blake2b(dumps(ref.to_data()), digest_size=32).digest()


# --- the three datum kinds -------------------------------------------------------------

@dataclass(frozen=True)
class Offer:
    """A lender's open offer: `loan_amount` lovelace against `token_amount` units of the
    collateral token, for `interest_amount` lovelace over `loan_duration_ms`."""

    version: Version
    form: Form
    lender: DatumAddress
    policy_id: bytes
    asset_name: bytes
    token_amount: int
    loan_amount: int
    interest_amount: int
    loan_duration_ms: int
    levvy_type: LevvyType = "tokens"
    output_reference: OutRef | None = None  # v2: a placeholder while the offer is open

    @property
    def collateral(self) -> Asset:
        return Asset(self.policy_id.hex(), self.asset_name.hex())


@dataclass(frozen=True)
class Loan:
    """An active loan: the collateral locked until `loan_end_ms`."""

    version: Version
    form: Form
    lender: DatumAddress
    borrower: DatumAddress
    policy_id: bytes
    asset_name: bytes
    token_amount: int
    loan_amount: int
    interest_amount: int
    loan_end_ms: int
    levvy_type: LevvyType = "tokens"
    offer_ref: OutRef | None = None  # v2: the offer this loan took
    tag: bytes | None = None  # v1: blake2b-256 of the taken offer's OutputReference

    @property
    def collateral(self) -> Asset:
        return Asset(self.policy_id.hex(), self.asset_name.hex())

    @property
    def debt(self) -> int:
        return self.loan_amount + self.interest_amount


@dataclass(frozen=True)
class Repayment:
    """v2: a repaid loan's ADA waiting at the validator for its lender to claim."""

    version: Version
    form: Form
    lender: DatumAddress
    token_amount: int
    loan_amount: int
    interest_amount: int
    loan_ref: OutRef  # the loan UTxO this repays


LevvyDatum = Offer | Loan | Repayment


# --- reading ------------------------------------------------------------------------------

def read_datum(cbor: bytes) -> LevvyDatum:
    """A Levvy datum of any known layout; DatumLayoutError otherwise."""
    try:
        data = loads(cbor)
    except PlutusDataError as error:
        raise _fail(f"datum is not Plutus data: {error}") from None
    return read_data(data)


def read_data(data: Data) -> LevvyDatum:
    if not isinstance(data, Constr):
        raise _fail(f"datum is a {type(data).__name__}, not a constructor")
    if data.index not in (0, 1, 2):
        raise _fail(f"datum constructor {data.index}: Levvy datums use 0, 1 or 2")
    fields = data.fields
    if len(fields) == 1 and isinstance(fields[0], Constr):
        inner = fields[0]
        if inner.index != 0:
            raise _fail(f"constructor {data.index} wraps constructor {inner.index}, "
                        "expected a details record (constructor 0)")
        return _nested(data.index, inner.fields)
    return _flat(data.index, fields)


def _nested(kind: int, fields: tuple[Data, ...]) -> LevvyDatum:
    n = len(fields)
    if kind == 0 and n == 6:
        return _v1_lend(fields)
    if kind == 1 and n == 8:
        return _v1_borrow(fields)
    if kind == 0 and n == 8:
        return _v2_lend(fields, "nested")
    if kind == 1 and n == 9:
        return _v2_borrow(fields, "nested")
    if kind == 2 and n == 5:
        return _v2_repay(fields, "nested")
    raise _fail(f"constructor {kind} holding a record of {n} fields is no layout this "
                "code knows (v1 lend 6, v1 borrow 8, v2 token lend 8 / borrow 9 / repay 5; "
                "v2 NFT datums are not read)")


def _flat(kind: int, fields: tuple[Data, ...]) -> LevvyDatum:
    n = len(fields)
    if kind == 0 and n == 8:
        return _v2_lend(fields, "flat")
    if kind == 1 and n == 9:
        return _v2_borrow(fields, "flat")
    if kind == 2 and n == 5:
        return _v2_repay(fields, "flat")
    raise _fail(f"constructor {kind} with {n} fields is no layout this code knows")


def _v1_lend(f: tuple[Data, ...]) -> Offer:
    policy, name, amount = _collateral_details(f[1], "LendDetails.collateralDetails")
    return Offer(
        version="v1", form="nested",
        lender=_address(f[0], "LendDetails.lender"),
        policy_id=policy, asset_name=name, token_amount=amount,
        loan_amount=_nat(f[2], "LendDetails.loanAmount"),
        interest_amount=_nat(f[3], "LendDetails.interestAmount"),
        loan_duration_ms=_nat(f[4], "LendDetails.loanDuration"),
        levvy_type=_levvy_type(f[5], "LendDetails.levvyType"),
    )


def _v1_borrow(f: tuple[Data, ...]) -> Loan:
    policy, name, amount = _collateral_details(f[2], "BorrowDetails.collateralDetails")
    return Loan(
        version="v1", form="nested",
        lender=_address(f[0], "BorrowDetails.lender"),
        borrower=_address(f[1], "BorrowDetails.borrower"),
        policy_id=policy, asset_name=name, token_amount=amount,
        loan_amount=_nat(f[3], "BorrowDetails.loanAmount"),
        interest_amount=_nat(f[4], "BorrowDetails.interestAmount"),
        loan_end_ms=_nat(f[5], "BorrowDetails.loanEndTime"),
        levvy_type=_levvy_type(f[6], "BorrowDetails.levvyType"),
        tag=_bytes(f[7], "BorrowDetails.tag", 32),
    )


def _v2_lend(f: tuple[Data, ...], form: Form) -> Offer:
    return Offer(
        version="v2", form=form,
        lender=_address(f[0], "LendToken.adaOwner"),
        policy_id=_bytes(f[1], "LendToken.policyId", 28),
        asset_name=_asset_name(f[2], "LendToken.assetName"),
        token_amount=_nat(f[3], "LendToken.tokenAmount"),
        loan_amount=_nat(f[4], "LendToken.loanAmount"),
        interest_amount=_nat(f[5], "LendToken.interestAmount"),
        loan_duration_ms=_nat(f[6], "LendToken.loanDuration"),
        output_reference=_out_ref(f[7], "LendToken.outputReference", placeholder=True),
    )


def _v2_borrow(f: tuple[Data, ...], form: Form) -> Loan:
    return Loan(
        version="v2", form=form,
        lender=_address(f[0], "BorrowToken.adaOwner"),
        borrower=_address(f[1], "BorrowToken.assetOwner"),
        policy_id=_bytes(f[2], "BorrowToken.policyId", 28),
        asset_name=_asset_name(f[3], "BorrowToken.assetName"),
        token_amount=_nat(f[4], "BorrowToken.tokenAmount"),
        loan_amount=_nat(f[5], "BorrowToken.loanAmount"),
        interest_amount=_nat(f[6], "BorrowToken.interestAmount"),
        loan_end_ms=_nat(f[7], "BorrowToken.loanEndTime"),
        offer_ref=_out_ref(f[8], "BorrowToken.outputReference"),
    )


def _v2_repay(f: tuple[Data, ...], form: Form) -> Repayment:
    return Repayment(
        version="v2", form=form,
        lender=_address(f[0], "RepayToken.adaOwner"),
        token_amount=_nat(f[1], "RepayToken.tokenAmount"),
        loan_amount=_nat(f[2], "RepayToken.loanAmount"),
        interest_amount=_nat(f[3], "RepayToken.interestAmount"),
        loan_ref=_out_ref(f[4], "RepayToken.outputReference"),
    )


# --- field readers: each checks its shape and names the field -----------------------------

def _constr(value: Data, where: str, index: int | None = None,
            arity: int | None = None) -> Constr:
    if not isinstance(value, Constr):
        raise _fail(f"{where}: expected a constructor, found {type(value).__name__}")
    if index is not None and value.index != index:
        raise _fail(f"{where}: expected constructor {index}, found {value.index}")
    if arity is not None and len(value.fields) != arity:
        raise _fail(f"{where}: expected {arity} fields, found {len(value.fields)}")
    return value


def _nat(value: Data, where: str) -> int:
    if type(value) is not int or value < 0:
        raise _fail(f"{where}: expected a non-negative integer, found {value!r:.60}")
    return value


def _bytes(value: Data, where: str, size: int | None = None) -> bytes:
    if not isinstance(value, bytes) or (size is not None and len(value) != size):
        want = f"{size} bytes" if size is not None else "bytes"
        raise _fail(f"{where}: expected {want}, found {value!r:.60}")
    return value


def _asset_name(value: Data, where: str) -> bytes:
    name = _bytes(value, where)
    if len(name) > 32:
        raise _fail(f"{where}: an asset name has at most 32 bytes, found {len(name)}")
    return name


def _credential(value: Data, where: str) -> Credential:
    c = _constr(value, where, arity=1)
    if c.index not in (0, 1):
        raise _fail(f"{where}: credential constructor {c.index} (0 key, 1 script)")
    return Credential("key" if c.index == 0 else "script", _bytes(c.fields[0], where, 28))


def _address(value: Data, where: str) -> DatumAddress:
    c = _constr(value, where, 0, 2)
    payment = _credential(c.fields[0], f"{where}.paymentCredential")
    option = _constr(c.fields[1], f"{where}.stakeCredential")
    if option.index == 1 and not option.fields:
        return DatumAddress(payment)
    if option.index != 0 or len(option.fields) != 1:
        raise _fail(f"{where}.stakeCredential: expected Some (0, one field) or None (1, none)")
    staking = _constr(option.fields[0], f"{where}.stakeCredential")
    if staking.index == 0 and len(staking.fields) == 1:
        return DatumAddress(payment, stake=_credential(staking.fields[0],
                                                       f"{where}.stakeCredential.inline"))
    if staking.index == 1 and len(staking.fields) == 3:
        pointer = tuple(_nat(n, f"{where}.stakeCredential.pointer") for n in staking.fields)
        return DatumAddress(payment, stake_pointer=(pointer[0], pointer[1], pointer[2]))
    raise _fail(f"{where}.stakeCredential: neither an inline credential nor a pointer")


def _collateral_details(value: Data, where: str) -> tuple[bytes, bytes, int]:
    c = _constr(value, where, 0, 3)
    return (_bytes(c.fields[0], f"{where}.policyId", 28),
            _asset_name(c.fields[1], f"{where}.assetName"),
            _nat(c.fields[2], f"{where}.collateralAmount"))


def _levvy_type(value: Data, where: str) -> LevvyType:
    c = _constr(value, where, arity=0)
    if c.index not in (0, 1):
        raise _fail(f"{where}: LevvyType constructor {c.index} (0 Tokens, 1 Nfts)")
    return "tokens" if c.index == 0 else "nfts"


def _out_ref(value: Data, where: str, placeholder: bool = False) -> OutRef:
    c = _constr(value, where, 0, 2)
    tx_id = c.fields[0]
    wrapped = isinstance(tx_id, Constr)
    if isinstance(tx_id, Constr):
        tx_id = _constr(tx_id, f"{where}.transaction_id", 0, 1).fields[0]
    # An open offer's reference is a placeholder (h'00' in the mainnet sample).
    raw = _bytes(tx_id, f"{where}.transaction_id", None if placeholder else 32)
    return OutRef(raw, _nat(c.fields[1], f"{where}.output_index"), wrapped)


# --- writing ------------------------------------------------------------------------------

def _wrap(kind: int, form: Form, fields: tuple[Data, ...]) -> Constr:
    return Constr(kind, (Constr(0, fields),)) if form == "nested" else Constr(kind, fields)


def _type_data(levvy_type: LevvyType) -> Constr:
    return Constr(0 if levvy_type == "tokens" else 1, ())


def datum_data(datum: LevvyDatum) -> Constr:
    """The Plutus data of a datum, in its own version and form."""
    if isinstance(datum, Offer):
        if datum.version == "v1":
            return _wrap(0, "nested", (
                datum.lender.to_data(),
                Constr(0, (datum.policy_id, datum.asset_name, datum.token_amount)),
                datum.loan_amount, datum.interest_amount, datum.loan_duration_ms,
                _type_data(datum.levvy_type)))
        ref = datum.output_reference or OutRef(b"\x00", 0)
        return _wrap(0, datum.form, (
            datum.lender.to_data(), datum.policy_id, datum.asset_name, datum.token_amount,
            datum.loan_amount, datum.interest_amount, datum.loan_duration_ms, ref.to_data()))
    if isinstance(datum, Loan):
        if datum.version == "v1":
            if datum.tag is None:
                raise ValueError("a v1 loan datum needs its tag")
            return _wrap(1, "nested", (
                datum.lender.to_data(), datum.borrower.to_data(),
                Constr(0, (datum.policy_id, datum.asset_name, datum.token_amount)),
                datum.loan_amount, datum.interest_amount, datum.loan_end_ms,
                _type_data(datum.levvy_type), datum.tag))
        if datum.offer_ref is None:
            raise ValueError("a v2 loan datum needs the reference of the offer it took")
        return _wrap(1, datum.form, (
            datum.lender.to_data(), datum.borrower.to_data(), datum.policy_id,
            datum.asset_name, datum.token_amount, datum.loan_amount, datum.interest_amount,
            datum.loan_end_ms, datum.offer_ref.to_data()))
    return _wrap(2, datum.form, (
        datum.lender.to_data(), datum.token_amount, datum.loan_amount,
        datum.interest_amount, datum.loan_ref.to_data()))


def encode_datum(datum: LevvyDatum) -> bytes:
    return dumps(datum_data(datum))


def payment_datum(ref: OutRef) -> bytes:
    """v2 `PaymentDatum {outputReference}` on a fee payment to the "main" address."""
    return dumps(Constr(0, (ref.to_data(),)))


def read_payment_tag(cbor: bytes) -> bytes:
    """v1's lender-payment datum: a bare 32-byte tag."""
    try:
        data = loads(cbor)
    except PlutusDataError as error:
        raise _fail(f"payment tag is not Plutus data: {error}") from None
    return _bytes(data, "payment tag", 32)


# --- as a venue record's fields (snake_case, lending.md) -----------------------------------

def record_fields(datum: LevvyDatum, mainnet: bool) -> dict[str, object]:
    if isinstance(datum, Offer):
        fields: dict[str, object] = {
            "version": datum.version, "form": datum.form,
            "lender": datum.lender.bech32(mainnet),
            "collateral_policy": datum.policy_id, "collateral_name": datum.asset_name,
            "collateral_amount": datum.token_amount, "loan_amount": datum.loan_amount,
            "interest_amount": datum.interest_amount,
            "loan_duration_ms": datum.loan_duration_ms, "levvy_type": datum.levvy_type,
        }
        if datum.output_reference is not None:
            ref = datum.output_reference
            fields["output_reference"] = f"{ref.tx_id.hex()}#{ref.index}"
        return fields
    if isinstance(datum, Loan):
        fields = {
            "version": datum.version, "form": datum.form,
            "lender": datum.lender.bech32(mainnet), "borrower": datum.borrower.bech32(mainnet),
            "collateral_policy": datum.policy_id, "collateral_name": datum.asset_name,
            "collateral_amount": datum.token_amount, "loan_amount": datum.loan_amount,
            "interest_amount": datum.interest_amount, "loan_end_ms": datum.loan_end_ms,
            "levvy_type": datum.levvy_type,
        }
        if datum.offer_ref is not None:
            fields["offer_ref"] = datum.offer_ref.text
        if datum.tag is not None:
            fields["tag"] = datum.tag
        return fields
    return {
        "version": datum.version, "form": datum.form,
        "lender": datum.lender.bech32(mainnet), "collateral_amount": datum.token_amount,
        "loan_amount": datum.loan_amount, "interest_amount": datum.interest_amount,
        "loan_ref": datum.loan_ref.text,
    }
