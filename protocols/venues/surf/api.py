"""The Surf (formerly Flow Lending) REST API: reads, the order builders and submit.

Wire rules learned on the live API (dh-leverage-go.md §3; fixtures/protocols/surf-api):
- every builder body is wrapped as `{"request": {...}}` with `canonical: false` (a flat body
  gets HTTP 500 "Cannot read properties of undefined (reading 'poolId')");
- the server builds with Blockfrost: "Could not fetch UTxOs from Blockfrost … Try again" is
  transient (VenueUnavailable, retried: building twice is harmless); any other builder error
  is a refusal (VenueRefused), never retried;
- `wallet/submit` takes `{address, tx}` unwrapped and is sent once; "already been included",
  "All inputs are spent" or "BadInputsUTxO" mean the inputs are gone: our tx is probably on
  chain already, which only the chain can confirm (`Submitted.already`), never a fake hash;
- `getPoolAddresses` gives bech32 strings or credential objects
  `{networkId, paymentCredential: {_tag, hash}, stakingCredential}`; `getAllPositions` and
  `getAllOrders` are grouped by pool, each position with `outRef` (or `out_ref`): the loan's
  *current* UTxO, which moves when it is rebatched, so a repay re-reads it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from chain.ledger import LedgerError, decode_transaction
from core.units import ADA, Asset, UnitError
from protocols.errors import MalformedResponse, VenueApiError, VenueRefused, VenueUnavailable
from protocols.http import HttpPolicy, JsonHttpClient, require
from protocols.venues.surf.datums import OutRef

log = logging.getLogger(__name__)

VENUE = "surf"
BLOCKFROST_TRANSIENT = "Could not fetch UTxOs from Blockfrost"
ALREADY_SUBMITTED = ("already been included", "All inputs are spent", "BadInputsUTxO")
BUILDERS = ("depositLiquidity", "withdrawLiquidity", "borrow", "repay", "cancelOrder")


class AlreadySubmitted(VenueRefused):
    """The node refused the tx because its inputs are spent: most likely it is already on
    chain (a second submission), possibly spent by another tx. Check the chain."""


def classify(status: int, said: Any, where: str) -> VenueApiError | None:
    """Surf's error bodies (`{"error": "..."}`) as typed errors; None: default handling."""
    message = _error_text(said)
    if message is None:
        return None
    shown = message.replace("\n", " ")[:300]
    if BLOCKFROST_TRANSIENT.lower() in message.lower():
        return VenueUnavailable(VENUE, f"{where}: HTTP {status}: {shown}")
    if where.endswith("/wallet/submit") and any(s.lower() in message.lower()
                                                for s in ALREADY_SUBMITTED):
        return AlreadySubmitted(VENUE, f"{where}: HTTP {status}: {shown}")
    if where.startswith("POST") and status not in (429, 502, 503, 504):
        # Surf answers a request it cannot build with 500 and the reason, or 200 {error}.
        return VenueRefused(VENUE, f"{where}: HTTP {status}: {shown}")
    return None


def _error_text(said: Any) -> str | None:
    if isinstance(said, dict):
        for key in ("error", "message"):
            value = said.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])
    return None


# --- answers, typed ------------------------------------------------------------------------

@dataclass(frozen=True)
class ScriptAddress:
    """An address of getPoolAddresses, from either form the API gives."""

    bech32: str
    payment_hash: bytes
    payment_is_script: bool
    stake: tuple[str, bytes] | None  # ("script" | "key", hash), None: enterprise address


@dataclass(frozen=True)
class PoolAddresses:
    pool_key: str  # as the API keys it
    pool: ScriptAddress
    vault: ScriptAddress | None


@dataclass(frozen=True)
class Position:
    """An open loan as the API reports it (amounts in base units)."""

    pool_id: str
    address: str
    principal: int
    principal_asset: Asset
    collateral: int
    collateral_asset: Asset
    interest_rate: Decimal | None  # as the API gives it (its unit is not documented)
    start_time: int | None
    ltv: Decimal | None
    borrow_id: OutRef
    out_ref: OutRef  # the loan's current (vault) UTxO


@dataclass(frozen=True)
class PendingOrder:
    pool_id: str
    type: str
    address: str
    amount: int | None
    asset: Asset | None
    collateral: int | None
    collateral_asset: Asset | None
    out_ref: OutRef


@dataclass(frozen=True)
class Submitted:
    tx_id: str
    #: The API said the tx's inputs are spent ("already included", BadInputsUTxO): it is
    #: most likely on chain already; only the chain can confirm it.
    already: bool = False


# --- field readers ---------------------------------------------------------------------------

def amount(value: Any, path: str) -> int:
    """A base-unit amount: an integer, or a string of digits (big numbers in JSON)."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value() and value >= 0:
        return int(value)
    number = require(VENUE, value, path, int)
    if number < 0:
        raise MalformedResponse(VENUE, f"{path}: negative amount {number}")
    return int(number)


def decimal(value: Any, path: str) -> Decimal:
    number = require(VENUE, value, path, (int, Decimal))
    return Decimal(number)


def asset(value: Any, path: str) -> Asset:
    """`{policyId, assetName}` (hex; empty for ADA), or one unit string."""
    if isinstance(value, str):
        try:
            return Asset.from_unit(value)
        except UnitError as error:
            raise MalformedResponse(VENUE, f"{path}: {error}") from None
    item = require(VENUE, value, path, dict)
    policy = require(VENUE, item.get("policyId", ""), f"{path}.policyId", str).lower()
    name = require(VENUE, item.get("assetName", ""), f"{path}.assetName", str).lower()
    if policy in ("", "lovelace"):
        if name not in ("", "6c6f76656c616365"):
            raise MalformedResponse(VENUE, f"{path}: an asset name without a policy id")
        return ADA
    try:
        bytes.fromhex(policy + name)
    except ValueError:
        raise MalformedResponse(VENUE, f"{path}: policy id or asset name is not hex") from None
    if len(policy) != 56 or len(name) > 64 or len(name) % 2:
        raise MalformedResponse(VENUE, f"{path}: not a policy id and asset name")
    return Asset(policy, name)


def out_ref(value: Any, path: str) -> OutRef:
    item = require(VENUE, value, path, dict)
    tx = item.get("txHash", item.get("tx_hash"))
    index = item.get("outputIndex", item.get("output_index"))
    tx = require(VENUE, tx, f"{path}.txHash", str)
    index = require(VENUE, index, f"{path}.outputIndex", int)
    try:
        return OutRef.parse(f"{tx}#{index}")
    except ValueError:
        raise MalformedResponse(VENUE, f"{path}: not a transaction hash and index") from None


def _field(item: Mapping[str, Any], path: str, *names: str) -> Any:
    for name in names:
        if name in item:
            return item[name]
    raise MalformedResponse(VENUE, f"{path}: no {' or '.join(names)}")


def script_address(value: Any, path: str, mainnet: bool) -> ScriptAddress:
    """A bech32 string, or `{networkId, paymentCredential: {_tag, hash}, stakingCredential}`."""
    from pycardano import Address, Network, ScriptHash, VerificationKeyHash

    if isinstance(value, str):
        try:
            address = Address.from_primitive(value)
        except Exception:  # pycardano raises several types for a bad string
            raise MalformedResponse(VENUE, f"{path}: not a bech32 address") from None
    else:
        item = require(VENUE, value, path, dict)
        payment = _credential(item.get("paymentCredential"), f"{path}.paymentCredential")
        if payment is None:
            raise MalformedResponse(VENUE, f"{path}.paymentCredential: missing")
        stake = _credential(item.get("stakingCredential"), f"{path}.stakingCredential")
        network_id = item.get("networkId", 1 if mainnet else 0)
        if network_id not in (0, 1):
            raise MalformedResponse(VENUE, f"{path}.networkId: {network_id!r} is not 0 or 1")
        parts = []
        for kind, digest in (payment, stake) if stake else (payment,):
            parts.append(ScriptHash(digest) if kind == "script" else VerificationKeyHash(digest))
        address = Address(parts[0], parts[1] if len(parts) > 1 else None,
                          network=Network.MAINNET if network_id == 1 else Network.TESTNET)
    if (address.network.name == "MAINNET") != mainnet:
        raise MalformedResponse(VENUE, f"{path}: an address of another network")
    payment_part = address.payment_part
    staking = address.staking_part
    stake_part: tuple[str, bytes] | None = None
    if isinstance(staking, ScriptHash):
        stake_part = ("script", staking.payload)
    elif isinstance(staking, VerificationKeyHash):
        stake_part = ("key", staking.payload)
    elif staking is not None:
        raise MalformedResponse(VENUE, f"{path}: a pointer stake reference")
    if payment_part is None:
        raise MalformedResponse(VENUE, f"{path}: no payment credential")
    return ScriptAddress(str(address), payment_part.payload, isinstance(payment_part, ScriptHash),
                         stake_part)


def _credential(value: Any, path: str) -> tuple[str, bytes] | None:
    if value is None:
        return None
    item = require(VENUE, value, path, dict)
    if "credential" in item and isinstance(item["credential"], dict):
        item = item["credential"]  # the `{_tag: "inline", credential: {...}}` form
    tag = require(VENUE, item.get("_tag", item.get("type")), f"{path}._tag", str)
    digest = require(VENUE, item.get("hash"), f"{path}.hash", str)
    kinds = {"scripthash": "script", "script": "script", "keyhash": "key", "key": "key"}
    if tag.lower() not in kinds:
        raise MalformedResponse(VENUE, f"{path}._tag: {tag!r} is no credential kind")
    try:
        raw = bytes.fromhex(digest)
    except ValueError:
        raise MalformedResponse(VENUE, f"{path}.hash: not hex") from None
    if len(raw) != 28:
        raise MalformedResponse(VENUE, f"{path}.hash: {len(raw)} bytes, expected 28")
    return kinds[tag.lower()], raw


def _grouped(answer: Any, key: str, path: str) -> list[tuple[str, dict[str, Any]]]:
    """`{key: [{poolId, key: [...]}, ...]}` -> [(path, item)]; a flat item is accepted too."""
    body = require(VENUE, answer, path, dict)
    groups = require(VENUE, body.get(key, []), f"{path}.{key}", list)
    found: list[tuple[str, dict[str, Any]]] = []
    for i, group in enumerate(groups):
        where = f"{path}.{key}[{i}]"
        group = require(VENUE, group, where, dict)
        if key in group:
            for j, item in enumerate(require(VENUE, group[key], f"{where}.{key}", list)):
                item = require(VENUE, item, f"{where}.{key}[{j}]", dict)
                if "poolId" not in item and "poolId" in group:
                    item = {**item, "poolId": group["poolId"]}
                found.append((f"{where}.{key}[{j}]", item))
        else:
            found.append((where, group))
    return found


def parse_positions(answer: Any) -> list[Position]:
    positions = []
    for path, item in _grouped(answer, "positions", "getAllPositions"):
        borrow = _field(item, path, "borrowId", "borrow_id")
        current = item.get("outRef", item.get("out_ref", borrow))
        positions.append(Position(
            pool_id=require(VENUE, item.get("poolId"), f"{path}.poolId", str),
            address=require(VENUE, item.get("address", ""), f"{path}.address", str),
            principal=amount(_field(item, path, "principal"), f"{path}.principal"),
            principal_asset=asset(item.get("principalAsset", {}), f"{path}.principalAsset"),
            collateral=amount(_field(item, path, "collateral"), f"{path}.collateral"),
            collateral_asset=asset(item.get("collateralAsset", {}), f"{path}.collateralAsset"),
            interest_rate=(None if item.get("interestRate") is None
                           else decimal(item["interestRate"], f"{path}.interestRate")),
            start_time=(None if item.get("startTime") is None
                        else amount(item["startTime"], f"{path}.startTime")),
            ltv=None if item.get("ltv") is None else decimal(item["ltv"], f"{path}.ltv"),
            borrow_id=out_ref(borrow, f"{path}.borrowId"),
            out_ref=out_ref(current, f"{path}.outRef")))
    return positions


def parse_orders(answer: Any) -> list[PendingOrder]:
    orders = []
    for path, item in _grouped(answer, "orders", "getAllOrders"):
        orders.append(PendingOrder(
            pool_id=require(VENUE, item.get("poolId"), f"{path}.poolId", str),
            type=require(VENUE, item.get("type", ""), f"{path}.type", str),
            address=require(VENUE, item.get("address", ""), f"{path}.address", str),
            amount=None if item.get("amount") is None else amount(item["amount"],
                                                                   f"{path}.amount"),
            asset=None if item.get("asset") is None else asset(item["asset"], f"{path}.asset"),
            collateral=(None if item.get("collateral") is None
                        else amount(item["collateral"], f"{path}.collateral")),
            collateral_asset=(None if item.get("collateralAsset") is None
                              else asset(item["collateralAsset"], f"{path}.collateralAsset")),
            out_ref=out_ref(_field(item, path, "outRef", "out_ref"), f"{path}.outRef")))
    return orders


def parse_pool_addresses(answer: Any, mainnet: bool) -> list[PoolAddresses]:
    body = require(VENUE, answer, "getPoolAddresses", dict)
    pools = require(VENUE, body.get("poolAddresses"), "getPoolAddresses.poolAddresses", dict)
    found = []
    for key, item in pools.items():
        path = f"getPoolAddresses.poolAddresses[{key}]"
        item = require(VENUE, item, path, dict)
        vault = item.get("vaultUTxOsAddress", item.get("vaultAddress"))
        found.append(PoolAddresses(
            key, script_address(_field(item, path, "poolAddress"), f"{path}.poolAddress", mainnet),
            None if vault is None else script_address(vault, f"{path}.vaultUTxOsAddress",
                                                      mainnet)))
    return found


def built_cbor(answer: Any, where: str) -> bytes:
    """A builder's answer `{cbor}` (or `{tx}`): one whole transaction."""
    body = require(VENUE, answer, where, dict)
    text = body.get("cbor", body.get("tx"))
    if text is None:
        message = _error_text(body)
        if message:
            raise VenueRefused(VENUE, f"{where}: {message[:300]}")
        raise MalformedResponse(VENUE, f"{where}: no cbor in the answer")
    text = require(VENUE, text, f"{where}.cbor", str)
    try:
        raw = bytes.fromhex(text)
        decode_transaction(raw)
    except (ValueError, LedgerError) as error:
        raise MalformedResponse(VENUE, f"{where}: the cbor is not a transaction "
                                       f"({str(error)[:120]})") from None
    return raw


# --- the client ------------------------------------------------------------------------------

class SurfApi:
    def __init__(self, base_url: str, *, timeout_s: float = 10.0, mainnet: bool = True,
                 policy: HttpPolicy | None = None) -> None:
        self.mainnet = mainnet
        self.http = JsonHttpClient(VENUE, base_url, policy or HttpPolicy(timeout_s=timeout_s),
                                   classify=classify)

    # reads
    def pool_infos(self) -> dict[str, Any]:
        body = require(VENUE, self.http.get("getAllPoolInfos"), "getAllPoolInfos", dict)
        return dict(require(VENUE, body.get("poolInfos"), "getAllPoolInfos.poolInfos", dict))

    def pool_addresses(self) -> list[PoolAddresses]:
        return parse_pool_addresses(self.http.get("getPoolAddresses"), self.mainnet)

    def positions(self, address: str) -> list[Position]:
        return parse_positions(self.http.get("getAllPositions", {"address": address}))

    def orders(self, address: str) -> list[PendingOrder]:
        return parse_orders(self.http.get("getAllOrders", {"address": address}))

    def ada_price(self) -> Decimal:
        body = require(VENUE, self.http.get("getAdaPrice"), "getAdaPrice", dict)
        return decimal(body.get("price"), "getAdaPrice.price")

    # builders: each answers one unsigned transaction (CBOR)
    def _build(self, path: str, request: dict[str, Any]) -> bytes:
        answer = self.http.post(path, {"request": {**request, "canonical": False}}, safe=True)
        return built_cbor(answer, path)

    def deposit_liquidity(self, pool_id: str, address: str, amount: int) -> bytes:
        return self._build("depositLiquidity", {"poolId": pool_id, "address": address,
                                                "amount": _positive(amount, "amount")})

    def withdraw_liquidity(self, pool_id: str, address: str, ctokens: int) -> bytes:
        """`ctokens`: the cTokens to burn (not the underlying amount)."""
        return self._build("withdrawLiquidity", {"poolId": pool_id, "address": address,
                                                 "amount": _positive(ctokens, "cTokens")})

    def borrow(self, pool_id: str, address: str, amount: int, collateral_amount: int) -> bytes:
        return self._build("borrow", {"poolId": pool_id, "address": address,
                                      "amount": _positive(amount, "amount"),
                                      "collateralAmount": _positive(collateral_amount,
                                                                    "collateral")})

    def current_position(self, pool_id: str, address: str, loan: OutRef) -> Position:
        """The open position that `loan` names (its borrow id, or a UTxO it was or is at),
        re-read now: its outRef moves when the loan is rebatched."""
        wanted = OutRef.parse(pool_id) if _is_ref(pool_id) else None
        for position in self.positions(address):
            same_pool = (position.pool_id == pool_id
                         or (wanted is not None and _is_ref(position.pool_id)
                             and OutRef.parse(position.pool_id) == wanted))
            if same_pool and loan in (position.borrow_id, position.out_ref):
                return position
        raise VenueRefused(VENUE, f"no open position {loan} in pool {pool_id} for this address "
                                  f"(getAllPositions)")

    def repay(self, pool_id: str, address: str, loan: OutRef) -> tuple[bytes, Position]:
        """Repay in full the loan `loan` names, by its current outRef (re-read first)."""
        position = self.current_position(pool_id, address, loan)
        cbor = self._build("repay", {"poolId": pool_id, "address": address,
                                     "outRef": _wire_ref(position.out_ref)})
        return cbor, position

    def cancel_order(self, pool_id: str, address: str, order: OutRef) -> bytes:
        return self._build("cancelOrder", {"poolId": pool_id, "address": address,
                                           "outRef": _wire_ref(order)})

    # submit: sent once, whatever happens
    def submit(self, address: str, signed_tx: bytes) -> Submitted:
        try:
            ours = decode_transaction(signed_tx).id.hex()
        except LedgerError as error:
            raise ValueError(f"not a transaction: {error}") from None
        try:
            answer = self.http.post("wallet/submit", {"address": address, "tx": signed_tx.hex()},
                                    safe=False)
        except AlreadySubmitted as error:
            log.warning("surf: %s; tx %s is probably on chain already: confirm there", error,
                        ours)
            return Submitted(ours, already=True)
        body = require(VENUE, answer, "wallet/submit", dict)
        said = body.get("txHash", body.get("hash"))
        said = require(VENUE, said, "wallet/submit.txHash", str).lower()
        if said != ours:
            raise MalformedResponse(VENUE, f"wallet/submit: answered tx {said}, ours is {ours}")
        return Submitted(ours)


def _positive(value: int, what: str) -> int:
    if type(value) is not int or value <= 0:
        raise ValueError(f"{what} must be a positive integer of base units, got {value!r}")
    return value


def _wire_ref(ref: OutRef) -> dict[str, Any]:
    return {"txHash": ref.tx_id.hex(), "outputIndex": ref.index}


def _is_ref(text: str) -> bool:
    try:
        OutRef.parse(text)
    except ValueError:
        return False
    return True
