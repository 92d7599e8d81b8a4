"""LEVVY_CONFIG_FILE: Levvy's scripts per network, read and checked. Pure parsing
(`parse_config`) apart from the one file read (`load_config`).

Levvy's mainnet scripts are not public (lending.md §2.2, docs/venues.md), so they are
configuration, never constants. Every problem is a `ConfigError` naming the file's field
(`preview.validator_script_hashes[0]`), so a bad file stops the process with one line.

Format (JSON; one object per network name, as CARDANO_NETWORK names it):

    {"preview": {
        "note": "free text",                                   optional
        "validator_script_hashes": ["<56 hex>", ...],          required, first = builders'
        "main_address": "addr_test1…",                        optional: the fee ("main") address
        "authorize_address": "addr_test1…",                   optional, recorded only
        "withdraw_zero_script_hash": "<56 hex>",               optional, recorded only
        "policies": ["<56 hex>", ...],                         optional
        "loan_asset": "lovelace",                              required; only ADA loans exist
        "fees": {"token_borrower_percent": "12.5",            required (JSON numbers or
                 "token_lender_percent": "12.5",               decimal strings)
                 "nft_percent": "1"},                          optional
        "loan_duration_ms": 1209600000,                        optional (14 days)
        "collateral_lovelace": 2000000,                        optional: ADA beside the collateral
        "builder": {                                           optional: without it, read only
            "validator_reference": "<txid>#<ix>",              the UTxO holding the validator script
            "reference_script_size": 12345,                    its size in bytes (Conway fee)
            "plutus_version": 3,
            "cost_model": [..ints..],                          that version's cost model now
            "execution_units": {"mem": 1400000, "steps": 1000000000}}}}   optional
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Mapping, Sequence

from core.errors import ConfigError

VARIABLE = "LEVVY_CONFIG_FILE"
DEFAULT_LOAN_DURATION_MS = 14 * 24 * 3600 * 1000  # "fixed two-week periods" (Levvy docs)
DEFAULT_COLLATERAL_LOVELACE = 2_000_000  # ADA locked beside the collateral in SAIB's test code
#: The budget SAIB's test code gave a Levvy v2 borrow (ExUnits(1400000, 1000000000));
#: Plutus execution units cannot be evaluated offline, so every script spend carries it.
DEFAULT_EXECUTION_UNITS = (1_400_000, 1_000_000_000)

_HEX56 = re.compile(r"^[0-9a-f]{56}$")
_KNOWN = {"note", "validator_script_hashes", "main_address", "authorize_address",
          "withdraw_zero_script_hash", "policies", "loan_asset", "fees", "loan_duration_ms",
          "collateral_lovelace", "builder"}
_KNOWN_BUILDER = {"validator_reference", "reference_script_size", "plutus_version",
                  "cost_model", "execution_units"}


@dataclass(frozen=True)
class Fees:
    token_borrower_percent: Decimal  # of the interest, paid at acceptance
    token_lender_percent: Decimal  # of the interest, paid at claim or foreclosure
    nft_percent: Decimal | None  # of the loan amount (NFT loans; not built here)


@dataclass(frozen=True)
class BuilderConfig:
    validator_reference: str  # "txid#ix" of the UTxO holding the validator as a reference script
    reference_script_size: int
    plutus_version: int
    cost_model: tuple[int, ...]
    execution_units: tuple[int, int]  # (mem, steps) per script spend


@dataclass(frozen=True)
class NetworkConfig:
    network: str
    validator_hashes: tuple[bytes, ...]
    main_address: str | None
    authorize_address: str | None
    withdraw_zero_script_hash: bytes | None
    policies: tuple[bytes, ...]
    loan_asset: str
    fees: Fees
    loan_duration_ms: int
    collateral_lovelace: int
    builder: BuilderConfig | None
    note: str = ""

    @property
    def validator_hash(self) -> bytes:
        """The validator offers are made to (the first listed)."""
        return self.validator_hashes[0]


def load_config(path: Path, network: str) -> NetworkConfig | None:
    """The file's section for `network`; None when it has none (Levvy then stays off)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(VARIABLE, "a readable UTF-8 JSON file",
                          f"{str(path)!r} ({type(error).__name__})") from None
    return parse_config(text, network)


def parse_config(text: str, network: str) -> NetworkConfig | None:
    try:
        document = json.loads(text, parse_float=Decimal)
    except ValueError as error:
        raise ConfigError(VARIABLE, "JSON", f"invalid JSON ({error})") from None
    if not isinstance(document, dict):
        raise ConfigError(VARIABLE, "a JSON object keyed by network name",
                          f"a JSON {type(document).__name__}")
    for name, section in document.items():  # every section checked, not just ours
        _section(name, section)
    section = document.get(network)
    return None if section is None else _section(network, section)


# --- one section ----------------------------------------------------------------------

def _error(field: str, expected: str, got: Any) -> ConfigError:
    shown = "nothing" if got is _MISSING else repr(got)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ConfigError(VARIABLE, f"{field} to be {expected}", shown)


_MISSING = object()


def _only(raw: dict[str, Any], field: str, known: Sequence[str]) -> None:
    """Refuse a key that is not one of `known` (named in that order)."""
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise _error(f"{field}.{unknown[0]}", f"one of {', '.join(known)}", unknown[0])


def _section(network: str, raw: Any) -> NetworkConfig:
    if not isinstance(raw, dict):
        raise _error(network, "an object", raw)
    _only(raw, network, sorted(_KNOWN))
    mainnet = network == "mainnet"
    hashes = raw.get("validator_script_hashes", _MISSING)
    if not isinstance(hashes, list) or not hashes:
        raise _error(f"{network}.validator_script_hashes",
                     "a non-empty list of 28-byte script hashes in hex", hashes)
    validators = tuple(_hash(h, f"{network}.validator_script_hashes[{i}]")
                       for i, h in enumerate(hashes))
    loan_asset = raw.get("loan_asset", _MISSING)
    if loan_asset != "lovelace":
        raise _error(f"{network}.loan_asset", '"lovelace" (Levvy lends ADA only)', loan_asset)
    builder = raw.get("builder")
    return NetworkConfig(
        network=network,
        validator_hashes=validators,
        main_address=_optional_address(raw, "main_address", network, mainnet),
        authorize_address=_optional_address(raw, "authorize_address", network, mainnet),
        withdraw_zero_script_hash=(None if raw.get("withdraw_zero_script_hash") is None else
                                   _hash(raw["withdraw_zero_script_hash"],
                                         f"{network}.withdraw_zero_script_hash")),
        policies=tuple(_hash(h, f"{network}.policies[{i}]")
                       for i, h in enumerate(_list(raw, "policies", network))),
        loan_asset=loan_asset,
        fees=_fees(raw.get("fees", _MISSING), f"{network}.fees"),
        loan_duration_ms=_positive(raw.get("loan_duration_ms", DEFAULT_LOAN_DURATION_MS),
                                   f"{network}.loan_duration_ms"),
        collateral_lovelace=_positive(raw.get("collateral_lovelace",
                                              DEFAULT_COLLATERAL_LOVELACE),
                                      f"{network}.collateral_lovelace"),
        builder=None if builder is None else _builder(builder, f"{network}.builder"),
        note=_text(raw.get("note", ""), f"{network}.note"),
    )


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _error(field, "text", value)
    return value


def _list(raw: Mapping[str, Any], key: str, network: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise _error(f"{network}.{key}", "a list", value)
    return value


def _hash(value: Any, field: str) -> bytes:
    if not isinstance(value, str) or not _HEX56.match(value.lower()):
        raise _error(field, "a 28-byte hash in hex (56 hex digits)", value)
    return bytes.fromhex(value)


def _optional_address(raw: Mapping[str, Any], key: str, network: str,
                      mainnet: bool) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    field = f"{network}.{key}"
    prefix = "addr1" if mainnet else "addr_test1"
    kind = "a mainnet" if mainnet else f"a {network} (testnet)"
    if not isinstance(value, str) or not value.startswith(prefix):
        raise _error(field, f"{kind} bech32 address ({prefix}…)", value)
    from pycardano import Address  # checks the bech32 checksum and the header

    try:
        parsed = Address.from_primitive(value)
    except Exception:  # pycardano raises several types for a bad address
        raise _error(field, f"{kind} bech32 address with a valid checksum", value) from None
    if parsed.network.value != (1 if mainnet else 0):
        raise _error(field, f"{kind} bech32 address", value)
    return value


def _positive(value: Any, field: str) -> int:
    if type(value) is not int or value <= 0:
        raise _error(field, "a positive integer", value)
    return value


def _percent(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise _error(field, "a percentage (a number or a decimal string, 0 to 100)", value)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise _error(field, "a percentage (a number or a decimal string, 0 to 100)",
                     value) from None
    if not number.is_finite() or not 0 <= number < 100:
        raise _error(field, "a percentage from 0 to below 100", value)
    return number


def _fees(raw: Any, field: str) -> Fees:
    if not isinstance(raw, dict):
        raise _error(field, "an object with token_borrower_percent and token_lender_percent",
                     raw)
    for key in ("token_borrower_percent", "token_lender_percent"):
        if key not in raw:
            raise _error(f"{field}.{key}", "a percentage", _MISSING)
    _only(raw, field, ("token_borrower_percent", "token_lender_percent", "nft_percent"))
    nft = raw.get("nft_percent")
    return Fees(_percent(raw["token_borrower_percent"], f"{field}.token_borrower_percent"),
                _percent(raw["token_lender_percent"], f"{field}.token_lender_percent"),
                None if nft is None else _percent(nft, f"{field}.nft_percent"))


def _builder(raw: Any, field: str) -> BuilderConfig:
    if not isinstance(raw, dict):
        raise _error(field, "an object", raw)
    _only(raw, field, sorted(_KNOWN_BUILDER))
    ref = raw.get("validator_reference", _MISSING)
    if not isinstance(ref, str) or not re.match(r"^[0-9a-f]{64}#\d+$", ref.lower()):
        raise _error(f"{field}.validator_reference", "an output reference (64 hex digits "
                     "#index)", ref)
    version = raw.get("plutus_version", _MISSING)
    if version not in (2, 3) or type(version) is not int:
        raise _error(f"{field}.plutus_version", "2 or 3", version)
    model = raw.get("cost_model", _MISSING)
    if not isinstance(model, list) or not model or \
            not all(type(n) is int for n in model):
        raise _error(f"{field}.cost_model", f"the Plutus V{version} cost model now in "
                     "force (a non-empty list of integers)", model)
    units = raw.get("execution_units")
    if units is None:
        budget = DEFAULT_EXECUTION_UNITS
    elif isinstance(units, dict) and set(units) == {"mem", "steps"}:
        budget = (_positive(units["mem"], f"{field}.execution_units.mem"),
                  _positive(units["steps"], f"{field}.execution_units.steps"))
    else:
        raise _error(f"{field}.execution_units", 'an object {"mem": n, "steps": n}', units)
    return BuilderConfig(
        validator_reference=ref.lower(),
        reference_script_size=_positive(raw.get("reference_script_size", _MISSING),
                                        f"{field}.reference_script_size"),
        plutus_version=version,
        cost_model=tuple(model),
        execution_units=budget,
    )
