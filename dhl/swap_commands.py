"""`dhl swap --address ADDR --sell TOKEN --buy TOKEN --amount X [--slippage P] --dry-run`:
quote and build a DexHunter swap, then run the pre-signing check on the built transaction
and print its verdict as one JSON object (ok, reasons, min_out, receiver, fee_lovelace,
outputs, orders, and the quote's floor, fees and blacklisted DEXs). Nothing is signed:
only --dry-run exists for now.

TOKEN is `ADA` or a policy id followed by the asset name in hex (no dot). The partner and
DexHunter fees may go only to the --fee-address addresses (the partner's fee address
registered with DexHunter), each at most the quoted fees.

Exit status: 0 the check passes; 3 the check refuses (its reasons in the JSON); 2 bad
input or settings (one line on stderr); 1 DexHunter unreachable or refusing.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from decimal import Decimal

from core.errors import AppError, ConfigError
from core.units import ADA, Asset

EXIT_OK, EXIT_UNAVAILABLE, EXIT_BAD_INPUT, EXIT_REFUSED = 0, 1, 2, 3


class BadInput(Exception):
    pass


def _say(message: str) -> None:
    print(f"dhl swap: {message}", file=sys.stderr, flush=True)


def parse_token(text: str) -> Asset:
    if text.strip().upper() == "ADA":
        return ADA
    if "." in text:
        raise BadInput(f"token {text!r}: write the policy id and asset name hex without a dot")
    try:
        asset = Asset.from_unit(text)
    except AppError as error:
        raise BadInput(f"token {text!r}: {error}") from None
    return asset


def _decimal(text: str, what: str) -> Decimal:
    from core.decimals import decimal_option

    try:
        return decimal_option(text, what, positive=True)
    except ValueError as error:
        raise BadInput(str(error)) from None


def _address(text: str, network: str) -> str:
    from execution.addresses import AddressError, address_bytes, network_id

    try:
        raw = address_bytes(text)
    except AddressError as error:
        raise BadInput(f"--address: {error}") from None
    if len(raw) < 29 or raw[0] >> 4 > 7:
        raise BadInput(f"--address {text!r:.120} is not a Shelley address")
    if (network_id(raw) == 1) != (network == "mainnet"):
        raise BadInput(f"--address {text!r:.120} is not a {network} address")
    return text.strip().lower()


def cmd_swap(args: argparse.Namespace) -> int:
    try:
        return _swap(args)
    except BadInput as error:
        _say(str(error))
        return EXIT_BAD_INPUT
    except ConfigError as error:
        _say(f"config error: {error}")
        return EXIT_BAD_INPUT


def _swap(args: argparse.Namespace) -> int:
    from chain.slots import ms_to_slot
    from core.units import UnitError
    from dhl.cli import _load_or_exit
    from execution.dex.reader import dex_readers
    from execution.dexhunter.api import DexHunterApi
    from execution.dexhunter.slippage import SlippageError
    from execution.errors import DexHunterRefused
    from execution.swap_check import dry_run_swap
    from protocols.errors import MalformedResponse, VenueUnavailable

    if not args.dry_run:
        raise BadInput("only --dry-run exists: this command signs nothing")
    sell, buy = parse_token(args.sell), parse_token(args.buy)
    if sell == buy:
        raise BadInput("--sell and --buy are the same token")
    amount = _decimal(args.amount, "--amount")
    slippage = _decimal(args.slippage, "--slippage")
    if args.fee_cap is not None and args.fee_cap <= 0:
        raise BadInput("--fee-cap must be a positive number of lovelace")
    settings = _load_or_exit()
    network = settings.cardano_network.name
    if network not in ("mainnet", "preprod", "preview"):
        raise BadInput(f"network {network!r}: slot times unknown, no swap check")
    address = _address(args.address, network)
    fee_addresses = [_address(a, network) for a in args.fee_address]
    now_slot = args.now_slot if args.now_slot is not None else \
        ms_to_slot(network, int(time.time() * 1000))
    api = DexHunterApi.from_settings(settings)
    extra = {"fee_cap": args.fee_cap} if args.fee_cap is not None else {}
    try:
        summary = dry_run_swap(api, address, sell, buy, amount, slippage,
                               readers=dex_readers(), now_slot=now_slot,
                               network=network,  # type: ignore[arg-type]
                               fee_addresses=fee_addresses, **extra)
    except (UnitError, SlippageError) as error:
        raise BadInput(str(error)) from None
    except DexHunterRefused as error:
        _say(f"DexHunter refused: {error}")
        return EXIT_UNAVAILABLE
    except (VenueUnavailable, MalformedResponse) as error:
        _say(f"DexHunter: {error}")
        return EXIT_UNAVAILABLE
    print(json.dumps(summary, sort_keys=True))
    return EXIT_OK if summary["ok"] else EXIT_REFUSED


def add_swap_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    swap = sub.add_parser("swap", help="quote, build and check a DexHunter swap (--dry-run: "
                                       "signs nothing)")
    swap.add_argument("--address", required=True, help="our bech32 address (buyer, receiver "
                                                       "and change)")
    swap.add_argument("--sell", required=True, metavar="TOKEN",
                      help="ADA, or policy id + asset name hex (no dot)")
    swap.add_argument("--buy", required=True, metavar="TOKEN",
                      help="ADA, or policy id + asset name hex (no dot)")
    swap.add_argument("--amount", required=True, help="how much to sell, in display units")
    swap.add_argument("--slippage", default="0.5", help="percent (default 0.5)")
    swap.add_argument("--fee-address", action="append", default=[],
                      help="an address the partner/DexHunter fee may go to (repeatable)")
    swap.add_argument("--fee-cap", type=int, default=None,
                      help="the most network fee, lovelace (default 1000000)")
    swap.add_argument("--now-slot", type=int, default=None,
                      help="the slot to check the validity window against (default: now)")
    swap.add_argument("--dry-run", action="store_true", required=True,
                      help="check the built transaction; sign nothing")
    swap.set_defaults(func=cmd_swap)
