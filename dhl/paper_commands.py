"""`dhl paper set-price|price`: the paper market as operators rehearse with it.

- `set-price TOKEN ADA_PER_TOKEN [--at TIME]`: from TIME on (default now) the token's paper
  price is ADA_PER_TOKEN; the walk goes on from it (PAPER_VOLATILITY 0 holds it there), and
  with a CSV it holds until the CSV's next point.
- `price TOKEN [--at TIME]`: the paper price at TIME (default now) and what gave it.

TOKEN is a ticker the stored markets know, or a unit (policy id + asset name hex); TIME is
ms since the epoch or ISO 8601 with a zone. Each prints one JSON object (the price as a
string). Exit status 2: bad input or settings (one line on stderr); 1: MongoDB failed.
"""
from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.settings import Settings
    from store.mongo import Database
    from trading.paper_market import PaperMarket


class Refusal(Exception):
    """A command's input is wrong: one line, exit status 2."""


class Failed(Exception):
    """A service failed: one line, exit status 1."""


def _say(command: str, message: str) -> None:
    print(f"dhl paper {command}: {message}", file=sys.stderr, flush=True)


def _line(obj: Any) -> None:
    print(json.dumps(obj, separators=(",", ":")), flush=True)


def load_paper_market(settings: "Settings", db: "Database | None") -> "PaperMarket":
    """The stack's paper market (tasks/paper_market.py); a bad PAPER_PRICES_CSV is a
    Refusal naming the line."""
    from core.errors import ConfigError
    from tasks.paper_market import load_paper_market as load

    try:
        return load(settings, db)
    except ConfigError as error:
        raise Refusal(str(error)) from None


def _settings() -> "Settings":
    from core.errors import ConfigError
    from dhl.state_commands import stack_settings

    try:
        return stack_settings(prefer_operator_mongo=True)[0]
    except ConfigError as error:
        raise Refusal(f"config error: {error}") from None


def _token(text: str, db: "Database", settings: "Settings") -> tuple[str, str | None]:
    """(unit, ticker or None) of TOKEN: a unit as given (known to a market or not), or a
    ticker of the stored markets."""
    from dhl import venue_commands
    from indexer.venue_state import leverage_sources, stored_markets
    from trading.paper_market import is_unit

    wanted = text.strip()
    if wanted.upper() in ("ADA", "LOVELACE", ""):
        raise Refusal("ADA has no paper price: it is the unit of account")
    markets = []
    for name in leverage_sources(settings):
        markets.extend(stored_markets(db, name)[0])
    try:
        token = venue_commands.resolve_token(wanted, markets)
    except venue_commands.Refusal as error:
        if is_unit(wanted):
            return wanted.lower(), None
        raise Refusal(f"{error}; or give the unit (policy id + asset name hex)") from None
    if not token.asset.unit:
        raise Refusal("ADA has no paper price: it is the unit of account")
    return token.asset.unit.lower(), token.ticker


def _time(text: str | None) -> int:
    from store.codec import now_ms
    from trading.paper_market import PaperMarketError, parse_time

    if text is None:
        return now_ms()
    try:
        at = parse_time(text)
    except PaperMarketError as error:
        raise Refusal(f"--at: {error}") from None
    if at < 0:
        raise Refusal(f"--at must not be before 1970, got {text!r}")
    return at


def _price(text: str) -> Decimal:
    from trading.paper_market import PaperMarketError, parse_price

    try:
        return parse_price(text)
    except PaperMarketError as error:
        raise Refusal(f"ADA_PER_TOKEN: {error}") from None


def _db(settings: "Settings"):  # type: ignore[no-untyped-def]
    from core.settings import redact_url
    from store.mongo import PyMongoError, connect, ping

    client = connect(settings.mongo_url, timeout_ms=2000)
    try:
        ping(client)
    except PyMongoError:
        client.close()
        raise Failed(f"MongoDB at {redact_url(settings.mongo_url)} does not answer") from None
    return client


def cmd_set_price(args: argparse.Namespace) -> int:
    from store import paper_prices

    price = _price(args.price)
    at = _time(args.at)
    settings = _settings()
    client = _db(settings)
    try:
        db = client[settings.mongo_db]
        unit, ticker = _token(args.token, db, settings)
        paper_prices.set_price(db, unit, at, price)
    finally:
        client.close()
    from tasks.live_push import push_state

    push_state(settings, "prices", {"unit": unit, "price": str(price),
                                    "source": "paper (set)", "at_ms": at})
    _line({"token": unit, "ticker": ticker, "from_ms": at, "price": str(price)})
    return 0


def cmd_price(args: argparse.Namespace) -> int:
    from trading.paper_market import PaperMarketError

    at = _time(args.at)
    settings = _settings()
    client = _db(settings)
    try:
        db = client[settings.mongo_db]
        unit, ticker = _token(args.token, db, settings)
        market = load_paper_market(settings, db)
    finally:
        client.close()
    try:
        price, source = market.priced(unit, at)
    except PaperMarketError as error:
        raise Refusal(str(error)) from None
    _line({"token": unit, "ticker": ticker, "at_ms": at, "price": str(price), "source": source})
    return 0


def _guarded(func):  # type: ignore[no-untyped-def]
    def run(args: argparse.Namespace) -> int:
        from store.mongo import PyMongoError

        try:
            return int(func(args))
        except Refusal as error:
            _say(args.paper_command, str(error))
            return 2
        except Failed as error:
            _say(args.paper_command, str(error))
            return 1
        except PyMongoError as error:
            _say(args.paper_command, f"MongoDB failed ({type(error).__name__})")
            return 1

    return run


def add_paper_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    paper = sub.add_parser("paper", help="the paper market: set-price, price")
    psub = paper.add_subparsers(dest="paper_command", required=True, metavar="WHAT")
    token_help = "a ticker the stored markets know, or a unit (policy id + asset name hex)"
    time_help = "ms since the epoch or ISO 8601 with a zone (default now)"

    setp = psub.add_parser("set-price", help="move the paper price of a token from a time on")
    setp.add_argument("token", metavar="TOKEN", help=token_help)
    setp.add_argument("price", metavar="ADA_PER_TOKEN", help="ADA per whole token, above 0")
    setp.add_argument("--at", metavar="TIME", help=time_help)
    setp.set_defaults(func=_guarded(cmd_set_price))

    price = psub.add_parser("price", help="the paper price of a token at a time")
    price.add_argument("token", metavar="TOKEN", help=token_help)
    price.add_argument("--at", metavar="TIME", help=time_help)
    price.set_defaults(func=_guarded(cmd_price))
