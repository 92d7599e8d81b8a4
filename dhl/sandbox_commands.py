"""`dhl sandbox`: the sandbox chain in the foreground — a small local chain that accepts
real signed transactions over local tx-submission and forges them into blocks every few
seconds (chain/sandbox.py; docs/live.md). It listens on loopback or a Unix socket only."""
from __future__ import annotations

import argparse
import asyncio
import sys
import time

from chain.errors import ChainError
from chain.sandbox_ledger import Funds
from dhl.chain_commands import _stderr_logging, network_arg, node_arg

#: The slot clock of a network the project has no era table for: seconds since start.
PRIVATE_START_SLOT = 0


def fund_arg(text: str) -> Funds:
    """ADDRESS:LOVELACE[:UNIT=QTY,...] (UNIT: policy id + asset name, hex, no dot)."""
    from execution.addresses import AddressError, address_bytes

    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[1].isdigit():
        raise argparse.ArgumentTypeError(f"expected ADDRESS:LOVELACE[:UNIT=QTY,...], got "
                                         f"{text[:120]!r}")
    try:
        address = address_bytes(parts[0])
    except AddressError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    assets: dict[tuple[bytes, bytes], int] = {}
    for item in (parts[2].split(",") if len(parts) == 3 and parts[2] else []):
        unit, _, quantity = item.partition("=")
        try:
            raw = bytes.fromhex(unit)
        except ValueError:
            raw = b""
        if len(raw) < 28 or len(raw) > 60 or not quantity.isdigit() or int(quantity) < 1:
            raise argparse.ArgumentTypeError(f"a token is UNIT=QTY with UNIT the policy id and "
                                             f"asset name in hex, got {item[:120]!r}")
        assets[(raw[:28], raw[28:])] = int(quantity)
    return Funds(address, int(parts[1]), assets)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from chain.sandbox import SandboxChain
    from chain.simulator import serve_forever
    from chain.slots import ms_to_slot

    _stderr_logging()
    network = args.network
    started = time.time()
    if network.name in ("mainnet", "preprod", "preview"):
        def clock() -> int:
            return ms_to_slot(network.name, int(time.time() * 1000))
    else:
        def clock() -> int:
            return PRIVATE_START_SLOT + int(time.time() - started)
    chain = SandboxChain(list(args.fund), clock, magic=network.magic,
                         block_interval_s=args.block_seconds)
    utxos = None
    if args.http_port is not None:
        from stubs.sandbox_utxos import SandboxUtxos
        from stubs.server import StubServer

        utxos = StubServer(SandboxUtxos(lambda: chain.snapshot), port=args.http_port).start()
        print(f"UTxOs on {utxos.url}/addresses/ADDRESS/utxos", flush=True)
    try:
        asyncio.run(serve_forever(chain.config, args.listen, chain=chain))
    except ChainError as error:
        print(f"dhl sandbox: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"dhl sandbox: cannot listen on {args.listen}: {error.strerror or error}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if utxos is not None:
            utxos.stop()
    return 0


def port_arg(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got {text!r}")
    return int(text)


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0.05 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds between 0.05 and 3600, got {text!r}")
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
                         help="a genesis output (repeat for more)")
    sandbox.add_argument("--block-seconds", type=positive_seconds, default=2.0,
                         metavar="SECONDS", help="forge a block this often (default 2)")
    sandbox.add_argument("--http-port", type=port_arg, metavar="PORT",
                         help="also serve its UTxOs over HTTP on 127.0.0.1:PORT (0: any "
                              "free port), Blockfrost's shape, for the stubs")
    sandbox.set_defaults(func=cmd_sandbox)
