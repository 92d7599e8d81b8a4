"""Liqwid's GraphQL API (`https://v2.api.liqwid.finance/graphql`) over the one venue HTTP
client (protocols/http.py).

Queries — markets, loans, marketParamsHistory, and the transaction builders, which Liqwid
exposes as queries under `liqwid.transactions` — change nothing on Liqwid's side, so they
are retried on timeouts and 5xx. `submitTransaction` is a mutation: sent once.

A GraphQL `errors` list in a 200 answer is Liqwid saying no: VenueRefused with its
message (and nothing of the answer is used). Reads return the whole answer or raise:
a failure on page 3 of the markets gives no markets, not pages 1 and 2.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from protocols.errors import MalformedResponse, VenueRefused
from protocols.http import JsonHttpClient
from protocols.model import Wallet
from protocols.venues.liqwid import fields as f
from protocols.venues.liqwid.history import MarketParamsRow, parse_rows
from protocols.venues.liqwid.ids import (BorrowCollateralId, LiqwidInputError, LoanId,
                                         MarketCollateralId, market_id)
from protocols.venues.liqwid.loans import LiqwidLoan, parse_loans

VENUE = "liqwid"
MAX_PAGES = 1000  # a pagesCount beyond this is not an answer we trust
#: Wallet names Liqwid's builders accept in `wallet` (supply, withdraw); the CBOR does not
#: depend on it (dh-leverage-go.md §2.3).
WALLET_KIND = "ETERNL"

MARKETS_QUERY = """query Markets($page: Int!, $perPage: Int!) {
  liqwid {
    data {
      markets(input: { page: $page, perPage: $perPage }) {
        page
        perPage
        pagesCount
        totalCount
        results {
          id
          displayName
          symbol
          liquidity
          supplyAPY
          borrowAPY
          borrowAPR
          utilization
          exchangeRate
          loanOriginationFeePercentage
          batching
          frozen
          private
          delisting
          updatedAt
          asset { id name symbol decimals currencySymbol price }
          receiptAsset { name symbol decimals currencySymbol }
          parameters {
            minValue
            collateralParameters {
              maxLoanToValue
              liquidationThreshold
              liquidationPenalty
              collateralWeight
              weightedMaxLoanToValue
              weightedLiquidationThreshold
              collateral { id market { id } }
            }
          }
        }
      }
    }
  }
}"""

LOANS_QUERY = """query Loans($input: LoansInput) {
  liqwid {
    data {
      loans(input: $input) {
        page
        perPage
        pagesCount
        totalCount
        results {
          id
          transactionId
          transactionIndex
          marketId
          publicKey
          amount
          healthFactor
          LTV
          APY
          collaterals { id qTokenName qTokenAmount market { id } }
        }
      }
    }
  }
}"""

MARKET_PARAMS_HISTORY_QUERY = """query MarketParamsHistory($marketId: String!, $startDate: String, $endDate: String) {
  analytics {
    marketParamsHistory(marketId: $marketId, startDate: $startDate, endDate: $endDate) {
      timestamp
      txHash
      baseRate
      utilMultiplier
      utilMultiplierJump
      kink
      supplyCap
      borrowCap
      incomeRatioSum
      incomeRatioSuppliers
      incomeRatioDividends
      incomeRatioTreasury
      baseBorrowerAPR
      baseSupplierAPY
      optimalBorrowerAPR
      optimalSupplierAPY
      maxBorrowerAPR
      maxSupplierAPY
    }
  }
}"""


def _builder_query(operation: str, field: str, input_type: str) -> str:
    return (f"query {operation}($input: {input_type}!) {{\n"
            f"  liqwid {{ transactions {{ {field}(input: $input) {{ cbor }} }} }}\n}}")


SUPPLY_QUERY = _builder_query("Supply", "supply", "SupplyTransactionInput")
WITHDRAW_QUERY = _builder_query("Withdraw", "withdraw", "WithdrawTransactionInput")
BORROW_QUERY = _builder_query("Borrow", "borrow", "BorrowTransactionInput")
MODIFY_BORROW_QUERY = _builder_query("ModifyBorrow", "modifyBorrow",
                                     "ModifyBorrowTransactionInput")
SUBMIT_MUTATION = """mutation SubmitTx($input: SubmitTransactionInput!) {
  submitTransaction(input: $input)
}"""

#: Loan filters the API knows (lending.md §6.1).
LOAN_FILTERS = frozenset({"HAS_DEBT", "HAS_COLLATERAL", "CAN_BE_LIQUIDATED"})


@dataclass(frozen=True)
class MarketRows:
    rows: tuple[Any, ...]  # every market row, all pages
    fetched_ms: int  # when the first page was asked for (the figures are at least this old)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class LiqwidApi:
    def __init__(self, client: JsonHttpClient, *, clock: Callable[[], int] = _now_ms) -> None:
        self.client = client
        self.clock = clock

    # -- the GraphQL envelope ------------------------------------------------------------
    def _call(self, operation: str, query: str, variables: Mapping[str, Any] | None, *,
              safe: bool = True) -> Mapping[str, Any]:
        body: dict[str, Any] = {"operationName": operation, "query": query}
        if variables is not None:
            body["variables"] = dict(variables)
        answer = f.obj(self.client.post("", body, safe=safe), operation)
        errors = answer.get("errors")
        if errors:
            raise VenueRefused(VENUE, f"{operation}: {_messages(errors)}")
        data = answer.get("data")
        if data is None:
            raise f.bad(operation, "the answer has neither data nor errors")
        return f.obj(data, f"{operation}.data")

    @staticmethod
    def _at(node: Mapping[str, Any], path: Sequence[str], where: str) -> Any:
        value: Any = node
        for key in path:
            value = f.field(f.obj(value, where), key, where)
            where = f"{where}.{key}"
        return value

    def _pages(self, operation: str, query: str, path: Sequence[str],
               variables: Callable[[int], Mapping[str, Any]]) -> list[Any]:
        """Every result of a paginated list (0-based pages), or an error: never a part."""
        rows: list[Any] = []
        first: tuple[int, int] | None = None
        page = 0
        while True:
            node = f.obj(self._at(self._call(operation, query, variables(page)), path, operation),
                         operation)
            where = f"{operation}[page {page}]"
            count = (f.integer(f.field(node, "pagesCount", where), f"{where}.pagesCount"),
                     f.integer(f.field(node, "totalCount", where), f"{where}.totalCount"))
            if first is None:
                first = count
                if not 0 <= count[0] <= MAX_PAGES:
                    raise f.bad(f"{where}.pagesCount", f"{count[0]} pages")
            elif count != first:
                raise f.bad(where, f"the list changed while it was read (pages, total "
                                   f"{first} then {count}); read it again")
            results = f.items(f.field(node, "results", where), f"{where}.results")
            rows.extend(results)
            page += 1
            if page >= first[0] or (not results and page > 0):
                break
        if len(rows) != first[1]:
            raise f.bad(operation, f"{len(rows)} results over {page} pages, but totalCount "
                                   f"is {first[1]}")
        return rows

    # -- reads ---------------------------------------------------------------------------
    def markets(self, per_page: int = 100) -> MarketRows:
        fetched_ms = self.clock()
        rows = self._pages("Markets", MARKETS_QUERY, ("liqwid", "data", "markets"),
                           lambda page: {"page": page, "perPage": per_page})
        return MarketRows(tuple(rows), fetched_ms)

    def loans(self, *, payment_keys: Sequence[str] = (), filters: Sequence[str] = (),
              market_ids: Sequence[str] = (), per_page: int = 1000) -> list[LiqwidLoan]:
        for key in payment_keys:
            try:
                f.hex_text(key, "paymentKeys", length=56)
            except MalformedResponse:
                raise LiqwidInputError(f"not a payment key hash: {key!r:.80}") from None
        unknown = set(filters) - LOAN_FILTERS
        if unknown:
            raise LiqwidInputError(f"unknown loan filters {sorted(unknown)}; known: "
                                   f"{sorted(LOAN_FILTERS)}")
        base: dict[str, Any] = {"perPage": per_page}
        if payment_keys:
            base["paymentKeys"] = list(payment_keys)
        if filters:
            base["filters"] = list(filters)
        if market_ids:
            base["marketIds"] = [market_id(m) for m in market_ids]
        rows = self._pages("Loans", LOANS_QUERY, ("liqwid", "data", "loans"),
                           lambda page: {"input": {**base, "page": page}})
        return parse_loans(rows)

    def market_params_history(self, market: str, *, start_date: str | None = None,
                              end_date: str | None = None) -> list[MarketParamsRow]:
        variables = {"marketId": market_id(market), "startDate": start_date,
                     "endDate": end_date}
        data = self._call("MarketParamsHistory", MARKET_PARAMS_HISTORY_QUERY, variables)
        rows = self._at(data, ("analytics", "marketParamsHistory"), "MarketParamsHistory")
        return parse_rows(f.items(rows, "MarketParamsHistory.analytics.marketParamsHistory"))

    # -- builders (queries: unsigned CBOR back) ------------------------------------------
    def build_supply(self, market: str, amount: int, wallet: Wallet) -> bytes:
        """`amount`: base units of the market's asset to deposit."""
        return self._build("Supply", SUPPLY_QUERY, "supply", {
            **_common(wallet), "marketId": market_id(market), "amount": _amount(amount),
            "wallet": WALLET_KIND})

    def build_withdraw(self, market: str, amount: int, wallet: Wallet) -> bytes:
        """`amount`: base units of the market's asset (not qTokens) to take out."""
        return self._build("Withdraw", WITHDRAW_QUERY, "withdraw", {
            **_common(wallet), "marketId": market_id(market), "amount": _amount(amount),
            "wallet": WALLET_KIND})

    def build_borrow(self, market: str, amount: int,
                     collaterals: Sequence[tuple[BorrowCollateralId, int]],
                     wallet: Wallet) -> bytes:
        """`amount`: base units to borrow; `collaterals`: qToken base units to lock, each
        named `q<MarketId>`."""
        if not collaterals:  # Liqwid answers "Got Infinity weighted LTV"
            raise LiqwidInputError("a borrow needs at least one collateral")
        listed = []
        for ident, quantity in collaterals:
            if not isinstance(ident, BorrowCollateralId):
                raise LiqwidInputError(f"borrow takes q<MarketId> collateral ids, not "
                                       f"{type(ident).__name__} {ident}")
            listed.append({"id": str(ident), "amount": _amount(quantity)})
        return self._build("Borrow", BORROW_QUERY, "borrow", {
            **_common(wallet), "marketId": market_id(market), "amount": _amount(amount),
            "collaterals": listed})

    def build_modify_borrow(self, loan: LoanId, target_debt: int,
                            collaterals: Sequence[tuple[MarketCollateralId, int]],
                            wallet: Wallet, *, redeem_collateral: bool = False) -> bytes:
        """`target_debt`: the debt the loan should have afterwards, in base units (0: repay
        in full); `collaterals`: the loan's collateral afterwards, in qToken base units,
        each named `<BorrowMarket>.<qToken policy>`. `redeem_collateral` turns released
        qTokens into the underlying (the key is left out otherwise, as Liqwid's app does)."""
        listed = []
        for ident, quantity in collaterals:
            if not isinstance(ident, MarketCollateralId):
                raise LiqwidInputError(f"modifyBorrow takes <BorrowMarket>.<policy> collateral "
                                       f"ids, not {type(ident).__name__} {ident}")
            listed.append({"id": str(ident), "amount": _amount(quantity, allow_zero=True)})
        variables: dict[str, Any] = {**_common(wallet), "txId": loan.for_builder(),
                                     "amount": _amount(target_debt, allow_zero=True),
                                     "collaterals": listed}
        if redeem_collateral:
            variables["redeemCollateral"] = True
        return self._build("ModifyBorrow", MODIFY_BORROW_QUERY, "modifyBorrow", variables)

    def _build(self, operation: str, query: str, field_name: str,
               variables: Mapping[str, Any]) -> bytes:
        data = self._call(operation, query, {"input": dict(variables)})
        node = f.obj(self._at(data, ("liqwid", "transactions", field_name), operation),
                     operation)
        cbor = f.text(f.field(node, "cbor", operation), f"{operation}.cbor")
        if not cbor:
            raise f.bad(f"{operation}.cbor", "empty")
        try:
            return bytes.fromhex(cbor)
        except ValueError:
            raise f.bad(f"{operation}.cbor", "not hex") from None

    # -- the one request that acts -------------------------------------------------------
    def submit(self, tx_cbor: bytes, witness_set: bytes) -> str:
        """Liqwid merges our witness set into its transaction and broadcasts it; the tx id
        back. Sent once: a failure is reported, never retried here."""
        data = self._call("SubmitTx", SUBMIT_MUTATION,
                          {"input": {"transaction": tx_cbor.hex(), "signature": witness_set.hex()}},
                          safe=False)
        return f.hex_text(f.field(data, "submitTransaction", "SubmitTx"),
                          "SubmitTx.submitTransaction", length=64)


def _common(wallet: Wallet) -> dict[str, Any]:
    if not wallet.utxos_cbor:
        raise LiqwidInputError("the wallet's UTxOs are needed: Liqwid builds from the "
                               "CIP-30 UTxOs it is given")
    return {"address": wallet.address, "changeAddress": wallet.change,
            "otherAddresses": list(wallet.other_addresses), "utxos": list(wallet.utxos_cbor)}


def _amount(value: int, *, allow_zero: bool = False) -> int:
    """Base units as a JSON integer (a float there fails server-side: "NaN cannot be
    converted to a BigInt")."""
    if type(value) is not int or value < 0 or (value == 0 and not allow_zero):
        raise LiqwidInputError(f"amount must be a positive integer of base units, got {value!r}")
    return value


def _messages(errors: Any) -> str:
    """The venue's own error messages, one line, bounded."""
    found: list[str] = []
    for error in errors if isinstance(errors, list) else [errors]:
        message = error.get("message") if isinstance(error, Mapping) else error
        found.append(str(message).replace("\n", " ").strip())
    text = "; ".join(m for m in found if m) or "an error without a message"
    return text if len(text) <= 500 else text[:497] + "..."
