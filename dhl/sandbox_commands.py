"""`dhl sandbox`: the sandbox chain in the foreground — a small local chain that accepts
real signed transactions over local tx-submission and forges them into blocks every few
seconds, or only when asked over HTTP (chain/sandbox.py; docs/live.md). It listens on
loopback or a Unix socket only.

What it funds, in its first block's one transaction from its faucet, output by output
in this order: `--fund ADDRESS:...` outputs, `--fund-account INDEX:...` outputs at
managed accounts of MASTER_KEY_FILE, and with `--pool` the reserves of a CSWAP pool whose
stub batcher fills the DexHunter stub's orders at the `--price`s given, or with
`--paper-prices` at the paper market's (the engine's paper fills' prices). With
`--surf-pool` it funds the Surf demo pools (stubs/surf.py's, one UTxO each) and runs the
stub Surf batcher (stubs/surf_batcher.py), which fills the orders the Surf stub builds in
chain mode (`python -m stubs surf --chain-utxos URL`)."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from chain.sandbox_ledger import Funds
from dhl.chain_commands import _stderr_logging, network_arg, node_arg, serve_until_stopped

log = logging.getLogger(__name__)

#: The slot clock of a network the project has no era table for: seconds since start.
PRIVATE_START_SLOT = 0

Assets = dict[tuple[bytes, bytes], int]


def _assets(text: str) -> Assets:
    """UNIT=QTY,... (UNIT: policy id + asset name, hex, no dot)."""
    assets: Assets = {}
    for item in text.split(",") if text else []:
        unit, _, quantity = item.partition("=")
        try:
            raw = bytes.fromhex(unit)
        except ValueError:
            raw = b""
        if len(raw) < 28 or len(raw) > 60 or not quantity.isdigit() or int(quantity) < 1:
            raise argparse.ArgumentTypeError(f"a token is UNIT=QTY with UNIT the policy id and "
                                             f"asset name in hex, got {item[:120]!r}")
        assets[(raw[:28], raw[28:])] = int(quantity)
    return assets


def _value(text: str) -> tuple[int, Assets]:
    """LOVELACE[:UNIT=QTY,...]."""
    lovelace, _, tokens = text.partition(":")
    if not lovelace.isdigit():
        raise argparse.ArgumentTypeError(f"expected LOVELACE[:UNIT=QTY,...], got {text[:120]!r}")
    return int(lovelace), _assets(tokens)


def fund_arg(text: str) -> Funds:
    """ADDRESS:LOVELACE[:UNIT=QTY,...]."""
    from execution.addresses import AddressError, address_bytes

    address, sep, rest = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected ADDRESS:LOVELACE[:UNIT=QTY,...], got "
                                         f"{text[:120]!r}")
    try:
        raw = address_bytes(address)
    except AddressError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    lovelace, assets = _value(rest)
    return Funds(raw, lovelace, assets)


def account_fund_arg(text: str) -> tuple[int, int, Assets]:
    """INDEX:LOVELACE[:UNIT=QTY,...]: a managed account's genesis output."""
    index, sep, rest = text.partition(":")
    if not sep or not index.isdigit() or int(index) > 0x7FFF_FFFF:
        raise argparse.ArgumentTypeError(f"expected INDEX:LOVELACE[:UNIT=QTY,...], got "
                                         f"{text[:120]!r}")
    lovelace, assets = _value(rest)
    return int(index), lovelace, assets


def pool_arg(text: str) -> tuple[int, Assets]:
    return _value(text)


def price_arg(text: str) -> tuple[str, Decimal, int]:
    """UNIT=ADA_PER_TOKEN:DECIMALS."""
    unit, _, rest = text.partition("=")
    price, _, decimals = rest.partition(":")
    try:
        raw, value = bytes.fromhex(unit), Decimal(price)
    except (ValueError, ArithmeticError):
        raw, value = b"", Decimal(0)
    if not 28 <= len(raw) <= 60 or not value.is_finite() or value <= 0 \
            or not decimals.isdigit() or int(decimals) > 18:
        raise argparse.ArgumentTypeError(f"expected UNIT=ADA_PER_TOKEN:DECIMALS, got "
                                         f"{text[:120]!r}")
    return unit.lower(), value, int(decimals)


@dataclass
class PaperFeed:
    """The batcher's prices from the paper market the engine fills paper orders at (the
    stack's settings: MongoDB for the operator-set prices, the seeded walk, the CSV), and
    the tokens' decimals from DexHunter's token endpoint (DEXHUNTER_API_URL; the stub
    in the sandbox setup). A token either cannot price — one the paper market has no
    price set or recorded for, whose walk would start from nowhere — gets None: its
    orders wait."""

    settings: Any
    now_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))

    def __post_init__(self) -> None:
        from execution.dexhunter.api import DexHunterApi
        from store.mongo import database

        self._db = database(self.settings)
        self._dexhunter = DexHunterApi.from_settings(self.settings)

    def price(self, unit: str) -> Decimal | None:
        from core.errors import AppError
        from tasks.paper_market import load_paper_market
        from trading.paper_market import PaperMarketError

        try:
            price, source = load_paper_market(self.settings, self._db).priced(unit,
                                                                             self.now_ms())
        except (PaperMarketError, AppError) as error:
            log.info("sandbox batcher: no paper price for %s (%s)", unit, error)
            return None
        if source == "walk":  # a walk from nowhere: the token was never priced
            log.info("sandbox batcher: %s has no paper price yet", unit)
            return None
        return price

    def decimals(self, unit: str) -> int | None:
        from core.errors import AppError
        from core.units import Asset

        try:
            return self._dexhunter.token(Asset.from_unit(unit)).decimals
        except AppError as error:
            log.info("sandbox batcher: no decimals for %s (%s)", unit, error)
            return None


def _genesis(args: argparse.Namespace, network_id: int) -> list[Funds] | str:
    """The funding transaction's outputs, in order, or the error to print."""
    from stubs.sandbox_batcher import pool_address

    funds = list(args.fund)
    if args.fund_account:
        from core.errors import ConfigError
        from core.settings import load_settings
        from execution.addresses import address_bytes
        from execution.custody import Custody, CustodyError

        try:
            key_file = load_settings().master_key_file
        except ConfigError as error:
            return f"config error: {error}"
        if key_file is None:
            return "--fund-account needs MASTER_KEY_FILE (the managed wallets' master key)"
        try:
            custody = Custody(key_file)
        except CustodyError as error:
            return str(error)
        network = "mainnet" if network_id == 1 else "testnet"
        for index, lovelace, assets in args.fund_account:
            address = custody.wallet(index, network).address
            funds.append(Funds(address_bytes(address), lovelace, assets))
            print(f"account {index}: {address}", flush=True)
    if args.pool is not None:
        lovelace, assets = args.pool
        funds.append(Funds(pool_address(network_id), lovelace, assets))
    if args.surf_pool is not None:
        from stubs.surf_batcher import genesis_funds

        try:
            funds += genesis_funds(network_id == 1, *args.surf_pool)
        except ValueError as error:
            return str(error)
    return funds


def cmd_sandbox(args: argparse.Namespace) -> int:
    from chain.sandbox import SandboxChain
    from chain.slots import ms_to_slot

    _stderr_logging()
    network = args.network
    network_id = 1 if network.name == "mainnet" else 0
    if (args.price or args.paper_prices) and args.pool is None:
        print("dhl sandbox: --price and --paper-prices are for the pool's batcher: give "
              "--pool too", file=sys.stderr)
        return 2
    if args.price and args.paper_prices:
        print("dhl sandbox: --price or --paper-prices, not both", file=sys.stderr)
        return 2
    if args.block_seconds == 0 and args.http_port is None:
        print("dhl sandbox: --block-seconds 0 forges only on POST /sandbox/forge: give "
              "--http-port too", file=sys.stderr)
        return 2
    funds = _genesis(args, network_id)
    if isinstance(funds, str):
        print(f"dhl sandbox: {funds}", file=sys.stderr)
        return 2
    started = time.time()
    if network.name in ("mainnet", "preprod", "preview"):
        def clock() -> int:
            return ms_to_slot(network.name, int(time.time() * 1000))
    else:
        def clock() -> int:
            return PRIVATE_START_SLOT + int(time.time() - started)
    batchers = []
    if args.pool is not None:
        from stubs.sandbox_batcher import CSWAP_ORDER_SCRIPT, CswapBatcher, pool_address

        if args.paper_prices:
            from core.errors import ConfigError
            from core.settings import load_settings

            try:
                feed = PaperFeed(load_settings())
            except ConfigError as error:
                print(f"dhl sandbox: config error: {error}", file=sys.stderr)
                return 2
            price, decimals = feed.price, feed.decimals
        else:
            prices = {unit: (value, places) for unit, value, places in args.price}

            def price(unit: str) -> Decimal | None:
                return prices[unit][0] if unit in prices else None

            def decimals(unit: str) -> int | None:
                return prices[unit][1] if unit in prices else None
        batcher = CswapBatcher(CSWAP_ORDER_SCRIPT, pool_address(network_id), price=price,
                               decimals=decimals)
        batchers.append(batcher.fills)
    if args.surf_pool is not None:
        from stubs.surf_batcher import SurfBatcher

        batchers.append(SurfBatcher.demo(network_id == 1).fills)
    chain = SandboxChain(funds, clock, magic=network.magic, network_id=network_id,
                         block_interval_s=args.block_seconds, batchers=batchers)
    # Output i of this transaction (block 0) pays the i-th funds, in the order above.
    print(f"funding tx {chain.funding_tx_id.hex()} ({len(funds)} outputs)", flush=True)
    utxos = None
    if args.http_port is not None:
        from stubs.sandbox_control import SandboxHttp
        from stubs.server import StubServer

        utxos = StubServer(SandboxHttp(chain), port=args.http_port).start()
        print(f"UTxOs on {utxos.url}/addresses/ADDRESS/utxos", flush=True)
        print(f"control on {utxos.url}/sandbox/ (GET stats, POST forge, POST rollback)",
              flush=True)
    try:
        return serve_until_stopped("sandbox", chain.config, args.listen, chain)
    finally:
        if utxos is not None:
            utxos.stop()


def port_arg(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got {text!r}")
    return int(text)


def block_seconds_arg(text: str) -> float:
    """0 (forge only when asked: POST /sandbox/forge), or 0.05 to 3600 seconds."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value != 0 and not 0.05 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"expected 0 or seconds between 0.05 and 3600, got "
                                         f"{text!r}")
    return value


def add_sandbox_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sandbox = sub.add_parser("sandbox", help="run a small local chain that accepts real "
                                             "signed transactions")
    sandbox.add_argument("--listen", required=True, type=node_arg, metavar="URL",
                         help="unix:///path (node-to-client: submission and chain-sync) or "
                              "tcp://127.0.0.1:PORT (node-to-node)")
    sandbox.add_argument("--network", default=network_arg("mainnet"), type=network_arg,
                         metavar="mainnet|preprod|preview|MAGIC",
                         help="its magic and slot clock (default mainnet)")
    sandbox.add_argument("--fund", action="append", default=[], type=fund_arg,
                         metavar="ADDRESS:LOVELACE[:UNIT=QTY,...]",
                         help="an output of the funding transaction in block 0 (repeat "
                              "for more)")
    sandbox.add_argument("--fund-account", action="append", default=[], type=account_fund_arg,
                         metavar="INDEX:LOVELACE[:UNIT=QTY,...]",
                         help="a funding output at managed account INDEX of "
                              "MASTER_KEY_FILE")
    sandbox.add_argument("--pool", type=pool_arg, metavar="LOVELACE[:UNIT=QTY,...]",
                         help="fund a CSWAP pool and run its stub batcher")
    sandbox.add_argument("--surf-pool", type=pool_arg, metavar="LOVELACE[:UNIT=QTY,...]",
                         help="fund each Surf demo pool of stubs/surf.py (its POOL_NFT, "
                              "LOVELACE, and of the tokens its own pool asset) and run the "
                              "stub Surf batcher, which fills the Surf stub's orders "
                              "(borrow, repay, deposit, withdraw) from them")
    sandbox.add_argument("--price", action="append", default=[], type=price_arg,
                         metavar="UNIT=ADA_PER_TOKEN:DECIMALS",
                         help="the batcher's price of a token (repeat for more)")
    sandbox.add_argument("--paper-prices", action="store_true",
                         help="the batcher's prices from the paper market (the stack's "
                              "settings), the decimals from DEXHUNTER_API_URL")
    sandbox.add_argument("--block-seconds", type=block_seconds_arg, default=2.0,
                         metavar="SECONDS", help="forge a block this often (default 2; 0: "
                                                 "only on POST /sandbox/forge)")
    sandbox.add_argument("--http-port", type=port_arg, metavar="PORT",
                         help="also serve on 127.0.0.1:PORT (0: any free port) its UTxOs in "
                              "Blockfrost's shape, for the stubs, and /sandbox/stats, "
                              "/sandbox/forge and /sandbox/rollback, for tests")
    sandbox.set_defaults(func=cmd_sandbox)
