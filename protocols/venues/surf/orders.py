"""Surf order transactions built by the project (pycardano), and the check of a
transaction Surf's API built against ours. Pure: no network; the wallet's UTxOs come in
the `Wallet` (CIP-30 CBOR pairs) and the protocol parameters are fixed
(protocols/offline_chain.py).

What an order UTxO must hold is the pool validator's rule (validators/pool.ak @ 110523b1),
with `envelope` = PoolInfoDatum.envelope_amount and `fee` = the order's batcher fee:

| order      | lovelace                                   | other assets (nothing else)  |
|------------|--------------------------------------------|------------------------------|
| ODeposit   | fee + envelope (+ amount in an ADA pool)   | amount of the pool asset     |
| OWithdraw  | fee + envelope                             | exactly the cTokens to burn  |
| OBorrow    | fee + 2 × envelope (+ collateral if ADA)   | the collateral               |
| ORepay     | fee + envelope (+ debt in an ADA pool)     | the debt at `o_time`         |

The envelope comes back with the batched result (cTokens, the withdrawn or borrowed asset,
the released collateral). A repay order holds the debt as of `o_time`, set a little ahead
(`REPAY_HORIZON_MS`) so that it still covers the debt when the batcher applies it; the
interest term moves in whole basis points, so the margin is at most one step.

Order transactions spend only wallet UTxOs and run no script: their fee is pycardano's
size-based fee with those parameters. Cancel and add-collateral spend a script UTxO:
they need the script (or a reference-script UTxO), the PlutusV3 cost model of the network
and fixed execution units (`SCRIPT_EX_UNITS`, an estimate: the offline builder cannot
evaluate the script). None of those is known for mainnet here (docs/venues.md, Surf), so the
source offers those builders only where they are configured.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import cbor2
from pycardano import (Address, Asset as PyAsset, AssetName, ChainContext, ExecutionUnits,
                       MultiAsset, Network, PlutusV3Script, RawPlutusData, Redeemer,
                       ScriptHash, Transaction, TransactionBody, TransactionBuilder,
                       TransactionOutput,
                       TransactionWitnessSet, UTxO, Value, VerificationKeyHash)
from pycardano.utils import min_lovelace_post_alonzo

from chain.ledger import Tx, TxOut, decode_transaction
from core.units import ADA, Asset
from protocols.errors import DatumLayoutError
from protocols.model import Intent, Transfer, UnsignedTx, Wallet
from protocols.offline_chain import MAINNET_CONWAY, ProtocolParams
from protocols.offline_context import OfflineContext
from protocols.venues.surf.credentials import payment_credential
from protocols.venues.surf import rates
from protocols.venues.surf.datums import (OBorrow, ODeposit, OrderDatum, ORepay, OutRef,
                                          OWithdraw, PoolInfoDatum, VaultDatum, encode,
                                          encode_redeemer, encode_value, order_name,
                                          read_order, read_vault)

VENUE = "surf"
REPAY_HORIZON_MS = 30 * 60 * 1000
SCRIPT_EX_UNITS = ExecutionUnits(mem=3_000_000, steps=1_500_000_000)
FEE_PARTY = "fee:batcher"


# --- what an order is ------------------------------------------------------------------------

@dataclass(frozen=True)
class Owner:
    pkh: bytes
    stake_key: bytes | None

    @classmethod
    def of(cls, address: str) -> "Owner":
        parsed = Address.from_primitive(address)
        if not isinstance(parsed.payment_part, VerificationKeyHash):
            raise ValueError("the wallet's address must have a key payment credential")
        stake = parsed.staking_part
        if stake is not None and not isinstance(stake, VerificationKeyHash):
            raise ValueError("Surf sends results to the owner's key (and stake key) address: a "
                             "wallet staked with a script or a pointer cannot own an order")
        return cls(parsed.payment_part.payload, None if stake is None else stake.payload)


@dataclass(frozen=True)
class PoolContext:
    """What the builders need to know of one pool: its PoolInfoDatum (from chain) and where
    its orders go."""

    info: PoolInfoDatum
    mainnet: bool
    #: The order address's stake part, when the venue uses one (None: enterprise address).
    order_stake: tuple[str, bytes] | None = None

    @property
    def order_address(self) -> str:
        return script_address(self.info.order_script_hash, self.mainnet, self.order_stake)

    @property
    def vault_address(self) -> str:
        stake = None if self.info.pool_stake_key is None else ("script", self.info.pool_stake_key)
        return script_address(self.info.vault_script_hash, self.mainnet, stake)


def script_address(script_hash: bytes, mainnet: bool,
                   stake: tuple[str, bytes] | None = None) -> str:
    staking = None
    if stake is not None:
        kind, digest = stake
        staking = ScriptHash(digest) if kind == "script" else VerificationKeyHash(digest)
    network = Network.MAINNET if mainnet else Network.TESTNET
    return str(Address(ScriptHash(script_hash), staking, network=network))


@dataclass(frozen=True)
class OrderPlan:
    """One order UTxO: its address, datum, and what it holds."""

    address: str
    datum: OrderDatum
    value: dict[Asset, int]
    #: What the wallet gets back once the batcher applies it (for the Intent).
    comes_back: dict[Asset, int] = field(default_factory=dict)


def _add(value: dict[Asset, int], asset: Asset, quantity: int) -> None:
    if quantity:
        value[asset] = value.get(asset, 0) + quantity


def deposit_plan(pool: PoolContext, owner: Owner, amount: int, batcher_fee: int,
                 ctokens_back: int | None = None) -> OrderPlan:
    info = pool.info
    value = {ADA: batcher_fee + info.envelope_amount}
    _add(value, info.pool_asset, amount)
    back = {ADA: info.envelope_amount}
    if ctokens_back is not None:
        _add(back, info.ctoken, ctokens_back)
    return OrderPlan(pool.order_address, ODeposit(info.pool_id, owner.pkh, owner.stake_key,
                                                  batcher_fee, _pos(amount)), value, back)


def withdraw_plan(pool: PoolContext, owner: Owner, ctokens: int, batcher_fee: int,
                  underlying_back: int | None = None) -> OrderPlan:
    info = pool.info
    value = {ADA: batcher_fee + info.envelope_amount, info.ctoken: _pos(ctokens)}
    back = {ADA: info.envelope_amount}
    if underlying_back is not None:
        _add(back, info.pool_asset, underlying_back)
    return OrderPlan(pool.order_address, OWithdraw(info.pool_id, owner.pkh, owner.stake_key,
                                                   batcher_fee, ctokens), value, back)


def borrow_plan(pool: PoolContext, owner: Owner, principal: int, collateral: Asset,
                collateral_amount: int, batcher_fee: int, start_ms: int) -> OrderPlan:
    info = pool.info
    if info.collateral(collateral) is None:
        raise ValueError(f"pool {info.pool_id} takes no {collateral} as collateral")
    value = {ADA: batcher_fee + 2 * info.envelope_amount}
    _add(value, collateral, _pos(collateral_amount))
    back = {ADA: info.envelope_amount}
    _add(back, info.pool_asset, principal)
    return OrderPlan(pool.order_address, OBorrow(
        info.pool_id, owner.pkh, owner.stake_key, batcher_fee, _pos(principal),
        collateral_amount, collateral, start_ms), value, back)


def repay_plan(pool: PoolContext, vault: VaultDatum, batcher_fee: int, at_ms: int) -> OrderPlan:
    """Repay `vault` in full: the order holds the debt as of `at_ms` (pick it a little
    ahead of now, e.g. now + REPAY_HORIZON_MS)."""
    info = pool.info
    if at_ms <= vault.start_time:
        raise ValueError("a repay order's time must be after the loan's start")
    debt = rates.debt_at(vault, at_ms)
    value = {ADA: batcher_fee + info.envelope_amount}
    _add(value, info.pool_asset, debt)
    back = {ADA: info.envelope_amount}
    _add(back, vault.collateral_asset, vault.collateral_amount)
    return OrderPlan(pool.order_address, ORepay(info.pool_id, batcher_fee, vault.borrow_id,
                                                vault.owner_pkh, at_ms), value, back)


def _pos(value: int) -> int:
    if type(value) is not int or value <= 0:
        raise ValueError(f"an amount must be a positive integer of base units, got {value!r}")
    return value


# --- pycardano glue ------------------------------------------------------------------------

def wallet_utxos(wallet: Wallet) -> list[UTxO]:
    if not wallet.utxos_cbor:
        raise ValueError("the wallet lists no UTxOs to build from")
    return [UTxO.from_cbor(bytes.fromhex(pair)) for pair in wallet.utxos_cbor]


def py_value(value: dict[Asset, int]) -> Value:
    multi: dict[ScriptHash, PyAsset] = {}
    for asset, quantity in value.items():
        if asset.is_ada or not quantity:
            continue
        policy = ScriptHash(bytes.fromhex(asset.policy))
        multi.setdefault(policy, PyAsset())[AssetName(bytes.fromhex(asset.name))] = quantity
    return Value(value.get(ADA, 0), MultiAsset(multi))


def order_output(plan: OrderPlan, context: ChainContext) -> tuple[TransactionOutput, OrderPlan]:
    """The order's output; its lovelace raised to the ledger's minimum if needed (the
    validator asks for at least its figure)."""
    datum = RawPlutusData(encode_value(plan.datum))
    out = TransactionOutput(Address.from_primitive(plan.address), py_value(plan.value),
                            datum=datum)
    needed = min_lovelace_post_alonzo(out, context)
    if out.amount.coin < needed:
        plan = replace(plan, value={**plan.value, ADA: needed})
        out = TransactionOutput(Address.from_primitive(plan.address), py_value(plan.value),
                                datum=datum)
    return out, plan


ACTION_OF = {"ODeposit": "lend", "OWithdraw": "withdraw", "OBorrow": "borrow",
             "ORepay": "repay", "OLiquidate": "liquidate"}


def order_intent(plan: OrderPlan, market: str, wallet: Wallet,
                 notes: tuple[str, ...] = ()) -> Intent:
    fee = plan.datum.o_batcher_fee
    return Intent(
        action=ACTION_OF[order_name(plan.datum)], venue=VENUE, market=market,
        wallet=wallet.address,
        leaves=tuple(Transfer(wallet.address, a, q) for a, q in sorted(plan.value.items())),
        comes_back=tuple(Transfer(wallet.address, a, q)
                         for a, q in sorted(plan.comes_back.items())),
        to_venue=tuple(Transfer(plan.address, a, q) for a, q in sorted(plan.value.items())),
        fees=(Transfer(FEE_PARTY, ADA, fee),),
        settles="batched",
        notes=("the order UTxO carries the batcher fee and an ADA envelope; the envelope "
               "comes back with the result", *notes))


def build_order(plan: OrderPlan, market: str, wallet: Wallet, *, mainnet: bool,
                params: ProtocolParams | None = None, notes: tuple[str, ...] = (),
                ttl: int | None = None) -> UnsignedTx:
    """The transaction that pays `plan`'s order UTxO from the wallet, change to the wallet;
    valid until slot `ttl` where given."""
    utxos = wallet_utxos(wallet)
    context = OfflineContext(params or MAINNET_CONWAY, mainnet, utxos)
    out, plan = order_output(plan, context)
    builder = TransactionBuilder(context)
    if ttl is not None:
        builder.ttl = ttl
    for address in {str(u.output.address) for u in utxos}:
        builder.add_input_address(address)
    builder.add_output(out)
    try:
        body = builder.build(change_address=Address.from_primitive(wallet.change))
    except Exception as error:  # pycardano's UTxOSelectionException and kin
        raise ValueError(f"the wallet cannot pay this order: {error}") from None
    tx = Transaction(body, TransactionWitnessSet())
    return UnsignedTx(tx.to_cbor(), order_intent(plan, market, wallet, notes), "project")


def order_alone(plan: OrderPlan, market: str, wallet: Wallet, *, mainnet: bool,
                params: ProtocolParams | None = None) -> UnsignedTx:
    """The order `plan` places and nothing else: a body with no input that pays only the
    order's output (its lovelace raised to the ledger's minimum, as `build_order` would).
    What an API's transaction is compared with (`compare_with_ours` reads only the order
    output) when the wallet's UTxOs are not known: never signed, never sent."""
    context = OfflineContext(params or MAINNET_CONWAY, mainnet, [])
    out, plan = order_output(plan, context)
    body = TransactionBody(inputs=[], outputs=[out], fee=0)
    tx = Transaction(body, TransactionWitnessSet())
    return UnsignedTx(tx.to_cbor(), order_intent(plan, market, wallet), "project")


# --- spending a script UTxO: cancel, add collateral ----------------------------------------

@dataclass(frozen=True)
class ScriptSource:
    """How a script input is unlocked: the script itself, or a reference-script UTxO
    (a CIP-30 style [input, output] CBOR pair in hex)."""

    script: bytes | None = None  # PlutusV3 script CBOR (as in a witness set)
    reference_utxo: str | None = None

    def pycardano(self) -> Any:
        if self.reference_utxo is not None:
            return UTxO.from_cbor(bytes.fromhex(self.reference_utxo))
        if self.script is not None:
            return PlutusV3Script(self.script)
        raise ValueError("no script and no reference script given")


@dataclass(frozen=True)
class ScriptUtxo:
    """A venue UTxO to spend: its ref and its output CBOR (as the ledger encodes it)."""

    ref: OutRef
    output_cbor: bytes

    def pycardano(self) -> UTxO:
        from pycardano import TransactionInput

        return UTxO(TransactionInput.from_primitive([self.ref.tx_id, self.ref.index]),
                    TransactionOutput.from_cbor(self.output_cbor))

    def read(self) -> TxOut:
        from chain.ledger.tx import tx_out

        return tx_out(cbor2.loads(self.output_cbor), f"utxo {self.ref}")


def _script_tx(wallet: Wallet, spend: ScriptUtxo, redeemer_for: Any, script: ScriptSource,
               signer: bytes, outputs: list[TransactionOutput], params: ProtocolParams,
               mainnet: bool, slot: int, needs: dict[Asset, int] | None = None) -> bytes:
    """A tx spending `spend` with its redeemer, paid from the wallet. The wallet's inputs
    are picked here (not by pycardano) because the redeemer names the script input's
    position among the sorted inputs: the largest pure-ADA UTxOs (fee and collateral) and,
    for `needs`, UTxOs holding those tokens."""
    if params.plutus_v3_cost_model is None:
        raise ValueError("spending a Surf script needs the network's PlutusV3 cost model")
    utxos = wallet_utxos(wallet)
    context = OfflineContext(params, mainnet, utxos, slot)
    # The wallet pays the fee from its largest pure-ADA UTxOs; they also serve as collateral.
    funding = sorted((u for u in utxos if not u.output.amount.multi_asset),
                     key=lambda u: -u.output.amount.coin)[:2]
    if not funding or sum(u.output.amount.coin for u in funding) < 5_000_000:
        raise ValueError("the wallet needs a UTxO of only ADA (5 ADA or more) for the fee and "
                         "the collateral")
    chosen = list(funding)
    for asset, quantity in (needs or {}).items():
        if asset.is_ada:
            continue
        policy, name = ScriptHash(bytes.fromhex(asset.policy)), AssetName(bytes.fromhex(asset.name))

        def held(u: UTxO) -> int:
            return int(u.output.amount.multi_asset.get(policy, {}).get(name, 0))

        have = sum(held(u) for u in chosen)
        for utxo in sorted(utxos, key=lambda u: -held(u)):
            if have >= quantity or held(utxo) == 0:
                break
            if utxo not in chosen:
                chosen.append(utxo)
                have += held(utxo)
        if have < quantity:
            raise ValueError(f"the wallet holds {have} of {asset}, {quantity} needed")
    spent = spend.pycardano()
    inputs = sorted([spend.ref] + [OutRef(u.input.transaction_id.payload, u.input.index)
                                   for u in chosen])
    builder = TransactionBuilder(context)
    for utxo in chosen:
        builder.add_input(utxo)
    redeemer = Redeemer(RawPlutusData(cbor2.loads(redeemer_for(inputs.index(spend.ref)))),
                        SCRIPT_EX_UNITS)
    builder.add_script_input(spent, script=script.pycardano(), redeemer=redeemer)
    for out in outputs:
        builder.add_output(out)
    builder.required_signers = [VerificationKeyHash(signer)]
    builder.collaterals = list(funding)
    try:
        body = builder.build(change_address=Address.from_primitive(wallet.change),
                             collateral_change_address=Address.from_primitive(wallet.change))
    except Exception as error:
        raise ValueError(f"cannot build the transaction: {error}") from None
    witnesses = builder.build_witness_set()
    return bytes(Transaction(body, witnesses).to_cbor())


def build_cancel(order: ScriptUtxo, market: str, wallet: Wallet, script: ScriptSource, *,
                 mainnet: bool, params: ProtocolParams, slot: int) -> UnsignedTx:
    """Cancel a pending order: the order script's `Cancel {order_in_idx}`, signed by the
    order's owner; what the order held comes back to the wallet."""
    out = order.read()
    if out.inline_datum is None:
        raise DatumLayoutError(VENUE, f"order {order.ref} has no inline datum")
    datum = read_order(out.inline_datum)
    owner = getattr(datum, "o_owner_pkh")
    if Owner.of(wallet.address).pkh != owner:
        raise ValueError("the order belongs to another key than the wallet's")
    cbor = _script_tx(wallet, order,
                      lambda index: encode_redeemer("OrderRedeemer", "Cancel", order_in_idx=index),
                      script, owner, [], params, mainnet, slot)
    value = _txout_value(out)
    intent = Intent(
        action="cancel", venue=VENUE, market=market, wallet=wallet.address, leaves=(),
        comes_back=tuple(Transfer(wallet.address, a, q) for a, q in sorted(value.items())),
        settles="now", notes=(f"cancels the pending {order_name(datum)} order {order.ref}",))
    return UnsignedTx(cbor, intent, "project")


def build_add_collateral(vault: ScriptUtxo, market: str, amount: int, wallet: Wallet,
                         script: ScriptSource, *, mainnet: bool, params: ProtocolParams,
                         slot: int) -> UnsignedTx:
    """VAddCollateral: the vault is spent and recreated at its address with `amount` more
    of its collateral and the datum's collateral_amount raised by as much."""
    out = vault.read()
    if out.inline_datum is None:
        raise DatumLayoutError(VENUE, f"vault {vault.ref} has no inline datum")
    datum = read_vault(out.inline_datum)
    if Owner.of(wallet.address).pkh != datum.owner_pkh:
        raise ValueError("the loan belongs to another key than the wallet's")
    new_datum = replace(datum, collateral_amount=datum.collateral_amount + _pos(amount))
    value = _txout_value(out)
    value[datum.collateral_asset] = value.get(datum.collateral_asset, 0) + amount
    new_out = TransactionOutput(Address.from_primitive(out.address), py_value(value),
                                datum=RawPlutusData(cbor2.loads(encode(new_datum))))

    def redeemer(index: int) -> bytes:
        return encode_redeemer("VaultRedeemer", "VAddCollateral", own_input_idx=index,
                               own_output_idx=0, add_amount=amount)

    cbor = _script_tx(wallet, vault, redeemer, script, datum.owner_pkh, [new_out], params,
                      mainnet, slot, needs={datum.collateral_asset: amount})
    intent = Intent(
        action="add_collateral", venue=VENUE, market=market, wallet=wallet.address,
        leaves=(Transfer(wallet.address, datum.collateral_asset, amount),), comes_back=(),
        to_venue=tuple(Transfer(out.address, a, q) for a, q in sorted(value.items())),
        settles="now", notes=(f"adds {amount} to loan {datum.borrow_id}; the vault moves to a "
                              f"new UTxO",))
    return UnsignedTx(cbor, intent, "project")


def _txout_value(out: TxOut) -> dict[Asset, int]:
    value = {ADA: out.lovelace}
    for (policy, name), quantity in out.assets.items():
        value[Asset(policy.hex(), name.hex())] = quantity
    return value


# --- checking what the API built ------------------------------------------------------------

@dataclass(frozen=True)
class FoundOrder:
    index: int
    out: TxOut
    datum: OrderDatum


def orders_in(tx: Tx, script_hash: bytes | None = None) -> list[FoundOrder]:
    """Outputs whose inline datum is an order (at `script_hash`'s address, when given)."""
    found = []
    for index, out in enumerate(tx.outputs):
        if out.inline_datum is None:
            continue
        if script_hash is not None and payment_credential(out.address_bytes) != script_hash:
            continue
        try:
            datum = read_order(out.inline_datum)
        except DatumLayoutError:
            continue
        found.append(FoundOrder(index, out, datum))
    return found


@dataclass(frozen=True)
class Comparison:
    differences: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def same(self) -> bool:
        return not self.differences


def compare_with_ours(api_tx: bytes | Tx, our_tx: bytes | Tx) -> Comparison:
    """Does the API's transaction pay the order script at least what ours does, with the
    same datum (so the same batcher fee)? Each difference is one line."""
    api = decode_transaction(api_tx) if isinstance(api_tx, bytes) else api_tx
    ours = decode_transaction(our_tx) if isinstance(our_tx, bytes) else our_tx
    mine = orders_in(ours)
    if len(mine) != 1:
        raise ValueError(f"our transaction holds {len(mine)} orders, expected 1")
    [order] = mine
    script = payment_credential(order.out.address_bytes)
    theirs = orders_in(api, script)
    if not theirs:
        elsewhere = orders_in(api)
        where = (f" (an order goes to {elsewhere[0].out.address} instead)" if elsewhere else "")
        return Comparison((f"the API's transaction pays no order to the order script "
                           f"{order.out.address}{where}",))
    if len(theirs) > 1:
        return Comparison((f"the API's transaction pays {len(theirs)} orders to the order "
                           f"script, ours one",))
    [their] = theirs
    differences: list[str] = []
    notes: list[str] = []
    if type(their.datum) is not type(order.datum):
        differences.append(f"order type: API {order_name(their.datum)}, ours "
                           f"{order_name(order.datum)}")
    else:
        for name, ours_value in vars(order.datum).items():
            api_value = getattr(their.datum, name)
            if api_value != ours_value:
                label = "batcher fee" if name == "o_batcher_fee" else f"datum {name}"
                differences.append(f"{label}: API {_show(api_value)}, ours {_show(ours_value)}")
    api_value, our_value = _txout_value(their.out), _txout_value(order.out)
    for asset in sorted(set(api_value) | set(our_value)):
        got, want = api_value.get(asset, 0), our_value.get(asset, 0)
        name = "lovelace" if asset.is_ada else str(asset)
        if got < want:
            differences.append(f"the order script gets {got} {name} from the API's "
                               f"transaction, {want} from ours")
        elif want == 0 and got > 0:
            differences.append(f"the API's order also holds {got} {name}, which ours does not "
                               f"(the validator wants nothing else)")
        elif got > want:
            notes.append(f"the API's order holds {got - want} {name} more than ours")
    if their.out.address != order.out.address:
        notes.append(f"order address: API {their.out.address}, ours {order.out.address} "
                     f"(same script, another stake part)")
    return Comparison(tuple(differences), tuple(notes))


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
