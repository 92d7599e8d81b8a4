"""A stub of Liqwid's GraphQL API, answering from the recorded captures in FIXTURES_DIR
(protocols/liqwid-api/recorded/, read at run time, never copied).

What it answers, and from what:
- `markets` (paginated by `page`/`perPage` as the real API): the recorded markets page of
  2026-07-23. The recording asked for supply, borrow and liquidity in USD; the stub answers
  them in whole units of each market's asset, dividing by the asset's USD price recorded
  in the same row (approximate, as the API's own USD figures are). Fields the recording
  lacks (`receiptAsset`, `exchangeRate`, `parameters`, `batching`) are null unless a
  caller gives them (`market_extras`, e.g. a test's crafted values), or `paper_markets`
  asks for the paper figures of the Ada and DJED markets (stubs/liqwid_paper.py, which
  says which are real and which SYNTHETIC; `dhl run` asks for them).
- `loans` (filters HAS_DEBT, HAS_COLLATERAL, CAN_BE_LIQUIDATED; `paymentKeys`,
  `marketIds`; paginated): the 25 rows of the trimmed recorded capture, their USD debt
  turned into whole units the same way, plus `extra_loans` (rows in the API's form). The
  recorded rows carry no loan id (the recording did not ask for one).
- `analytics.marketParamsHistory`: the recorded Ada rows, by date; other markets are an
  error (nothing recorded).
- the builders `supply`, `withdraw`, `borrow`, `modifyBorrow`: an unsigned transaction
  built by stubs/liqwid_tx.py (see there for what is invented). Collateral ids are checked
  in the forms Liqwid wants, with Liqwid's own error messages for the wrong ones.
- `submitTransaction`: checks the two CBORs and answers the tx id; submits nothing.

`dhl run` starts it in paper mode as `python -m stubs liqwid --port N --fixtures DIR`
(`make_handler`); tests serve a `LiqwidStub` with `StubServer`.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import re
import threading
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import cbor2

from chain.ledger import decode_transaction
from stubs import liqwid_tx as txb
from stubs.liqwid_paper import paper_market_extras
from stubs.server import Reply, Request

log = logging.getLogger(__name__)

RECORDED = Path("protocols") / "liqwid-api" / "recorded"
MARKETS_FILE = RECORDED / "graphql_markets_page0_2026-07-23.json"
LOANS_FILE = RECORDED / "graphql_loans_active_debt_TRIMMED_2026-07-23.json"
HISTORY_FILES = {"Ada": RECORDED / "graphql_marketParamsHistory_ada_2026-07-16.json"}
SCRIPTS_FILE = Path("protocols") / "liqwid" / "market_script_hashes_mainnet.csv"
GRAPHQL_PATH = "/graphql"

#: Loan-token policies, a fact per market where one is public: Ada's and DJED's from
#: Liqwid-Labs' defi-sdk (lending.md §6.1; protocols/venues/liqwid/networks/mainnet.json). The stub mints one in a borrow so the loan can be found.
LOAN_TOKEN_POLICIES = {"Ada": "ee944b56bab503197bdfb929509a177c3ef9e5083ca7e65ffa1469c8",
                       "DJED": "5409708a3eff94524d978ca12f97c318bd011308f71eee232575eb9e"}


def _load(path: Path) -> Any:
    with path.open("rb") as handle:
        return json.load(handle, parse_float=Decimal)


def _scripts(path: Path) -> dict[str, dict[str, str]]:
    """market -> {"QToken/MintingPolicy": hash, "Action/Validator": hash, ...}."""
    found: dict[str, dict[str, str]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            found.setdefault(row["market"], {})[f"{row['component']}/{row['type']}"] = \
                row["script_hash"]
    return found


def _whole(usd: Any, price: Any) -> Decimal | None:
    if usd is None or not price:
        return None
    return Decimal(usd) / Decimal(price)


class GraphQLError(Exception):
    pass


@dataclass
class LiqwidStub:
    """The request handler for a StubServer (`StubServer(LiqwidStub(fixtures_dir))`)."""

    fixtures_dir: Path
    market_extras: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    extra_loans: Sequence[Mapping[str, Any]] = ()
    loan_token_policies: Mapping[str, str] = field(
        default_factory=lambda: dict(LOAN_TOKEN_POLICIES))
    #: (root field, page) -> the reply for that page, until removed: a fault mid-pagination.
    page_faults: dict[tuple[str, int], Reply] = field(default_factory=dict)
    #: Paper: a borrow the stub builds becomes a loan at once (no chain, no submission),
    #: listed by `loans` under `<txId>-<index>` of its loan output; a modifyBorrow it
    #: builds for such a loan changes it (its debt, its collateral), and ends it at 0.
    paper_loans: bool = False
    #: Paper: the Ada and DJED rows get the qToken, rate and collateral fields the
    #: recording lacks (stubs/liqwid_paper.py says which are real and which SYNTHETIC).
    paper_markets: bool = False

    def __post_init__(self) -> None:
        if self.paper_markets:
            self.market_extras = {**paper_market_extras(self.fixtures_dir),
                                  **self.market_extras}
        recorded = _load(self.fixtures_dir / MARKETS_FILE)["payload"]["liqwid"]["data"]
        self._markets = [self._market_row(r) for r in recorded["markets"]["results"]]
        loans = _load(self.fixtures_dir / LOANS_FILE)["payload"]["results"]
        self._loans = [self._loan_row(r) for r in loans] + [dict(r) for r in self.extra_loans]
        self._script_hashes = _scripts(self.fixtures_dir / SCRIPTS_FILE)
        self._lock = threading.Lock()

    # -- the recorded rows, in the form our query asks for ------------------------------
    def _market_row(self, recorded: Mapping[str, Any]) -> dict[str, Any]:
        row = {k: v for k, v in recorded.items() if k not in ("supply", "borrow", "liquidity")}
        price = recorded["asset"]["price"]
        for name in ("supply", "borrow", "liquidity"):
            row[name] = _whole(recorded.get(name), price)
        row.update({"exchangeRate": None, "receiptAsset": None, "parameters": None,
                    "batching": None})
        row.update(self.market_extras.get(recorded["id"], {}))
        return row

    def _loan_row(self, recorded: Mapping[str, Any]) -> dict[str, Any]:
        price = next((r["asset"]["price"] for r in self._markets
                      if r["id"] == recorded["marketId"]), None)
        return {
            "id": None, "transactionId": None, "transactionIndex": None,
            "marketId": recorded["marketId"], "publicKey": recorded["publicKey"],
            "amount": _whole(recorded.get("amount"), price),
            "healthFactor": recorded.get("healthFactor"), "LTV": recorded.get("LTV"),
            "APY": recorded.get("APY"),
            "collaterals": [{"id": c["id"], "qTokenName": c.get("qTokenName"),
                             "qTokenAmount": c["qTokenAmount"], "market": {"id": c["market"]["id"]}}
                            for c in recorded.get("collaterals", [])],
        }

    # -- HTTP ----------------------------------------------------------------------------
    def __call__(self, request: Request) -> Reply:
        if request.path != GRAPHQL_PATH:
            return Reply(404, {"errors": [{"message": f"no route {request.path}"}]})
        body = request.body
        if request.method != "POST" or not isinstance(body, dict) or \
                not isinstance(body.get("query"), str):
            return Reply(400, {"errors": [{"message": "Must provide query string."}]})
        variables = body.get("variables") or {}
        try:
            root, answer = self._route(body["query"], variables)
        except GraphQLError as error:
            return _json(200, {"errors": [{"message": str(error)}], "data": None})
        except txb.BuildRefused as error:
            return _json(200, {"errors": [{"message": str(error)}], "data": None})
        fault = self._page_fault(root, variables)
        if fault is not None:
            return fault
        return _json(200, {"data": answer})

    def _page_fault(self, root: str, variables: Mapping[str, Any]) -> Reply | None:
        page = variables.get("page", (variables.get("input") or {}).get("page", 0))
        with self._lock:
            return self.page_faults.get((root, page))

    def _route(self, query: str, variables: Mapping[str, Any]) -> tuple[str, Any]:
        if "submitTransaction" in query:
            return "submitTransaction", {"submitTransaction": self._submit(variables)}
        if "marketParamsHistory" in query:
            return "marketParamsHistory", {"analytics": {
                "marketParamsHistory": self._history(variables)}}
        builder = re.search(r"transactions\s*\{\s*(\w+)\s*\(", query)
        if builder:
            name = builder.group(1)
            cbor = self._build(name, (variables or {}).get("input") or {})
            return name, {"liqwid": {"transactions": {name: {"cbor": cbor.hex()}}}}
        if re.search(r"\bloans\s*\(", query):
            return "loans", {"liqwid": {"data": {"loans": self._loans_page(variables)}}}
        if re.search(r"\bmarkets\s*[({]", query):
            return "markets", {"liqwid": {"data": {"markets": self._markets_page(variables)}}}
        raise GraphQLError("stub: this query is not one the Liqwid stub answers")

    # -- reads ---------------------------------------------------------------------------
    def _markets_page(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        page, per_page = _paging(variables.get("page", 0), variables.get("perPage", 100))
        return _page(self._markets, page, per_page)

    def _loans_page(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        given = variables.get("input") or {}
        page, per_page = _paging(given.get("page", 0), given.get("perPage", 100))
        keys = set(given.get("paymentKeys") or ())
        market_ids = set(given.get("marketIds") or ())
        checks = [_LOAN_FILTERS[name] for name in given.get("filters") or ()
                  if name in _LOAN_FILTERS]
        unknown = [name for name in given.get("filters") or () if name not in _LOAN_FILTERS]
        if unknown:
            raise GraphQLError(f'Value "{unknown[0]}" does not exist in "LoanFilter" enum.')
        rows = [{k: v for k, v in row.items() if k != "paper"} for row in self._loans
                if (not keys or row["publicKey"] in keys)
                and (not market_ids or row["marketId"] in market_ids)
                and all(check(row) for check in checks)]
        return _page(rows, page, per_page)

    def _history(self, variables: Mapping[str, Any]) -> list[Any]:
        market = variables.get("marketId")
        path = HISTORY_FILES.get(market) if isinstance(market, str) else None
        if path is None:
            raise GraphQLError(f"stub: no marketParamsHistory recorded for market {market!r}")
        rows = _load(self.fixtures_dir / path)["payload"]["rows"]
        start, end = variables.get("startDate"), variables.get("endDate")
        return [row for row in rows
                if (not start or row["timestamp"][:10] >= start)
                and (not end or row["timestamp"][:10] <= end)]

    # -- builders ------------------------------------------------------------------------
    def stub_market(self, market_id: Any) -> txb.StubMarket:
        row = next((r for r in self._markets if r["id"] == market_id), None)
        if row is None:
            raise GraphQLError(f"Market not found: {market_id!r}")
        asset = row["asset"]
        scripts = self._script_hashes.get(market_id, {})
        receipt = row.get("receiptAsset") or {}
        qtoken = receipt.get("currencySymbol") or scripts.get("QToken/MintingPolicy")

        def raw(text: str | None) -> bytes | None:
            return bytes.fromhex(text) if text else None

        return txb.StubMarket(
            market_id=market_id,
            asset=(bytes.fromhex(asset["currencySymbol"]), bytes.fromhex(asset["name"])),
            decimals=asset["decimals"],
            qtoken_policy=raw(qtoken),
            qtoken_decimals=receipt.get("decimals"),
            exchange_rate=row.get("exchangeRate"),
            action_validator=raw(scripts.get("Action/Validator")),
            action_token=raw(scripts.get("Action/MintingPolicy")),
            loan_validator=raw(scripts.get("Loan/Validator")),
            loan_token=raw(self.loan_token_policies.get(market_id)),
        )

    def _build(self, name: str, given: Mapping[str, Any]) -> bytes:
        if name == "supply":
            return txb.supply(given, self.stub_market(given.get("marketId")))
        if name == "withdraw":
            return txb.withdraw(given, self.stub_market(given.get("marketId")))
        if name == "borrow":
            return self._borrow(given)
        if name == "modifyBorrow":
            return self._modify_borrow(given)
        raise GraphQLError(f'Cannot query field "{name}" on type "LiqwidTransactions".')

    def _borrow(self, given: Mapping[str, Any]) -> bytes:
        market = self.stub_market(given.get("marketId"))
        listed = given.get("collaterals") or []
        if not listed:
            raise GraphQLError("Got Infinity weighted LTV")
        valid = [f"q{r['id']},{r['id']}" for r in self._markets]
        collaterals = []
        for item in listed:
            ident = item.get("id") if isinstance(item, dict) else None
            if not isinstance(ident, str) or not ident.startswith("q") or \
                    ident[1:] not in {r["id"] for r in self._markets}:
                raise GraphQLError(f"Valid collaterals: {','.join(valid)}")
            quantity = item.get("amount")
            if type(quantity) is not int or quantity <= 0:
                raise GraphQLError("NaN cannot be converted to a BigInt")
            collaterals.append((self.stub_market(ident[1:]), quantity))
        cbor = txb.borrow(given, market, collaterals)
        if self.paper_loans:
            self._open_paper_loan(given, market, collaterals, cbor)
        return cbor

    def _open_paper_loan(self, given: Mapping[str, Any], market: txb.StubMarket,
                         collaterals: Sequence[tuple[txb.StubMarket, int]],
                         cbor: bytes) -> None:
        tx = decode_transaction(cbor)
        tx_id = tx.id.hex()
        loan_token = market.need("loan_token")
        [index] = [i for i, out in enumerate(tx.outputs)
                   if any(policy == loan_token for policy, _ in out.assets)]
        owner = txb.payment_key(txb.address_bytes(given.get("address"), "address")).hex()
        row = {"id": f"{tx_id}-{index}", "transactionId": tx_id, "transactionIndex": index,
               "marketId": market.market_id, "publicKey": owner,
               "amount": Decimal(int(given["amount"])).scaleb(-market.decimals),
               "healthFactor": None, "LTV": None, "APY": None,
               "collaterals": [self._collateral_row(c, q) for c, q in collaterals],
               "paper": True}
        with self._lock:
            self._loans.append(row)

    def _collateral_row(self, collateral: txb.StubMarket, quantity: int) -> dict[str, Any]:
        decimals = collateral.qtoken_decimals or 0
        return {"id": collateral.need("qtoken_policy").hex(),
                "qTokenName": f"q{collateral.market_id}",
                "qTokenAmount": Decimal(quantity).scaleb(-decimals),
                "market": {"id": collateral.market_id}}

    def _change_paper_loan(self, loan: dict[str, Any], market: txb.StubMarket, target_debt: int,
                           target: Mapping[bytes, int]) -> None:
        by_policy = {r["id"]: r["market"]["id"] for r in loan["collaterals"]}
        with self._lock:
            if target_debt == 0:
                self._loans.remove(loan)
                return
            loan["amount"] = Decimal(target_debt).scaleb(-market.decimals)
            loan["collaterals"] = [
                self._collateral_row(self.stub_market(by_policy.get(policy.hex())
                                                      or self._qtoken_market(policy)),
                                     quantity)
                for policy, quantity in target.items()]

    def _qtoken_market(self, policy: bytes) -> str:
        for row in self._markets:
            if self.stub_market(row["id"]).qtoken_policy == policy:
                return str(row["id"])
        raise GraphQLError(f"stub: no market's qToken is {policy.hex()}")

    def _modify_borrow(self, given: Mapping[str, Any]) -> bytes:
        ident = given.get("txId")
        match = re.fullmatch(r"([0-9a-f]{64})-(\d+)", ident) if isinstance(ident, str) else None
        if match is None:
            raise GraphQLError("NaN cannot be converted to a BigInt")
        loan = next((row for row in self._loans if row.get("id") == ident), None)
        if loan is None:
            raise GraphQLError(f"Loan not found: {ident}")
        market = self.stub_market(loan["marketId"])
        target_debt = given.get("amount")
        if type(target_debt) is not int or target_debt < 0:
            raise GraphQLError("NaN cannot be converted to a BigInt")
        debt = int((Decimal(loan["amount"]).scaleb(market.decimals))
                   .to_integral_value(rounding=ROUND_CEILING))
        current = {bytes.fromhex(c["id"]): self._qtoken_base(c) for c in loan["collaterals"]}
        target: dict[bytes, int] = {}
        for item in given.get("collaterals") or []:
            cid = item.get("id") if isinstance(item, dict) else None
            parts = cid.split(".") if isinstance(cid, str) else []
            if len(parts) != 2 or parts[0] != loan["marketId"] or \
                    not re.fullmatch(r"[0-9a-f]{56}", parts[1]):
                raise GraphQLError("Collateral not found")
            quantity = item.get("amount")
            if type(quantity) is not int or quantity < 0:
                raise GraphQLError("NaN cannot be converted to a BigInt")
            if quantity:
                target[bytes.fromhex(parts[1])] = quantity
        cbor = txb.modify_borrow(given, market, (bytes.fromhex(match.group(1)),
                                                 int(match.group(2))),
                                 debt, current, target_debt, target,
                                 {policy: self.stub_market(self._qtoken_market(policy))
                                  for policy in current})
        if self.paper_loans and loan.get("paper"):
            self._change_paper_loan(loan, market, target_debt, target)
        return cbor

    def _qtoken_base(self, collateral: Mapping[str, Any]) -> int:
        market = self.stub_market(collateral["market"]["id"])
        if market.qtoken_decimals is None:
            raise GraphQLError(f"stub: no qToken decimals recorded for market "
                               f"{market.market_id}")
        return int(Decimal(collateral["qTokenAmount"]).scaleb(market.qtoken_decimals))

    def _submit(self, variables: Mapping[str, Any]) -> str:
        given = variables.get("input") or {}
        try:
            body = cbor2.loads(bytes.fromhex(given.get("transaction", "")))[0]
            witnesses = cbor2.loads(bytes.fromhex(given.get("signature", "")))
        except Exception:
            raise GraphQLError("SubmitFail: [Array]") from None  # as garbled as the real one
        if not isinstance(witnesses, dict):
            raise GraphQLError("SubmitFail: [Array]")
        return hashlib.blake2b(cbor2.dumps(body), digest_size=32).hexdigest()


def _has_debt(row: Mapping[str, Any]) -> bool:
    return bool(row.get("amount")) and Decimal(row["amount"]) > 0


def _can_be_liquidated(row: Mapping[str, Any]) -> bool:
    factor = row.get("healthFactor")
    return factor is not None and Decimal(factor) < 1


_LOAN_FILTERS: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "HAS_DEBT": _has_debt,
    "HAS_COLLATERAL": lambda row: bool(row.get("collaterals")),
    "CAN_BE_LIQUIDATED": _can_be_liquidated,
}


def _paging(page: Any, per_page: Any) -> tuple[int, int]:
    if type(page) is not int or page < 0 or type(per_page) is not int or per_page <= 0:
        raise GraphQLError("page and perPage must be non-negative integers")
    return page, per_page


def _page(rows: Sequence[Any], page: int, per_page: int) -> dict[str, Any]:
    return {"page": page, "perPage": per_page, "totalCount": len(rows),
            "pagesCount": math.ceil(len(rows) / per_page),
            "results": list(rows[page * per_page:(page + 1) * per_page])}


# --- JSON without floats: Decimals are written as the numbers they are -------------------------

def _json(status: int, body: Any) -> Reply:
    return Reply(status, raw="".join(_encode(body)).encode())


def _encode(value: Any) -> Iterator[str]:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a JSON number: {value}")
        yield str(value)
    elif isinstance(value, dict):
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield ("," if i else "") + json.dumps(str(key)) + ":"
            yield from _encode(item)
        yield "}"
    elif isinstance(value, (list, tuple)):
        yield "["
        for i, item in enumerate(value):
            if i:
                yield ","
            yield from _encode(item)
        yield "]"
    else:  # str, int, bool, None
        yield json.dumps(value)


# --- as a process --------------------------------------------------------------------------------

def make_handler(fixtures_dir: Path) -> LiqwidStub:
    """The handler `python -m stubs liqwid` serves (stubs/__main__.py). A recording that is
    missing is an OSError; one that does not have the recorded shape, a ValueError."""
    try:
        return LiqwidStub(Path(fixtures_dir), paper_loans=True, paper_markets=True)
    except (KeyError, TypeError, IndexError) as error:
        raise ValueError(f"a Liqwid recording is not shaped as recorded: {error!r}") from None
