"""Liqwid's tokens per network: the data file agrees with the recorded registry facts, the
receipt token is never watched, and a network without a file has no tokens."""
from __future__ import annotations

import csv
from typing import Any

import pytest

from protocols.venues.liqwid.tokens import (
    WATCHED_ROLES,
    load_tokens,
    market_of,
    parse_tokens,
    watch_of,
    watched_kinds,
)
from tests.venues.fixtures_liqwid import liqwid_file

ROLE_OF_CSV = {("QToken", "MintingPolicy"): "qtoken", ("Action", "MintingPolicy"): "action",
               ("MarketState", "MintingPolicy"): "market_state",
               ("MarketParams", "MintingPolicy"): "market_params",
               ("Batch", "MintingPolicy"): "batch",
               ("Liquidation", "MintingPolicy"): "liquidation"}
VALIDATOR_OF_CSV = {"Action": "action", "MarketState": "market_state", "Batch": "batch",
                    "Loan": "loan"}


def mainnet() -> Any:
    tokens = load_tokens("mainnet")
    assert tokens is not None
    return tokens


def test_every_registry_fact_is_in_the_mainnet_file() -> None:
    tokens = mainnet()
    path = liqwid_file("market_script_hashes_mainnet.csv")
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 88
    for row in rows:
        market, script = row["market"], row["script_hash"]
        if row["type"] == "MintingPolicy":
            role = ROLE_OF_CSV[(row["component"], row["type"])]
            assert bytes.fromhex(script) in tokens.by_kind[role], row
            assert market_of(tokens, script) == market, row
        else:
            assert tokens.validators[market][VALIDATOR_OF_CSV[row["component"]]] == script, row


def test_the_loan_tokens_found_in_liqwids_sdk_are_watched() -> None:
    tokens = mainnet()
    loan = tokens.by_kind["loan"]
    for policy, market in (("ee944b56bab503197bdfb929509a177c3ef9e5083ca7e65ffa1469c8", "Ada"),
                           ("5409708a3eff94524d978ca12f97c318bd011308f71eee232575eb9e", "DJED")):
        assert bytes.fromhex(policy) in loan
        assert market_of(tokens, policy) == market
        assert market_of(tokens, bytes.fromhex(policy)) == market


def test_the_receipt_token_is_never_watched() -> None:
    tokens = mainnet()
    assert "qtoken" not in watched_kinds()
    assert set(watched_kinds()) == {"market_state", "action", "batch", "market_params", "loan",
                                    "liquidation"}
    watch = watch_of(tokens)
    qada = bytes.fromhex("a04ce7a52545e5e33c2867e148898d9e667a69602285f6a1298f9d68")
    assert qada in tokens.by_kind["qtoken"] and qada not in watch.policies
    assert watch.policies == tokens.policies(WATCHED_ROLES)
    assert bytes.fromhex("5a3cb4f52fb3a00ab5abe62080618623811ccafab9c760d0b686e44c") \
        in watch.policies


def test_markets_without_a_loan_token_are_watched_by_their_loan_validator() -> None:
    tokens = mainnet()
    assert tokens.loan_credentials == {tokens.validators[m]["loan"]: m
                                       for m in ("USDA", "USDC", "USDM", "BTC", "ETH")}
    watch = watch_of(tokens)
    assert watch.credentials == {bytes.fromhex(h) for h in tokens.loan_credentials}
    # A market whose loan token is known is not also watched by its validator.
    assert bytes.fromhex(tokens.validators["Ada"]["loan"]) not in watch.credentials


@pytest.mark.parametrize("name", ["preprod", "preview", "magic-42", "../mainnet", "Mainnet", ""])
def test_a_network_without_data_has_no_tokens(name: str) -> None:
    assert load_tokens(name) is None


def _file(**market: Any) -> dict[str, Any]:
    return {"network": "testnet", "markets": {"X": market}}


H1, H2 = "11" * 28, "22" * 28


@pytest.mark.parametrize("data, message", [
    ({"network": "other", "markets": {"X": {"tokens": {"loan": [H1]}}}}, "the file says"),
    ({"network": "testnet", "markets": {}}, "no markets"),
    (_file(tokens={"vault": [H1]}), "unknown role"),
    (_file(tokens={"loan": [H1[:-2]]}), "not a 28-byte hash"),
    (_file(tokens={"loan": [H1], "action": [H1]}), "already X loan"),
    (_file(tokens={"loan": []}), "not a list of policies"),
    (_file(tokens={"action": [H1]}, loan_validator_fallback=True), "needs the Loan validator"),
    (_file(tokens={"loan": [H1]}, validators={"loan": H2}, loan_validator_fallback=True),
     "no fallback needed"),
])
def test_a_wrong_network_file_is_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_tokens(data, "testnet")
