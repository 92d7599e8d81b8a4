"""`dhl venues list|markets|quote|loans|read`: the lending venues as operators see them.

Output contracts (kept stable for scripts):
- `--json` and `loans` and `read`: one JSON object per line; Decimals as strings,
  integers as integers, exact ratios as [num, den].
- Which data a command shows (stored snapshots and chain state, or the APIs now) is said
  on stderr, so stdout stays data.
- Exit status 2: bad arguments or settings (unknown venue, bad side, leverage <= 1,
  size <= 0, unknown token, a file that is neither a block nor a transaction); 1: a venue
  or service failed; 0 otherwise.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from core.errors import ConfigError

if TYPE_CHECKING:
    from chain.ledger import Tx
    from core.settings import Settings
    from indexer.venue_state import MarketView
    from protocols.base import LeverageSource
    from protocols.model import Market, VenueRecord


class Refusal(Exception):
    """A command's input is wrong: one line, exit status 2."""


def _say(command: str, message: str) -> None:
    print(f"dhl venues {command}: {message}", file=sys.stderr, flush=True)


def _line(obj: Any) -> None:
    print(json.dumps(obj, separators=(",", ":")), flush=True)


# --- settings and venues -------------------------------------------------------------------

def _settings(*, stack: bool = True) -> "Settings":
    """`stack`: the settings of the running `dhl run` stack (its MongoDB, its network), as
    `dhl state` reads them; else this environment's, as they are."""
    from core.settings import load_settings
    from dhl.state_commands import stack_settings

    try:
        if stack:
            return stack_settings(prefer_operator_mongo=True)[0]
        return load_settings()
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def _sources(settings: "Settings") -> dict[str, "LeverageSource"]:
    from indexer.venue_state import leverage_sources

    try:
        return leverage_sources(settings)
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def _pick(sources: dict[str, "LeverageSource"], name: str) -> "LeverageSource":
    source = sources.get(name.strip().lower())
    if source is None:
        known = ", ".join(sorted(sources)) or "none"
        raise Refusal(f"no venue named {name!r} (registered: {known})")
    return source


# --- dhl venues list -------------------------------------------------------------------------

def watch_summary(source: "LeverageSource") -> str:
    network = source.network.name
    watch = source.watch
    if not watch.needles:
        why = source.disabled_reason or f"no tokens or scripts known for {network}"
        return f"nothing on {network}: {why}"
    if source.tokens is not None and source.tokens.by_kind:
        kinds = ", ".join(f"{kind} {len(policies)}"
                          for kind, policies in sorted(source.tokens.by_kind.items())
                          if policies)
        parts = [f"{len(watch.policies)} token policies ({kinds})"] if watch.policies else []
    else:
        parts = [f"{len(watch.policies)} token policies"] if watch.policies else []
    if watch.credentials:
        parts.append(f"{len(watch.credentials)} script credentials")
    if watch.addresses:
        parts.append(f"{len(watch.addresses)} addresses")
    return f"{', '.join(parts)} on {network}"


def cmd_list(args: argparse.Namespace) -> int:
    from indexer.venue_state import off_reason

    settings = _settings()
    for name, source in sorted(_sources(settings).items()):
        reason = off_reason(settings, source)
        row = {"venue": name, "enabled": reason is None, "reason": reason,
               "experimental": source.experimental, "network": source.network.name,
               "watches": watch_summary(source)}
        if args.json:
            _line(row)
            continue
        state = "on " if reason is None else "off"
        flag = " [experimental]" if source.experimental else ""
        why = f" ({reason})" if reason else ""
        print(f"{name:10} {state}{flag}{why}".rstrip())
        print(f"{'':10} watches {row['watches']}")
    return 0


# --- where markets come from -----------------------------------------------------------------

@dataclass
class MarketRead:
    views: list["MarketView"]
    failed: list[str]  # venues whose markets could not be read


def _reachable_db(settings: "Settings"):  # type: ignore[no-untyped-def]
    from store.mongo import PyMongoError, connect, ping

    client = connect(settings.mongo_url, timeout_ms=2000)
    try:
        ping(client)
    except PyMongoError:
        client.close()
        return None
    return client[settings.mongo_db]


def read_markets(command: str, settings: "Settings", sources: Sequence["LeverageSource"],
                 live: bool) -> MarketRead:
    """The venues' markets: the stored snapshots merged with chain state when MongoDB
    answers (and not `live`), else fetched from the APIs now."""
    from core.settings import redact_url
    from indexer.venue_state import MarketView, current_markets
    from store.codec import now_ms

    now = now_ms()
    db = None if live else _reachable_db(settings)
    views: list[MarketView] = []
    failed: list[str] = []
    why = "--live" if live else f"MongoDB at {redact_url(settings.mongo_url)} does not answer"
    if db is not None:
        from store.mongo import PyMongoError

        _say(command, f"stored API snapshots merged with chain state, from MongoDB at "
                      f"{redact_url(settings.mongo_url)}")
        try:
            for source in sources:
                found = current_markets(db, source, settings, now)
                if not found:
                    _say(command, f"{source.name}: no markets stored yet (the beat fetches "
                                  f"them every {settings.market_refresh_seconds} s); --live "
                                  "asks the API")
                views.extend(found)
            return MarketRead(views, failed)
        except PyMongoError as error:
            views = []
            why = f"MongoDB failed while read ({type(error).__name__})"
        finally:
            db.client.close()
    _say(command, f"{why}: fetching from the venues' APIs now")
    max_age = settings.market_max_age_seconds
    for source in sources:
        try:
            markets = source.fetch_markets()
        except Exception as error:
            first = (str(error).splitlines() or [""])[0]
            _say(command, f"{source.name}: markets not fetched ({type(error).__name__}: {first})")
            failed.append(source.name)
            continue
        views.extend(MarketView(m, m.stale(now, max_age), m.provenance.age_s(now))
                     for m in sorted(markets, key=lambda m: m.market_id))
    return MarketRead(views, failed)


def _enabled(settings: "Settings", sources: dict[str, "LeverageSource"],
             venue: str | None) -> list["LeverageSource"]:
    from indexer.venue_state import off_reason

    if venue is not None:
        source = _pick(sources, venue)
        reason = off_reason(settings, source)
        if reason is not None:
            raise Refusal(f"venue {source.name} is off: {reason}")
        return [source]
    return [s for _, s in sorted(sources.items()) if off_reason(settings, s) is None]


# --- dhl venues markets -----------------------------------------------------------------------

def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _display(amount: int | None, decimals: int) -> str:
    from core.units import to_display

    return "-" if amount is None else _plain(to_display(amount, decimals))


def _pct(value: Decimal) -> str:
    return _plain((value * 100).quantize(Decimal("0.01"))) + "%"


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def market_row(view: "MarketView") -> list[str]:
    m = view.market
    name = m.borrow.ticker or m.borrow.asset.unit[:16]
    collaterals = "; ".join(
        f"{o.token.ticker or o.token.asset.unit[:16]} ltv {_plain(o.max_ltv)} "
        f"thr {_plain(o.liquidation_threshold)} "
        f"pen {'-' if o.liquidation_penalty is None else _plain(o.liquidation_penalty)}"
        for o in m.collaterals) or "-"
    fees = [f"orig {_pct(m.fees.origination)}"]
    if m.fees.batcher_lovelace:
        fees.append(f"batcher {_display(m.fees.batcher_lovelace, 6)} ADA")
    fees.extend(m.fees.other)
    status = ",".join(m.status.reasons()) or "ok"
    return [m.venue, m.market_id, name, collaterals, _pct(m.borrow_apr), _pct(m.supply_apy),
            _pct(m.utilisation), _display(m.available_liquidity, m.borrow.decimals),
            _display(m.min_size, m.borrow.decimals), ", ".join(fees), status,
            f"{m.provenance.source} {_age(view.age_s)}" + (" (fixed rate)" if
                                                            m.rate_fixed_at_open else ""),
            "STALE" if view.stale else ""]


HEADER = ["venue", "market", "borrow", "collateral (max LTV, threshold, penalty)", "APR",
          "supply APY", "util", "available", "min size", "fees", "status", "source/age", ""]


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def cmd_markets(args: argparse.Namespace) -> int:
    from protocols.market_codec import market_json

    settings = _settings()
    sources = _enabled(settings, _sources(settings), args.venue)
    read = read_markets("markets", settings, sources, args.live)
    if args.json:
        for view in read.views:
            _line({**market_json(view.market), "stale": view.stale,
                   "age_s": round(view.age_s, 3)})
    elif read.views:
        _table([HEADER, *(market_row(v) for v in read.views)])
    return 1 if read.failed else 0


# --- dhl venues quote -------------------------------------------------------------------------

def _decimal(text: str, what: str) -> Decimal:
    from core.decimals import decimal_option

    try:
        return decimal_option(text, what)
    except ValueError as error:
        raise Refusal(str(error)) from None


def resolve_token(text: str, markets: Iterable["Market"]):  # type: ignore[no-untyped-def]
    """A ticker the markets know (any case) or a unit (policy id + asset name hex), as the
    Token the markets describe (with its decimals). Raises Refusal when unknown."""
    from core.units import Asset, UnitError

    known = {}
    for market in markets:
        for token in (market.borrow, *(o.token for o in market.collaterals)):
            known.setdefault(token.asset, token)
    wanted = text.strip()
    by_ticker = [t for t in known.values() if t.ticker and t.ticker.lower() == wanted.lower()]
    if len(by_ticker) == 1:
        return by_ticker[0]
    if len(by_ticker) > 1:
        units = ", ".join(sorted(t.asset.unit for t in by_ticker))
        raise Refusal(f"ticker {wanted!r} names several tokens ({units}); give the unit")
    try:
        asset = Asset.from_unit(wanted)
    except UnitError:
        asset = None
    if asset is not None and asset in known:
        return known[asset]
    tickers = ", ".join(sorted({t.ticker for t in known.values() if t.ticker})) or "none"
    raise Refusal(f"unknown token {wanted!r}: not a ticker or unit of any market "
                  f"(tickers: {tickers})")


def cmd_quote(args: argparse.Namespace) -> int:
    from core.units import UnitError, to_base
    from trading.selection import QuoteError, QuoteRequest, candidate_json, rank_venues

    # Every argument is checked before anything is fetched.
    if args.side not in ("long", "short"):
        raise Refusal(f"--side must be long or short, got {args.side!r}")
    size = _decimal(args.size, "--size")
    if size <= 0:
        raise Refusal(f"--size must be above 0 ADA, got {args.size}")
    try:
        size_lovelace = to_base(args.size.strip(), 6, what="--size")
    except UnitError as error:
        raise Refusal(str(error)) from None
    leverage = _decimal(args.leverage, "--leverage")
    if leverage <= 1:
        raise Refusal(f"--leverage must be above 1, got {args.leverage}")
    days = _decimal(args.days, "--days")
    swap_cost = _decimal(args.swap_cost, "--swap-cost")
    price = None if args.price is None else _decimal(args.price, "--price")
    if args.side == "short" and price is None:
        raise Refusal("a short needs --price (ADA per whole token) to size its debt in tokens")

    settings = _settings()
    sources = _enabled(settings, _sources(settings), args.venue)
    read = read_markets("quote", settings, sources, args.live)
    token = resolve_token(args.asset, (v.market for v in read.views))
    try:
        request = QuoteRequest(args.side, token, size_lovelace, leverage, days, price,
                               swap_cost, args.batcher_txs)
    except QuoteError as error:
        raise Refusal(str(error)) from None
    from store.codec import now_ms

    ranking = rank_venues([v.market for v in read.views], request, now_ms=now_ms(),
                          max_age_s=settings.market_max_age_seconds)
    if args.json:
        for candidate in ranking.candidates:
            _line(candidate_json(candidate))
    else:
        _print_ranking(ranking)
    return 1 if read.failed else 0


def _ada(lovelace: Decimal) -> str:
    return _plain((lovelace / 1_000_000).quantize(Decimal("0.000001")))


def _print_ranking(ranking: Any) -> None:
    request = ranking.request
    name = request.asset.ticker or request.asset.asset.unit
    ltv = (request.leverage - 1) / request.leverage
    print(f"{request.side} {name}: {_ada(Decimal(request.size))} ADA notional at "
          f"{request.leverage}x for {request.holding_days} days: debt "
          f"{_ada(request.debt_lovelace)} ADA, needs max LTV >= {ltv:.6f}")
    for note in ranking.notes:
        print(note)
    for c in ranking.candidates:
        mark = "*" if c.chosen else ("+" if c.eligible else "-")
        cost = c.cost
        total = "-" if cost is None else f"{_ada(cost.total)} ADA"
        print(f"{c.rank:>3} {mark} {c.venue}/{c.market_id}: cost {total}")
        if cost is not None:
            parts = [("interest", cost.interest), ("origination", cost.origination),
                     ("batcher", cost.batcher), ("swap", cost.swap)]
            print("        " + ", ".join(f"{label} {_ada(v)}" for label, v in parts) + " ADA")
        for reason in c.reasons:
            print(f"        rejected: {reason.text}")
        for note in c.notes:
            print(f"        {note}")


# --- dhl venues loans -------------------------------------------------------------------------

def cmd_loans(args: argparse.Namespace) -> int:
    from protocols.errors import Unsupported
    from protocols.render import json_value

    settings = _settings()
    source = _pick(_sources(settings), args.venue)
    try:
        loans = source.fetch_loans(args.owner)
    except Unsupported as error:
        _say("loans", str(error))
        return 1
    except Exception as error:
        first = (str(error).splitlines() or [""])[0]
        _say("loans", f"{source.name}: loans not fetched ({type(error).__name__}: {first})")
        return 1
    for loan in loans:
        _line(json_value(loan))
    return 0


# --- dhl venues read --------------------------------------------------------------------------

def read_file_txs(path: Path) -> list["Tx"]:
    """The transactions of a block file (as `dhl block` reads it), or of one transaction
    (CBOR in hex or binary, or a cardano-cli text envelope). Raises Refusal otherwise."""
    from chain.blockfile import BlockFileError, read_blocks
    from chain.ledger import LedgerError, decode_transaction

    if not path.is_file() and not path.is_dir():
        raise Refusal(f"{path}: no such file")
    try:
        return [tx for block in read_blocks(path) for tx in block.txs]
    except BlockFileError as error:
        as_block = str(error)
    except LedgerError as error:  # a block whose transactions do not decode
        as_block = f"{path}: {error}"
    if path.is_dir():
        raise Refusal(as_block)
    try:
        return [decode_transaction(_tx_bytes(path.read_bytes()))]
    except (LedgerError, ValueError) as error:
        raise Refusal(f"{path}: neither a block nor a transaction (as a block: "
                      f"{as_block.removeprefix(f'{path}: ')}; as a transaction: {error})") from None


def _tx_bytes(data: bytes) -> bytes:
    text = data.strip()
    if text.startswith(b"{"):  # a cardano-cli text envelope
        try:
            return bytes.fromhex(json.loads(text)["cborHex"])
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"a JSON file without a cborHex transaction ({error})") from None
    try:
        return bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return data


def cmd_read(args: argparse.Namespace) -> int:
    from dataclasses import replace

    settings = _settings(stack=False)
    if args.network is not None:
        settings = replace(settings, cardano_network=args.network)
    sources = sorted(_sources(settings).items())
    if args.venue:
        wanted = {_pick(dict(sources), v).name for v in args.venue}
        sources = [(n, s) for n, s in sources if n in wanted]
    seen: dict[str, dict[str, VenueRecord]] = {name: {} for name, _ in sources}
    status = 0
    for name in args.files:
        path = Path(name)
        try:
            txs = read_file_txs(path)
        except Refusal as error:
            _say("read", str(error))
            status = 2
            continue
        for tx in txs:
            for venue, source in sources:
                if not _read_tx(path, tx, source, seen[venue]):
                    status = max(status, 1)
    return status


def _read_tx(path: Path, tx: "Tx", source: "LeverageSource",
             seen: dict[str, "VenueRecord"]) -> bool:
    """Print one transaction's records and events at one venue; False when the venue's
    code refused part of it (a layout it does not know: said on stderr)."""
    from indexer.effects import watched
    from protocols.errors import VenueError
    from protocols.render import event_json, record_json

    tx_id = tx.id.hex()
    outputs = list(enumerate(tx.outputs)) if tx.valid else (
        [] if tx.collateral_return is None else [(len(tx.outputs), tx.collateral_return)])
    ok = True
    for index, out in outputs:
        if not watched(out, source.watch):
            continue
        ref = f"{tx_id}#{index}"
        datum = out.inline_datum
        if datum is None and out.datum_hash is not None:
            datum = tx.datums.get(out.datum_hash)
        try:
            record = source.read_output(ref, out, datum)
        except VenueError as error:
            _say("read", f"{path}: {ref}: {error}")
            ok = False
            continue
        if record is not None:
            seen[ref] = record
            _line(record_json(record))
    consumed = tx.inputs if tx.valid else tx.collateral
    spent = {ref: seen[ref] for ref in (f"{t.hex()}#{i}" for t, i in consumed) if ref in seen}
    try:
        events = source.read_tx(tx, spent)
    except VenueError as error:
        _say("read", f"{path}: tx {tx_id}: {error}")
        return False
    for event in events:
        _line(event_json(event))
    return ok


# --- the parser ----------------------------------------------------------------------------

def _guarded(func):  # type: ignore[no-untyped-def]
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except Refusal as error:
            _say(args.venues_command, str(error))
            return 2
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, and keep Python's exit flush quiet.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0

    return run


def add_venue_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from dhl.chain_commands import network_arg

    venues = sub.add_parser("venues", help="the lending venues: list, markets, quote, loans, "
                                           "read")
    vsub = venues.add_subparsers(dest="venues_command", required=True, metavar="WHAT")

    listing = vsub.add_parser("list", help="each venue: on or why not, what it watches")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=_guarded(cmd_list))

    markets = vsub.add_parser("markets", help="the venues' markets (stored, or --live)")
    markets.add_argument("--venue", metavar="NAME")
    markets.add_argument("--json", action="store_true", help="one JSON object per line")
    markets.add_argument("--live", action="store_true",
                         help="fetch from the venues' APIs now instead of MongoDB")
    markets.set_defaults(func=_guarded(cmd_markets))

    quote = vsub.add_parser("quote", help="rank the venues for a leveraged long or short")
    quote.add_argument("--side", required=True, metavar="long|short")
    quote.add_argument("--asset", required=True, metavar="TOKEN",
                       help="a ticker the markets know, or a unit (policy id + name hex)")
    quote.add_argument("--size", required=True, metavar="ADA",
                       help="notional in ADA: the collateral's value once open")
    quote.add_argument("--leverage", required=True, metavar="L", help="above 1")
    quote.add_argument("--days", default="30", metavar="D", help="holding time (default 30)")
    quote.add_argument("--price", metavar="ADA", help="ADA per whole token (needed to short)")
    quote.add_argument("--swap-cost", default="0.003", metavar="FRACTION",
                       help="fraction lost per swap (default 0.003)")
    quote.add_argument("--batcher-txs", type=int, default=2, metavar="N",
                       help="batcher-processed transactions per flow (default 2)")
    quote.add_argument("--venue", metavar="NAME", help="only this venue")
    quote.add_argument("--live", action="store_true", help="fetch markets from the APIs now")
    quote.add_argument("--json", action="store_true", help="one JSON object per line")
    quote.set_defaults(func=_guarded(cmd_quote))

    loans = vsub.add_parser("loans", help="loans from a venue's API, one JSON line each")
    loans.add_argument("--venue", required=True, metavar="NAME")
    loans.add_argument("--owner", metavar="PKH", help="only this owner's loans")
    loans.set_defaults(func=_guarded(cmd_loans))

    read = vsub.add_parser("read", help="venue UTxOs and events in block or transaction files")
    read.add_argument("files", nargs="+", metavar="FILE",
                      help="a block file (as dhl block reads it) or one transaction's CBOR "
                           "(hex, binary or a text envelope)")
    read.add_argument("--network", type=network_arg, metavar="mainnet|preprod|preview|MAGIC",
                      help="the network whose venue tokens to look for (default "
                           "CARDANO_NETWORK)")
    read.add_argument("--venue", action="append", default=[], metavar="NAME",
                      help="only this venue (repeatable)")
    read.set_defaults(func=_guarded(cmd_read))
