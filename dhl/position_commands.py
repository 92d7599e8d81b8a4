"""`dhl positions open|list|show|close|collateral`: paper positions from the command line,
for traders and bots, over the same functions the HTTP API will use
(tasks/position_orders.py). They talk to the running stack (`make run`): its MongoDB, and
its workers through Celery, which run the flows.

- `open --side long|short --asset TOKEN --collateral ASSET:AMOUNT --leverage L
  [--venue NAME|auto] [--address ADDR] [--plan-only]`: the plan as one JSON object; unless
  `--plan-only`, the position is stored and handed to the workers (`position` names it).
  TOKEN: a ticker of the stored markets or a unit (policy id + asset name hex); ASSET: ADA
  or that token; AMOUNT in display units (ADA:100 is 100 ADA).
- `list [--json]`: a table (or one JSON line per position), newest first.
- `show ID`: one JSON object with the legs, fees, PnL and history.
- `close ID [--fraction F]`: close all (1, the default) or a share.
- `collateral ID --add AMOUNT`: deposit more of the position's collateral asset.

Exit status: 0 done; 3 refused (the plan's reasons are printed); 2 bad input or settings;
1 a service (MongoDB, DexHunter, the broker) failed.
"""
from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from core.settings import Settings
    from tasks.position_orders import Desk

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_REFUSED = 0, 1, 2, 3


class BadInput(Exception):
    pass


class Failed(Exception):
    pass


def _say(message: str) -> None:
    print(f"dhl positions: {message}", file=sys.stderr, flush=True)


def _decimal(text: str, what: str) -> Decimal:
    from core.decimals import decimal_option

    try:
        return decimal_option(text, what)
    except ValueError as error:
        raise BadInput(str(error)) from None


def _settings() -> "Settings":
    from core.errors import ConfigError
    from dhl.state_commands import stack_settings

    try:
        return stack_settings()[0]
    except ConfigError as error:
        raise BadInput(f"config error: {error}") from None


def _desk(settings: "Settings") -> "Desk":
    from store.mongo import PyMongoError, ping
    from tasks.positions import desk_for

    desk = desk_for(settings)
    try:
        ping(desk.db.client)
    except PyMongoError:
        raise Failed("MongoDB does not answer: is the stack running (make run)?") from None
    return desk


def _enqueuer(settings: "Settings") -> Callable[[str], None]:
    from tasks.celery_app import make_celery
    from tasks.positions import ADVANCE_TASK

    app = make_celery(settings)

    def enqueue(position_id: str) -> None:
        try:
            app.send_task(ADVANCE_TASK, args=[position_id])
        except Exception as error:  # the broker down: the resume sweep will find it
            _say(f"the workers were not told now ({type(error).__name__}); the next resume "
                 f"sweep will run position {position_id}")

    return enqueue


def _token(desk: "Desk", text: str) -> Any:
    from dhl.paper_commands import Refusal, _token as resolve
    from core.units import Asset, UnitError

    try:
        unit, _ = resolve(text, desk.db, desk.settings)
        return Asset.from_unit(unit)
    except (Refusal, UnitError) as error:
        raise BadInput(f"--asset: {error}") from None


def _base_amount(desk: "Desk", asset: Any, text: str, what: str) -> int:
    from core.units import UnitError, to_base

    amount = _decimal(text, what)
    decimals = 6 if asset.is_ada else desk.dexhunter.token(asset).decimals
    try:
        base = to_base(amount, decimals, what=what)
    except UnitError as error:
        raise BadInput(str(error)) from None
    if base <= 0:
        raise BadInput(f"{what} must be positive, got {text!r}")
    return base


def cmd_open(args: argparse.Namespace) -> int:
    from core.units import ADA
    from tasks.position_orders import OpenRequest, open_position

    if args.side not in ("long", "short"):
        raise BadInput(f"--side must be long or short, got {args.side!r}")
    leverage = _decimal(args.leverage, "--leverage")
    if leverage <= 1:
        raise BadInput(f"--leverage must be above 1, got {args.leverage!r}")
    asset_text, sep, amount_text = args.collateral.rpartition(":")
    if not sep or not asset_text:
        raise BadInput(f"--collateral must be ASSET:AMOUNT (e.g. ADA:100), got "
                       f"{args.collateral!r}")
    settings = _settings()
    if args.address is not None:
        from core.settings import parse_address
        from core.errors import ConfigError
        try:
            parse_address("--address", args.address)
        except ConfigError as error:
            raise BadInput(str(error)) from None
    desk = _desk(settings)
    asset = _token(desk, args.asset)
    posted = ADA if asset_text.strip().upper() == "ADA" else _token(desk, asset_text)
    amount = _base_amount(desk, posted, amount_text, "--collateral amount")
    request = OpenRequest(args.side, asset, posted, amount, leverage, args.venue,
                          args.address, args.plan_only, live=args.live,
                          signing=args.signing, user=args.user)
    answer = open_position(desk, request, _enqueuer(settings))
    print(json.dumps(answer, sort_keys=True))
    return EXIT_OK if answer.get("ok") else EXIT_REFUSED


def cmd_list(args: argparse.Namespace) -> int:
    from tasks.position_orders import list_positions

    rows = list_positions(_desk(_settings()))
    if args.json:
        for row in rows:
            print(json.dumps(row, sort_keys=True))
        return EXIT_OK
    columns = ("position", "state", "side", "ticker", "venue", "size", "entry_price",
               "health", "liquidation_price", "fees_paid", "realised_pnl", "unrealised_pnl")
    table = [[str(row.get(c, "") if row.get(c) is not None else "-") for c in columns]
             for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in table]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for r in table:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))
    if not rows:
        print("(no positions)")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from store import positions as store
    from tasks.position_orders import describe

    desk = _desk(_settings())
    doc = store.read(desk.db, args.id)
    if doc is None:
        raise BadInput(f"no position {args.id!r}")
    print(json.dumps(describe(desk, doc, detail=True), indent=2, sort_keys=True))
    return EXIT_OK


def cmd_close(args: argparse.Namespace) -> int:
    from tasks.position_orders import close_position

    fraction = _decimal(args.fraction, "--fraction")
    settings = _settings()
    answer = close_position(_desk(settings), args.id, fraction, _enqueuer(settings))
    print(json.dumps(answer, sort_keys=True))
    return EXIT_OK if answer.get("ok") else EXIT_REFUSED


def cmd_guards(args: argparse.Namespace) -> int:
    """Set a position's guards: a new immutable version replaces the current one."""
    from tasks.guard_rules import apply_guards
    from trading.guards import GuardError, GuardRules, TakeProfit

    rungs = []
    for text in args.take_profit or []:
        price_text, sep, fraction_text = text.partition(":")
        fraction = _decimal(fraction_text, f"--take-profit {text} fraction") if sep \
            else Decimal(1)
        rungs.append(TakeProfit(_decimal(price_text, f"--take-profit {text} price"), fraction))

    def optional(value: str | None, what: str) -> Decimal | None:
        return None if value is None else _decimal(value, what)

    try:
        rules = GuardRules(tuple(rungs), optional(args.stop_loss, "--stop-loss"),
                           optional(args.trailing, "--trailing"),
                           optional(args.deleverage_below, "--deleverage-below"),
                           optional(args.to, "--to"), optional(args.alert_below, "--alert-below"),
                           optional(args.margin_call_below, "--margin-call-below"),
                           optional(args.margin_call_to, "--margin-call-to"),
                           optional(args.max_borrow_apr, "--max-borrow-apr"),
                           move_when_cheaper=args.move_when_cheaper)
    except GuardError as error:
        raise BadInput(f"guards: {error}") from None
    print(json.dumps(apply_guards(_desk(_settings()), args.id, rules), sort_keys=True))
    return EXIT_OK


def cmd_collateral(args: argparse.Namespace) -> int:
    from core.units import Asset
    from store import positions as store
    from tasks.position_orders import add_collateral

    settings = _settings()
    desk = _desk(settings)
    doc = store.read(desk.db, args.id)
    if doc is None:
        raise BadInput(f"no position {args.id!r}")
    asset = Asset.from_unit(str(doc["collateral_asset"]))
    amount = _base_amount(desk, asset, args.add, "--add")
    answer = add_collateral(desk, args.id, amount, _enqueuer(settings))
    print(json.dumps(answer, sort_keys=True))
    return EXIT_OK


def cmd_account(args: argparse.Namespace) -> int:
    """The user's managed account: its index and address, where to send what a live
    position trades with (allocated on first ask; never the key)."""
    from core.units import ADA
    from tasks.position_orders import OpenRequest, live_owner

    desk = _desk(_settings())
    request = OpenRequest("long", ADA, ADA, 0, Decimal(2), live=True, user=args.user)
    address, account = live_owner(desk, request)
    print(json.dumps({"user": args.user, "account": account, "address": address,
                      "network": desk.settings.cardano_network.name}, sort_keys=True))
    return EXIT_OK


def cmd_unsigned(args: argparse.Namespace) -> int:
    """A wallet-signed live position's built transactions waiting for a signature."""
    from store import positions as store
    from tasks.live_legs import unsigned_legs

    doc = store.read(_desk(_settings()).db, args.id)
    if doc is None:
        raise BadInput(f"no position {args.id!r}")
    print(json.dumps(unsigned_legs(doc), sort_keys=True))
    return EXIT_OK


def cmd_sign(args: argparse.Namespace) -> int:
    """The wallet's witness set (CIP-30 signTx's answer, hex) for a pending leg."""
    from execution.witnesses import WitnessError
    from tasks.live_legs import attach_witnesses

    text = sys.stdin.read() if args.witness_set == "-" else args.witness_set
    try:
        witnesses = bytes.fromhex(text.strip())
    except ValueError:
        raise BadInput("--witness-set: hex CBOR of a witness set (or - for stdin)") from None
    settings = _settings()
    try:
        tx_id = attach_witnesses(_desk(settings).db, args.id, args.leg, witnesses)
    except WitnessError as error:
        raise BadInput(f"--witness-set refused: {error}") from None
    _enqueuer(settings)(args.id)
    print(json.dumps({"position": args.id, "leg": args.leg, "tx_id": tx_id, "signed": True}))
    return EXIT_OK


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from protocols.errors import MalformedResponse, VenueUnavailable
        from execution.errors import DexHunterRefused
        from store.mongo import PyMongoError
        from tasks.position_orders import OrderError, PositionMissing
        from trading.transitions import IllegalTransition

        try:
            return func(args)
        except (BadInput, PositionMissing, OrderError, IllegalTransition) as error:
            _say(str(error))
            return EXIT_BAD_INPUT
        except (Failed, PyMongoError, VenueUnavailable, MalformedResponse,
                DexHunterRefused) as error:
            _say(f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
            return EXIT_FAILED
    return run


def add_position_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    positions = sub.add_parser("positions", help="paper positions: open, list, show, close, "
                                                 "add collateral")
    psub = positions.add_subparsers(dest="positions_command", required=True)
    opened = psub.add_parser("open", help="plan and open a leveraged long or short")
    opened.add_argument("--side", required=True, metavar="long|short")
    opened.add_argument("--asset", required=True, metavar="TOKEN",
                        help="a ticker of the stored markets, or policy id + asset name hex")
    opened.add_argument("--collateral", required=True, metavar="ASSET:AMOUNT",
                        help="what you post: ADA or the token, in display units (ADA:100)")
    opened.add_argument("--leverage", required=True, metavar="L", help="above 1")
    opened.add_argument("--venue", default=None, metavar="NAME|auto",
                        help="a venue, or auto (default): the cheapest eligible market")
    opened.add_argument("--address", default=None, metavar="ADDR",
                        help="the wallet to trade from (default PAPER_WALLET_ADDRESS)")
    opened.add_argument("--plan-only", action="store_true",
                        help="print the plan; store and run nothing")
    opened.add_argument("--live", action="store_true",
                        help="trade on chain: sign, submit to CARDANO_NODE, confirm from "
                             "blocks (docs/live.md); default paper")
    opened.add_argument("--signing", default="managed", choices=("managed", "wallet"),
                        help="live: the user's managed account signs (default), or the "
                             "wallet of --address (see `positions unsigned` and `sign`)")
    opened.add_argument("--user", default=None, metavar="USER",
                        help="live, managed: the user whose account of MASTER_KEY_FILE trades")
    opened.set_defaults(func=_guarded(cmd_open))
    listing = psub.add_parser("list", help="every position, newest first")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=_guarded(cmd_list))
    show = psub.add_parser("show", help="one position: legs, fees, PnL, history")
    show.add_argument("id", metavar="ID")
    show.set_defaults(func=_guarded(cmd_show))
    close = psub.add_parser("close", help="close a position, or a share of it")
    close.add_argument("id", metavar="ID")
    close.add_argument("--fraction", default="1", metavar="F", help="in (0, 1]; default 1")
    close.set_defaults(func=_guarded(cmd_close))
    guards = psub.add_parser("guards", help="set a position's guards (a new version "
                                            "replaces the current one; docs/guards.md)")
    guards.add_argument("id", metavar="ID")
    guards.add_argument("--take-profit", action="append", metavar="PRICE[:FRACTION]",
                        help="close FRACTION (default 1: all) of the position as it is "
                             "then, at PRICE ADA; repeat for a scale-out ladder")
    guards.add_argument("--stop-loss", metavar="PRICE", help="close it all at PRICE ADA")
    guards.add_argument("--trailing", metavar="PCT", help="a trailing stop PCT percent "
                                                          "below the highest price since "
                                                          "(a short's: above the lowest)")
    guards.add_argument("--deleverage-below", metavar="H", help="auto-deleverage below "
                                                                "health H (with --to)")
    guards.add_argument("--to", metavar="H", help="the health auto-deleverage aims at")
    guards.add_argument("--alert-below", metavar="H", help="alert below health H")
    guards.add_argument("--margin-call-below", metavar="H", help="add collateral below health "
                                                                 "H (with --margin-call-to)")
    guards.add_argument("--margin-call-to", metavar="H", help="the health a margin call adds "
                                                              "collateral up to")
    guards.add_argument("--max-borrow-apr", metavar="R", help="alert when the loan's borrow "
                                                              "rate is above R a year (0.12 "
                                                              "= 12%%), naming cheaper markets")
    guards.add_argument("--move-when-cheaper", action="store_true",
                        help="with --max-borrow-apr: move the loan to a cheaper market when "
                             "that pays within 30 days after its costs (close here, reopen "
                             "there with what comes back, the guards carried over)")
    guards.set_defaults(func=_guarded(cmd_guards))
    collateral = psub.add_parser("collateral", help="add collateral to an open position")
    collateral.add_argument("id", metavar="ID")
    collateral.add_argument("--add", required=True, metavar="AMOUNT",
                            help="display units of the position's collateral asset")
    collateral.set_defaults(func=_guarded(cmd_collateral))
    account = psub.add_parser("account", help="live, managed: a user's position wallet "
                                              "(its address; allocated on first ask)")
    account.add_argument("--user", required=True, metavar="USER")
    account.set_defaults(func=_guarded(cmd_account))
    unsigned = psub.add_parser("unsigned", help="live, wallet-signed: the transactions "
                                                "waiting for your wallet's signature")
    unsigned.add_argument("id", metavar="ID")
    unsigned.set_defaults(func=_guarded(cmd_unsigned))
    sign = psub.add_parser("sign", help="live, wallet-signed: hand in the wallet's witness "
                                        "set for a pending leg")
    sign.add_argument("id", metavar="ID")
    sign.add_argument("--leg", required=True, metavar="LEG")
    sign.add_argument("--witness-set", required=True, metavar="HEX|-",
                      help="CIP-30 signTx's answer, hex CBOR (- reads stdin)")
    sign.set_defaults(func=_guarded(cmd_sign))
