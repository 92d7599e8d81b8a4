"""A loopback stub of the Surf (formerly Flow Lending) REST API, answering from SYNTHETIC demo
data kept in the project (stubs/data/surf_demo.json).

No Surf body was ever recorded (fixtures/protocols/surf-api/SOURCES.md: shapes and
code-constructed requests only), so this stub serves made-up pools, positions and orders in
exactly those shapes, with plausible figures (lending.md §6.2). Its builders behave as the
live server is known to: they want the body wrapped as `{"request": {...}}` (a flat body
gets HTTP 500 "Cannot read properties of undefined (reading 'poolId')"), `canonical: false`,
and they answer `{cbor}`: a real order transaction built by the project's own order
builder (protocols/venues/surf/orders.py) from the demo wallet's UTxOs, which decodes and
pays what it says. `wallet/submit` takes `{address, tx}` unwrapped and refuses a second
submission of the same tx as the node would (BadInputsUTxO).

Paper wallets: a builder asked for an address the demo data does not know builds from a
UTxO made up for the request (what it must pay, plus 20 ADA), as DexHunter's stub does,
and a borrow built for such an address becomes its loan at once (paper: no chain, no
batcher), listed by getAllPositions under the order's outRef as borrow id, so its repay
can be built. Every build is valid for TTL_SLOTS from the clock's slot.

Chain mode (`make_handler(fixtures_dir, chain_utxos=URL)`, `python -m stubs surf
--chain-utxos URL`: the sandbox chain's UTxO endpoint, `dhl sandbox --http-port`): nothing
is made up. The builders spend the wallet's own UTxOs read from the endpoint (the project's
order builder picks them; the change is exact); `getAllPoolInfos` carries the totals of
each pool's PoolDatum on that chain (`pool_state`); `getAllPositions` lists the vault UTxOs
there that the stub batcher (stubs/surf_batcher.py) created for the address, each with its
VaultDatum's borrow id (the borrow order's outRef, "txid#ix") and the vault's own outRef,
and `repay` builds the ORepay order for either; `getAllOrders` and `cancelOrder` read the
order UTxOs there. A wallet that cannot pay gets HTTP 400 `{"error":
"stub_not_enough_funds: ..."}` and an endpoint that cannot be read HTTP 503 `{"error":
"stub_chain_unreachable: ..."}`: neither string is Surf's (no recording shows what Surf
answers then).

`make_handler(fixtures_dir)` is what `python -m stubs surf` (dhl run in paper mode) serves.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Mapping

import cbor2
from pycardano import (Address, Network, PlutusV3Script, TransactionId,
                       TransactionInput, TransactionOutput, UTxO, VerificationKeyHash,
                       plutus_script_hash)

from chain.ledger import LedgerError, TxOut, decode_transaction
from chain.ledger.tx import TxIn
from chain.slots import ms_to_slot
from core.units import ADA, Asset
from protocols.errors import DatumLayoutError
from protocols.model import Wallet
from protocols.offline_chain import ProtocolParams
from protocols.venues.surf import orders, rates
from protocols.venues.surf.datums import (CollateralInfo, OBorrow, ODeposit, OracleDatum,
                                          OrderDatum, OutRef, PoolDatum, PoolInfoDatum,
                                          VaultDatum, encode_value, order_name, read_order,
                                          read_pool, read_vault)
from protocols.venues.surf.tokens import POOL_NFT
from stubs.server import Handler, Reply, Request

DATA_FILE = Path(__file__).resolve().parent / "data" / "surf_demo.json"
FLAT_BODY_ERROR = "Cannot read properties of undefined (reading 'poolId')"
ALREADY = "BadInputsUTxO: All inputs are spent. Transaction has probably already been included"
#: How long a built order transaction stays valid (slots).
TTL_SLOTS = 2 * 3600
#: Lovelace a made-up paper wallet holds beyond what the order pays.
PAPER_FLOAT = 20_000_000
#: A made-up PlutusV3 cost model: the stub's cancel transactions must carry some script
#: data hash; no node will ever see them.
DEMO_COST_MODEL = tuple(range(10))
#: Chain mode's errors (the stub's own strings: Surf's are not known for these cases).
NOT_ENOUGH_FUNDS = "stub_not_enough_funds"
CHAIN_UNREACHABLE = "stub_chain_unreachable"
#: Chain mode: lovelace the picked UTxOs hold beyond the order (the network fee and a
#: change output with tokens).
PICK_MARGIN_LOVELACE = 3_000_000
#: An address's UTxOs on the sandbox chain (stubs/sandbox_utxos.py output_reader).
ChainReader = Callable[[str], Mapping[TxIn, TxOut]]


class NotEnoughFunds(ValueError):
    """Chain mode: the wallet's UTxOs on the chain cannot pay the order."""


class ChainUnreachable(Exception):
    """Chain mode: the sandbox's UTxO endpoint could not be read."""


def _hex(text: str) -> bytes:
    return bytes.fromhex(text)


def _asset_of(item: dict[str, Any]) -> Asset:
    return ADA if not item.get("policyId") else Asset(item["policyId"], item["assetName"])


@dataclass
class DemoPool:
    wire_id: str
    row: dict[str, Any]  # the getAllPoolInfos row
    info: PoolInfoDatum  # what the chain would say of it
    pool: PoolDatum
    order_script: bytes
    vault_script: bytes
    oracle: OracleDatum
    addresses_as: str
    pool_script: bytes  # the pool validator's hash (synthetic)
    pool_nft: Asset  # the POOL_NFT that marks its pool UTxO (pool_auth_policy's)

    @property
    def market_id(self) -> str:
        return str(self.info.pool_id)


@dataclass
class DemoWallet:
    pkh: bytes
    stake: bytes | None
    utxos: list[str]  # CIP-30 [input, output] CBOR pairs, hex
    positions: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)


def _utxo_pair(address: str, tx: str, index: int, lovelace: int,
               assets: dict[str, int]) -> str:
    value: dict[Asset, int] = {ADA: lovelace}
    for unit, quantity in assets.items():
        policy, _, name = unit.partition(".")
        value[Asset(policy, name)] = quantity
    out = TransactionOutput(Address.from_primitive(address), orders.py_value(value))
    return str(UTxO(TransactionInput(TransactionId(_hex(tx)), index), out).to_cbor_hex())


class SurfStub:
    def __init__(self, data: dict[str, Any], *, mainnet: bool,
                 chain: ChainReader | None = None) -> None:
        """`chain`: chain mode, an address's UTxOs on the sandbox chain (None: paper)."""
        self.mainnet = mainnet
        self.chain = chain
        self.network = Network.MAINNET if mainnet else Network.TESTNET
        self.ada_price = data["ada_price_usd"]
        self.pools: dict[str, DemoPool] = {}
        for item in data["pools"]:
            pool = self._pool(item)
            self.pools[pool.wire_id] = pool
        self.wallets: dict[str, DemoWallet] = {}
        for item in data["wallets"]:
            pkh = _hex(item["payment_key_hash"])
            stake = _hex(item["stake_key_hash"]) if item.get("stake_key_hash") else None
            address = self.key_address(pkh, stake)
            pairs = [_utxo_pair(address, u["tx"], u["index"], u["lovelace"], u["assets"])
                     for u in item["utxos"]]
            self.wallets[address] = DemoWallet(pkh, stake, pairs, item.get("positions", []),
                                               item.get("orders", []))
        self.submitted: set[str] = set()
        self._lock = threading.Lock()

    # -- the demo world ---------------------------------------------------------------------
    def _pool(self, item: dict[str, Any]) -> DemoPool:
        row, spec = item["api"], item["chain"]
        pool_id = OutRef.parse(item["wire_id"])
        order_script = spec["order_script"].encode()
        vault_script = spec["vault_script"].encode()
        collaterals = tuple(
            CollateralInfo(_asset_of(c["asset"]),
                           Asset(s["oracle_policy"], s["oracle_name"]),
                           s["liquidation_threshold"], s["max_borrow_ltv"])
            for c, s in zip(row["collateralAssets"], spec["collaterals"]))
        info = PoolInfoDatum(
            pool_id=pool_id, envelope_amount=spec["envelope_amount"],
            pool_asset=_asset_of(row["asset"]), ctoken=_asset_of(row["cToken"]),
            vault_authtoken=Asset(spec["vault_auth_policy"], ""),
            batcher_policy_id=_hex(spec["batcher_policy"]),
            order_script_hash=plutus_script_hash(PlutusV3Script(order_script)).payload,
            vault_script_hash=plutus_script_hash(PlutusV3Script(vault_script)).payload,
            pool_stake_key=None if spec["pool_stake_key"] is None else _hex(spec["pool_stake_key"]),
            reserve_factor_percentage=spec["reserve_factor_percentage"],
            collateral_infos=collaterals, kink=spec["kink"], base_rate=spec["base_rate"],
            slope_low=spec["slope_low"], slope_high=spec["slope_high"])
        pool = PoolDatum(pool_id, row["totalSupplied"], row["totalBorrowed"], row["reserve"],
                         row["totalCToken"])
        first = spec["collaterals"][0]
        return DemoPool(item["wire_id"], row, info, pool, order_script, vault_script,
                        OracleDatum(first["oracle_price"], first["oracle_decimals"],
                                    1_780_000_000_000), item["addresses_as"],
                        _hex(spec["pool_script_hash"]),
                        Asset(spec["pool_auth_policy"], POOL_NFT.hex()))

    def key_address(self, pkh: bytes, stake: bytes | None) -> str:
        return str(Address(VerificationKeyHash(pkh),
                           None if stake is None else VerificationKeyHash(stake),
                           network=self.network))

    def context(self, pool: DemoPool) -> orders.PoolContext:
        return orders.PoolContext(pool.info, self.mainnet)

    def wallet(self, address: str, pays: dict[Asset, int] | None = None) -> Wallet:
        """The wallet to build from; a paper wallet (no UTxOs known) gets one made up to
        pay `pays` and PAPER_FLOAT more. Chain mode: its UTxOs on the chain."""
        if self.chain is not None:
            return self._chain_wallet(address)
        if not self._is_paper(address):
            return Wallet(address, tuple(self.wallets[address].utxos))
        need = dict(pays or {})
        lovelace = need.pop(ADA, 0) + PAPER_FLOAT
        made_up = hashlib.blake2b(f"{address}|{sorted((a.unit, q) for a, q in need.items())}"
                                  f"|{lovelace}|{time.time_ns()}".encode(), digest_size=32)
        pair = _utxo_pair(address, made_up.hexdigest(), 0, lovelace,
                          {f"{a.policy}.{a.name}": q for a, q in need.items()})
        return Wallet(address, (pair,))

    def _chain_wallet(self, address: str) -> Wallet:
        utxos = self._read(address)
        if not utxos:
            raise NotEnoughFunds("the wallet holds no UTxOs on the chain")
        return Wallet(address, tuple(cip30_pair(ref, out) for ref, out in sorted(utxos.items())))

    def _read(self, address: str) -> Mapping[TxIn, TxOut]:
        """Chain mode: an address's UTxOs, or ChainUnreachable."""
        assert self.chain is not None
        try:
            return self.chain(address)
        except OSError as error:
            raise ChainUnreachable(str(error) or type(error).__name__) from None

    def pool_address(self, pool: DemoPool) -> str:
        return orders.script_address(pool.pool_script, self.mainnet)

    def chain_pool(self, pool: DemoPool) -> PoolDatum | None:
        """Chain mode: the pool's state on the chain; None when its UTxO is not there."""
        address = self.pool_address(pool)
        found = pool_utxo(self._read(address), address, pool.pool_nft)
        return None if found is None else pool_state(pool.info, found[1])

    def chain_vaults(self, pool: DemoPool,
                     owner: bytes) -> list[tuple[TxIn, TxOut, VaultDatum]]:
        address = self.context(pool).vault_address
        return vaults_of(self._read(address), address, pool.info, owner)

    def _is_paper(self, address: str) -> bool:
        """A wallet whose UTxOs the demo data does not hold (the engine's paper wallet)."""
        if self.chain is not None:
            return False
        known = self.wallets.get(address)
        return known is None or not known.utxos

    def ttl(self) -> int:
        network = "mainnet" if self.mainnet else "preprod"
        return ms_to_slot(network, int(time.time() * 1000)) + TTL_SLOTS

    def add_wallet(self, address: str, utxos: tuple[str, ...],
                   positions: list[dict[str, Any]] | None = None,
                   pending: list[dict[str, Any]] | None = None) -> None:
        """Tests: another wallet the stub's 'Blockfrost' knows."""
        owner = orders.Owner.of(address)
        self.wallets[address] = DemoWallet(owner.pkh, owner.stake_key, list(utxos),
                                           positions or [], pending or [])

    def vault(self, wallet: DemoWallet, position: dict[str, Any]) -> VaultDatum:
        pool = self.pools[position["pool"]]
        return VaultDatum(pool.info.pool_id, OutRef.parse(position["borrow_id"]), wallet.pkh,
                          wallet.stake, position["collateral"],
                          pool.info.collateral_infos[0].collateral_asset,
                          position["interest_rate_bp"], position["start_time"],
                          position["principal"])

    def vault_output(self, pool: DemoPool, vault: VaultDatum, lovelace: int) -> bytes:
        """The vault UTxO's output CBOR (what a chain would hold)."""
        value = {ADA: lovelace, pool.info.vault_authtoken: 1}
        value[vault.collateral_asset] = value.get(vault.collateral_asset, 0) \
            + vault.collateral_amount
        address = self.context(pool).vault_address
        return _output_cbor(address, value, encode_value(vault))

    def order_datum(self, wallet: DemoWallet, item: dict[str, Any]) -> ODeposit:
        pool = self.pools[item["pool"]]
        return ODeposit(pool.info.pool_id, wallet.pkh, wallet.stake, item["batcher_fee"],
                        item["amount"])

    def order_output(self, wallet: DemoWallet, item: dict[str, Any]) -> bytes:
        pool = self.pools[item["pool"]]
        datum = self.order_datum(wallet, item)
        plan = orders.deposit_plan(self.context(pool), orders.Owner(wallet.pkh, wallet.stake),
                                   datum.o_amount, datum.o_batcher_fee)
        return _output_cbor(plan.address, plan.value, encode_value(datum))

    # -- HTTP --------------------------------------------------------------------------------
    def __call__(self, request: Request) -> Reply:
        path = request.path.rstrip("/")
        path = path[len("/api"):] if path.startswith("/api/") else path
        name = path.lstrip("/")
        if request.method == "GET":
            reads = {"getAllPoolInfos": self.get_all_pool_infos,
                     "getPoolAddresses": self.get_pool_addresses,
                     "getAllPositions": self.get_all_positions,
                     "getAllOrders": self.get_all_orders,
                     "getAdaPrice": lambda q: {"price": self.ada_price}}
            if name in reads:
                try:
                    return Reply(200, _jsonable(reads[name](request.query)))
                except ChainUnreachable as error:
                    return _unreachable(error)
        if request.method == "POST":
            if name == "wallet/submit":
                return self.submit(request.body)
            builders = {"depositLiquidity": self.deposit, "withdrawLiquidity": self.withdraw,
                        "borrow": self.borrow, "repay": self.repay,
                        "cancelOrder": self.cancel}
            if name in builders:
                body = request.body
                if not isinstance(body, dict) or not isinstance(body.get("request"), dict):
                    return Reply(500, {"error": FLAT_BODY_ERROR})
                inner = body["request"]
                if inner.get("canonical") is not False:
                    return Reply(400, {"error": "canonical must be the boolean false (stub)"})
                pool = self.pools.get(str(inner.get("poolId")))
                if pool is None:
                    return Reply(400, {"error": f"Pool {inner.get('poolId')} not found"})
                address = inner.get("address")
                if not isinstance(address, str) or not _is_address(address, self.mainnet):
                    return Reply(400, {"error": "No UTxOs found at this address (stub)"})
                try:
                    cbor = builders[name](pool, str(address), inner)
                except ChainUnreachable as error:
                    return _unreachable(error)
                except NotEnoughFunds as error:
                    return Reply(400, {"error": f"{NOT_ENOUGH_FUNDS}: {error}"})
                except (ValueError, KeyError, TypeError) as error:
                    return Reply(400, {"error": f"{type(error).__name__}: {error}"})
                return Reply(200, {"cbor": cbor.hex()})
        return Reply(404, {"error": f"no route {request.method} {request.path}"})

    def get_all_pool_infos(self, query: dict[str, str]) -> dict[str, Any]:
        if self.chain is None:
            return {"poolInfos": {p.wire_id: p.row for p in self.pools.values()}}
        return {"poolInfos": {p.wire_id: {**p.row, **state_fields(self.chain_pool(p), p.info)}
                              for p in self.pools.values()}}

    def get_pool_addresses(self, query: dict[str, str]) -> dict[str, Any]:
        found: dict[str, dict[str, Any]] = {}
        for pool in self.pools.values():
            spec_pool = pool.pool_script
            vault = pool.info.vault_script_hash
            if pool.addresses_as == "credentials":
                found[pool.wire_id] = {
                    "poolAddress": self._credential(spec_pool),
                    "vaultUTxOsAddress": self._credential(vault)}
            else:
                found[pool.wire_id] = {
                    "poolAddress": orders.script_address(spec_pool, self.mainnet),
                    "vaultUTxOsAddress": orders.script_address(vault, self.mainnet)}
        return {"poolAddresses": found}

    def _credential(self, script_hash: bytes) -> dict[str, Any]:
        return {"networkId": 1 if self.mainnet else 0,
                "paymentCredential": {"_tag": "ScriptHash", "hash": script_hash.hex()},
                "stakingCredential": None}

    def get_all_positions(self, query: dict[str, str]) -> dict[str, Any]:
        address = query.get("address", "")
        if self.chain is not None:
            return self._chain_positions(address)
        wallet = self.wallets.get(address)
        groups: dict[str, list[dict[str, Any]]] = {}
        for item in [] if wallet is None else wallet.positions:
            pool = self.pools[item["pool"]]
            vault = self.vault(wallet, item)  # type: ignore[arg-type]
            groups.setdefault(pool.wire_id, []).append(
                self._position_row(pool, vault, OutRef.parse(item["out_ref"]), address))
        return {"positions": [{"poolId": k, "positions": v} for k, v in groups.items()]}

    def _chain_positions(self, address: str) -> dict[str, Any]:
        """The address's loans on the chain: its vault UTxOs, each under its borrow id."""
        if not _is_address(address, self.mainnet):
            return {"positions": []}
        owner = self._owner(address)
        groups = []
        for pool in self.pools.values():
            rows = [self._position_row(pool, vault, OutRef(*ref), address)
                    for ref, _, vault in self.chain_vaults(pool, owner.pkh)]
            if rows:
                groups.append({"poolId": pool.wire_id, "positions": rows})
        return {"positions": groups}

    def _position_row(self, pool: DemoPool, vault: VaultDatum, out_ref: OutRef,
                      address: str) -> dict[str, Any]:
        debt = rates.debt_at(vault, int(time.time() * 1000))
        collateral_value = rates.collateral_value(vault.collateral_amount, pool.oracle)
        return {
            "poolId": pool.wire_id, "address": address,
            "principal": vault.principal, "principalAsset": _wire_asset(pool.info.pool_asset),
            "collateral": vault.collateral_amount,
            "collateralAsset": _wire_asset(vault.collateral_asset),
            "interestRate": Decimal(vault.interest_rate) / 10_000,
            "startTime": vault.start_time,
            "ltv": (Decimal(debt) / (Decimal(collateral_value.numerator)
                                     / collateral_value.denominator)).quantize(
                Decimal("0.0001")),
            "borrowId": _wire_ref(vault.borrow_id),
            "outRef": _wire_ref(out_ref)}

    def get_all_orders(self, query: dict[str, str]) -> dict[str, Any]:
        if self.chain is not None:
            return self._chain_orders(query.get("address", ""))
        wallet = self.wallets.get(query.get("address", ""))
        groups: dict[str, list[dict[str, Any]]] = {}
        for item in [] if wallet is None else wallet.orders:
            pool = self.pools[item["pool"]]
            groups.setdefault(pool.wire_id, []).append({
                "poolId": pool.wire_id, "type": item["type"], "address": query["address"],
                "amount": item["amount"], "asset": _wire_asset(pool.info.pool_asset),
                "collateral": 0, "collateralAsset": _wire_asset(ADA), "ltv": 0,
                "outRef": _wire_ref(OutRef.parse(item["out_ref"]))})
        return {"orders": [{"poolId": k, "orders": v} for k, v in groups.items()]}

    def _chain_orders(self, address: str) -> dict[str, Any]:
        """The address's order UTxOs on the chain, not yet batched."""
        if not _is_address(address, self.mainnet):
            return {"orders": []}
        owner = self._owner(address)
        groups = []
        for pool in self.pools.values():
            rows = []
            where = self.context(pool).order_address
            for ref, out in sorted(self._read(where).items()):
                datum = _order_of(out)
                if datum is None or datum.o_pool_id != pool.info.pool_id \
                        or getattr(datum, "o_owner_pkh") != owner.pkh:
                    continue
                rows.append(_order_row(pool, datum, OutRef(*ref), address))
            if rows:
                groups.append({"poolId": pool.wire_id, "orders": rows})
        return {"orders": groups}

    # builders: the project's own order builder over the demo wallet's UTxOs
    def _fee(self, pool: DemoPool) -> int:
        return int(self.batcher_fee(pool))

    def batcher_fee(self, pool: DemoPool) -> int:
        return 2_000_000

    def _owner(self, address: str) -> orders.Owner:
        return orders.Owner.of(address)

    def _build(self, plan: orders.OrderPlan, pool: DemoPool, address: str,
               pays: dict[Asset, int]) -> bytes:
        if self.chain is not None:
            return self._chain_build(plan, pool, address, pays)
        return orders.build_order(plan, pool.market_id, self.wallet(address, pays),
                                  mainnet=self.mainnet, ttl=self.ttl()).cbor

    def _chain_build(self, plan: orders.OrderPlan, pool: DemoPool, address: str,
                     pays: dict[Asset, int]) -> bytes:
        """The order paid from the wallet's UTxOs on the chain: from those `choose_utxos`
        picks (the rest stay as they are, whatever the builder's random selection does),
        else from all of them; NotEnoughFunds when neither pays it."""
        utxos = self._read(address)
        if not utxos:
            raise NotEnoughFunds("the wallet holds no UTxOs on the chain")
        error: ValueError | None = None
        for refs in (choose_utxos(utxos, pays, PICK_MARGIN_LOVELACE), sorted(utxos)):
            wallet = Wallet(address, tuple(cip30_pair(ref, utxos[ref]) for ref in refs))
            try:
                return orders.build_order(plan, pool.market_id, wallet, mainnet=self.mainnet,
                                          ttl=self.ttl()).cbor
            except ValueError as failed:  # the plan is valid by now: only paying can fail
                error = failed
        raise NotEnoughFunds(str(error))

    def deposit(self, pool: DemoPool, address: str, inner: dict[str, Any]) -> bytes:
        amount = _amount(inner, "amount")
        plan = orders.deposit_plan(self.context(pool), self._owner(address), amount,
                                   self._fee(pool), rates.ctokens_for_deposit(pool.pool, amount))
        return self._build(plan, pool, address, plan.value)

    def withdraw(self, pool: DemoPool, address: str, inner: dict[str, Any]) -> bytes:
        ctokens = _amount(inner, "amount")
        plan = orders.withdraw_plan(self.context(pool), self._owner(address), ctokens,
                                    self._fee(pool), rates.withdraw_payment(pool.pool, ctokens))
        return self._build(plan, pool, address, plan.value)

    def borrow(self, pool: DemoPool, address: str, inner: dict[str, Any]) -> bytes:
        collateral = pool.info.collateral_infos[0].collateral_asset
        principal = _amount(inner, "amount")
        now = int(time.time() * 1000)
        plan = orders.borrow_plan(self.context(pool), self._owner(address), principal,
                                  collateral, _amount(inner, "collateralAmount"),
                                  self._fee(pool), now)
        paper = self._is_paper(address)
        cbor = self._build(plan, pool, address, plan.value)
        if paper:
            self._paper_loan(pool, address, cbor, plan, principal, now)
        return cbor

    def _paper_loan(self, pool: DemoPool, address: str, cbor: bytes,
                    plan: orders.OrderPlan, principal: int, now: int) -> None:
        """Paper: the borrow just built is batched at once; its order's outRef is the
        loan's borrow id (and its vault's, until it moves)."""
        tx = decode_transaction(cbor)
        [order] = orders.orders_in(tx)
        assert isinstance(plan.datum, OBorrow)
        ref = f"{tx.id.hex()}#{order.index}"
        owner = self._owner(address)
        with self._lock:
            wallet = self.wallets.setdefault(
                address, DemoWallet(owner.pkh, owner.stake_key, [], [], []))
            wallet.positions.append({
                "pool": pool.wire_id, "borrow_id": ref, "out_ref": ref,
                "principal": principal, "collateral": plan.datum.o_collateral_amount,
                "interest_rate_bp": rates.rate_for_new_loan(pool.pool, pool.info),
                "start_time": now, "vault_lovelace": 2_000_000})

    def repay(self, pool: DemoPool, address: str, inner: dict[str, Any]) -> bytes:
        wanted = _ref_of(inner)
        if self.chain is not None:
            return self._chain_repay(pool, address, wanted)
        wallet = self.wallets[address]
        for item in wallet.positions:
            if item["pool"] == pool.wire_id and OutRef.parse(item["out_ref"]) == wanted:
                vault = self.vault(wallet, item)
                plan = orders.repay_plan(self.context(pool), vault, self._fee(pool),
                                         int(time.time() * 1000) + orders.REPAY_HORIZON_MS)
                return self._build(plan, pool, address, plan.value)
        raise ValueError(f"no position at {wanted} (a position's outRef moves when it is "
                         f"rebatched: read getAllPositions again)")

    def _chain_repay(self, pool: DemoPool, address: str, wanted: OutRef) -> bytes:
        """The ORepay order of a loan on the chain, named by its vault's outRef or its
        borrow id: like Surf's, it spends only wallet UTxOs (the batcher spends the vault)."""
        for ref, _, vault in self.chain_vaults(pool, self._owner(address).pkh):
            if wanted in (OutRef(*ref), vault.borrow_id):
                plan = orders.repay_plan(self.context(pool), vault, self._fee(pool),
                                         int(time.time() * 1000) + orders.REPAY_HORIZON_MS)
                return self._build(plan, pool, address, plan.value)
        raise ValueError(f"no loan at {wanted} for this address on the chain (read "
                         f"getAllPositions again)")

    def cancel(self, pool: DemoPool, address: str, inner: dict[str, Any]) -> bytes:
        wanted = _ref_of(inner)
        if self.chain is not None:
            return self._chain_cancel(pool, address, wanted)
        wallet = self.wallets[address]
        for item in wallet.orders:
            if item["pool"] == pool.wire_id and OutRef.parse(item["out_ref"]) == wanted:
                utxo = orders.ScriptUtxo(wanted, self.order_output(wallet, item))
                params = ProtocolParams(plutus_v3_cost_model=DEMO_COST_MODEL)
                return orders.build_cancel(
                    utxo, pool.market_id, self.wallet(address, {}),
                    orders.ScriptSource(script=pool.order_script), mainnet=self.mainnet,
                    params=params, slot=100_000_000).cbor
        raise ValueError(f"no pending order at {wanted}")

    def _chain_cancel(self, pool: DemoPool, address: str, wanted: OutRef) -> bytes:
        """The order script's Cancel of an order UTxO on the chain, paid from the wallet's
        UTxOs there (the sandbox runs no script: the made-up script and cost model do)."""
        out = self._read(self.context(pool).order_address).get((wanted.tx_id, wanted.index))
        if out is None or _order_of(out) is None:
            raise ValueError(f"no pending order at {wanted} on the chain")
        utxo = orders.ScriptUtxo(wanted, bytes(cbor2.dumps(
            output_map(out.address_bytes, value_of(out), out.inline_datum))))
        params = ProtocolParams(plutus_v3_cost_model=DEMO_COST_MODEL)
        return orders.build_cancel(
            utxo, pool.market_id, self._chain_wallet(address),
            orders.ScriptSource(script=pool.order_script), mainnet=self.mainnet,
            params=params, slot=self.ttl() - TTL_SLOTS).cbor

    def submit(self, body: Any) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("tx"), str):
            return Reply(400, {"error": "expected {address, tx}"})
        try:
            tx_id = decode_transaction(bytes.fromhex(body["tx"])).id.hex()
        except (ValueError, LedgerError) as error:
            return Reply(400, {"error": f"not a transaction: {error}"})
        with self._lock:
            if tx_id in self.submitted:
                return Reply(500, {"error": ALREADY})
            self.submitted.add(tx_id)
        return Reply(200, {"txHash": tx_id})


def _is_address(text: str, mainnet: bool) -> bool:
    """A key-payment bech32 address of the stub's network (what a wallet can be)."""
    try:
        address = Address.from_primitive(text)
    except Exception:  # pycardano raises several kinds for a bad address
        return False
    wanted = Network.MAINNET if mainnet else Network.TESTNET
    return address.network == wanted and isinstance(address.payment_part,
                                                    VerificationKeyHash)


def _output_cbor(address: str, value: dict[Asset, int], datum: Any = None) -> bytes:
    """A post-Alonzo output; `datum` (decoded Plutus data) inline, when given."""
    return bytes(cbor2.dumps(output_map(Address.from_primitive(address).to_primitive(), value,
                                        None if datum is None else cbor2.dumps(datum))))


def output_map(address: bytes, value: Mapping[Asset, int],
               datum_cbor: bytes | None = None) -> dict[int, Any]:
    """An output as the ledger's CBOR map: lovelace and the tokens (in the value's
    order), the datum inline."""
    multi: dict[bytes, dict[bytes, int]] = {}
    for asset, quantity in value.items():
        if not asset.is_ada:
            multi.setdefault(_hex(asset.policy), {})[_hex(asset.name)] = quantity
    amount: Any = [value.get(ADA, 0), multi] if multi else value.get(ADA, 0)
    out: dict[int, Any] = {0: address, 1: amount}
    if datum_cbor is not None:
        out[2] = [1, cbor2.CBORTag(24, datum_cbor)]
    return out


def cip30_pair(ref: TxIn, out: TxOut) -> str:
    """A chain UTxO as a CIP-30 [input, output] CBOR pair (hex)."""
    return bytes(cbor2.dumps([list(ref), output_map(out.address_bytes, value_of(out),
                                                    out.inline_datum)])).hex()


def _unreachable(error: ChainUnreachable) -> Reply:
    return Reply(503, {"error": f"{CHAIN_UNREACHABLE}: {error}"})


# --- the chain's Surf UTxOs (shared with stubs/surf_batcher.py) ----------------------------

def value_of(out: TxOut) -> dict[Asset, int]:
    value = {ADA: out.lovelace}
    for (policy, name), quantity in out.assets.items():
        value[Asset(policy.hex(), name.hex())] = quantity
    return value


def holding(out: TxOut, asset: Asset) -> int:
    if asset.is_ada:
        return out.lovelace
    return out.assets.get((_hex(asset.policy), _hex(asset.name)), 0)


def choose_utxos(utxos: Mapping[TxIn, TxOut], pays: Mapping[Asset, int],
                 margin: int) -> list[TxIn]:
    """The UTxOs an order is paid from: for each token, those holding the most of it
    until it is covered, then the largest in lovelace until `pays`' lovelace and `margin`
    are; by ref on ties (deterministic). Possibly too few: the builder says so."""
    chosen: list[TxIn] = []
    for asset, quantity in sorted(pays.items(), key=lambda item: item[0].unit):
        if asset.is_ada:
            continue
        for ref in sorted(utxos, key=lambda r: (-holding(utxos[r], asset), r)):
            if sum(holding(utxos[r], asset) for r in chosen) >= quantity \
                    or not holding(utxos[ref], asset):
                break
            if ref not in chosen:
                chosen.append(ref)
    for ref in sorted(utxos, key=lambda r: (-utxos[r].lovelace, r)):
        if sum(utxos[r].lovelace for r in chosen) >= pays.get(ADA, 0) + margin:
            break
        if ref not in chosen:
            chosen.append(ref)
    return chosen


def pool_state(info: PoolInfoDatum, out: TxOut) -> PoolDatum:
    """The pool UTxO's PoolDatum. A pool the sandbox's genesis funded has none yet (a
    genesis output carries no datum): it starts with what it holds of the pool asset as
    supplied, nothing borrowed, no reserve, and as many cTokens (1:1, the first
    deposit's rate); the batcher's first fill writes it."""
    if out.inline_datum is not None:
        return read_pool(out.inline_datum)
    held = holding(out, info.pool_asset)
    return PoolDatum(info.pool_id, held, 0, 0, held)


def pool_utxo(utxos: Mapping[TxIn, TxOut], address: str,
              nft: Asset) -> tuple[TxIn, TxOut] | None:
    """The pool's UTxO: at its address, holding its POOL_NFT (the first by ref, should
    anyone pay that address an NFT of the same name)."""
    found = sorted(ref for ref, out in utxos.items()
                   if out.address == address and holding(out, nft) == 1)
    return (found[0], utxos[found[0]]) if found else None


def vaults_of(utxos: Mapping[TxIn, TxOut], address: str, info: PoolInfoDatum,
              owner: bytes | None = None) -> list[tuple[TxIn, TxOut, VaultDatum]]:
    """The pool's vaults (at its vault address, holding its authtoken, a VaultDatum of
    the pool), of `owner`'s key when given; by ref."""
    found = []
    for ref, out in sorted(utxos.items()):
        if out.address != address or holding(out, info.vault_authtoken) != 1 \
                or out.inline_datum is None:
            continue
        try:
            vault = read_vault(out.inline_datum)
        except DatumLayoutError:
            continue
        if vault.pool_id == info.pool_id and (owner is None or vault.owner_pkh == owner):
            found.append((ref, out, vault))
    return found


def state_fields(state: PoolDatum | None, info: PoolInfoDatum) -> dict[str, Any]:
    """getAllPoolInfos' figures from the chain's pool state (an empty pool where its UTxO
    is not on the chain: nothing to lend)."""
    state = state or PoolDatum(info.pool_id, 0, 0, 0, 0)
    return {"totalSupplied": state.total_supplied, "totalBorrowed": state.total_borrowed,
            "reserve": state.reserve, "totalCToken": state.total_ctoken,
            "u": rates.utilisation_bp(state.total_borrowed, state.total_supplied),
            "borrowApr": rates.bp(rates.rate_for_new_loan(state, info)),
            "supplyApy": rates.supply_rate(state, info).quantize(Decimal("0.000001"))}


def _order_of(out: TxOut) -> OrderDatum | None:
    if out.inline_datum is None:
        return None
    try:
        return read_order(out.inline_datum)
    except DatumLayoutError:
        return None


ORDER_TYPE = {"ODeposit": "Deposit", "OWithdraw": "Withdraw", "OBorrow": "Borrow",
              "ORepay": "Repay", "OLiquidate": "Liquidate"}


def _order_row(pool: DemoPool, datum: OrderDatum, out_ref: OutRef,
               address: str) -> dict[str, Any]:
    amount = getattr(datum, "o_amount", getattr(datum, "o_principal", 0))
    collateral = getattr(datum, "o_collateral_amount", 0)
    return {"poolId": pool.wire_id, "type": ORDER_TYPE[order_name(datum)], "address": address,
            "amount": amount, "asset": _wire_asset(pool.info.pool_asset),
            "collateral": collateral,
            "collateralAsset": _wire_asset(getattr(datum, "o_collateral_asset", ADA)),
            "ltv": 0, "outRef": _wire_ref(out_ref)}


def _amount(inner: dict[str, Any], name: str) -> int:
    value = inner.get(name)
    if type(value) is not int or value <= 0:
        raise ValueError(f"{name} must be a positive integer")
    return value


def _ref_of(inner: dict[str, Any]) -> OutRef:
    ref = inner.get("outRef")
    if not isinstance(ref, dict):
        raise ValueError("outRef {txHash, outputIndex} is required")
    return OutRef.parse(f"{ref.get('txHash')}#{ref.get('outputIndex')}")


def _wire_asset(asset: Asset) -> dict[str, str]:
    return {"policyId": asset.policy, "assetName": asset.name}


def _wire_ref(ref: OutRef) -> dict[str, Any]:
    return {"txHash": ref.tx_id.hex(), "outputIndex": ref.index}


def _jsonable(value: Any) -> Any:
    """Decimals as JSON numbers (the stub server writes them exactly); integral ones as
    integers, as the API does."""
    if isinstance(value, Decimal):
        return value if value != value.to_integral_value() else int(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def load_demo(mainnet: bool, path: Path = DATA_FILE) -> SurfStub:
    return SurfStub(json.loads(path.read_text()), mainnet=mainnet)


def _mainnet_from_settings() -> bool:
    try:
        from core.settings import load_settings

        # As `dhl run` reads them: without CARDANO_NODE it replays preprod. Paper
        # positions trade from the paper wallet (a mainnet address by default, as
        # DexHunter is mainnet only): the stub serves that wallet's network.
        settings = load_settings(replay=True)
        paper_mainnet = settings.mode == "paper" and \
            settings.paper_wallet_address.startswith("addr1")
        return settings.cardano_network.is_mainnet or paper_mainnet
    except Exception:  # a stub without valid settings serves the paper network's addresses
        return False


def make_handler(fixtures_dir: Path, *, mainnet: bool | None = None,
                 chain_utxos: str | None = None) -> Handler:
    """What `python -m stubs surf` serves. `fixtures_dir` is not read: there are no
    recorded Surf bodies; the synthetic demo data is the project's own. `chain_utxos`:
    the sandbox's UTxO endpoint (`dhl sandbox --http-port`): chain mode."""
    from stubs.sandbox_utxos import output_reader

    return SurfStub(json.loads(DATA_FILE.read_text()),
                    mainnet=_mainnet_from_settings() if mainnet is None else mainnet,
                    chain=None if chain_utxos is None else output_reader(chain_utxos))


__all__ = ["SurfStub", "load_demo", "make_handler", "pool_state", "pool_utxo", "vaults_of"]
