"""`dhl simulate`, `dhl tail` and `dhl block`: the chain tools operators and scripts use.

Output contracts (kept stable for scripts):
- tail: one JSON object per line, `{"type":"roll_forward","era","slot","hash","height","txs"}`
  or `{"type":"roll_backward","slot","hash"}` (null slot and hash at origin); exit 0 after
  --limit roll-forwards, 2 on bad arguments, 1 when the node cannot be reached.
- block: the ledger view of each block as one JSON object per line.
Diagnostics go to stderr.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from chain.address import NodeAddress, parse_node_address
from chain.errors import ChainError, WrongNetwork
from chain.follower import start_from
from chain.ledger import Block
from chain.points import Point, Tip
from core.errors import ConfigError
from core.settings import Network, parse_network, parse_start

if TYPE_CHECKING:
    from chain.simulator import SimChain, SimulatorConfig

log = logging.getLogger("dhl")

TAIL_ATTEMPTS = 5


def network_arg(text: str) -> Network:
    try:
        return parse_network("--network", text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(error.expected) from None


def node_arg(text: str):  # type: ignore[no-untyped-def]
    try:
        return parse_node_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def start_arg(text: str) -> str | Point:
    # The same forms, and the same words, as FOLLOW_FROM.
    try:
        return start_from(parse_start("--from", text))
    except ConfigError as error:
        raise argparse.ArgumentTypeError(f"expected {error.expected}, got {text!r}") from None


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


def _stderr_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(stream=sys.stderr, level=level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# --- dhl block ----------------------------------------------------------------------------

def cmd_block(args: argparse.Namespace) -> int:
    from chain.blockfile import BlockFileError, read_blocks

    status = 0
    for path in args.files:
        try:
            blocks = read_blocks(Path(path))
        except BlockFileError as error:
            print(f"dhl block: {error}", file=sys.stderr)
            status = 1
            continue
        for block in blocks:
            print(json.dumps(block.to_json(), separators=(",", ":")))
    return status


# --- dhl tail -----------------------------------------------------------------------------

class PrintingSink:
    def roll_forward(self, block: Block, tip: Tip) -> None:
        print(json.dumps({"type": "roll_forward", "era": block.era, "slot": block.slot,
                          "hash": block.hash.hex(), "height": block.height,
                          "txs": block.tx_count}, separators=(",", ":")), flush=True)

    def roll_backward(self, point: Point, tip: Tip) -> None:
        print(json.dumps({"type": "roll_backward", "slot": point.slot,
                          "hash": point.hash.hex() if point.hash else None},
                         separators=(",", ":")), flush=True)


def cmd_tail(args: argparse.Namespace) -> int:
    from chain.follower import Follower, FollowerConfig, MemoryCursor, Unreachable

    _stderr_logging()
    config = FollowerConfig(address=args.node, magic=args.network.magic, start=args.start,
                            limit=args.limit, max_attempts=args.attempts, backoff_initial_s=0.5,
                            backoff_max_s=8.0, stop_on_wrong_network=True)
    follower = Follower(config, PrintingSink(), MemoryCursor())
    try:
        asyncio.run(follower.run())
    except WrongNetwork as error:  # retrying cannot help: say so at once
        print(f"dhl tail: {error} (see --network)", file=sys.stderr)
        return 1
    except Unreachable as error:
        print(f"dhl tail: cannot reach the node: {error}", file=sys.stderr)
        return 1
    except ChainError as error:
        print(f"dhl tail: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


# --- dhl simulate -------------------------------------------------------------------------

def cmd_simulate(args: argparse.Namespace) -> int:
    from chain.blockfile import BlockFileError, read_blocks
    from chain.simulator import SimBlock, SimulatorConfig

    _stderr_logging()
    files = args.blocks or default_segment(args.network.name)
    if not files:
        print(f"dhl simulate: --blocks is needed: no recorded segment for {args.network.name}",
              file=sys.stderr)
        return 2
    try:
        blocks = [b for path in files for b in read_blocks(Path(path), args.network.magic)]
    except BlockFileError as error:
        print(f"dhl simulate: {error}", file=sys.stderr)
        return 2
    config = SimulatorConfig(blocks=[SimBlock.of(b) for b in blocks], magic=args.network.magic,
                             rollbacks=args.rollback, fault=args.fault,
                             fault_connections=args.fault_connections, initial=args.initial,
                             interval_s=args.interval)
    return serve_until_stopped("simulate", config, args.listen)


def serve_until_stopped(command: str, config: "SimulatorConfig", listen: NodeAddress,
                        chain: "SimChain | None" = None) -> int:
    """Serve the simulator (or `chain`) in the foreground until interrupted; the exit
    status of `dhl COMMAND`: 2 for a chain error, 1 when it cannot listen."""
    from chain.simulator import serve_forever

    try:
        asyncio.run(serve_forever(config, listen, chain=chain))
    except ChainError as error:
        print(f"dhl {command}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"dhl {command}: cannot listen on {listen}: {error.strerror or error}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


#: The recorded real segments `dhl simulate --network NAME` serves without --blocks.
SEGMENTS = {"preprod": ("cardano", "segments", "preprod-babbage-chunk01285", "01285.chunk"),
            "preview": ("cardano", "segments", "preview-conway-argus-h3319101")}


def default_segment(network: str) -> list[str]:
    from core.settings import load_settings

    parts = SEGMENTS.get(network)
    if parts is None:
        return []
    try:
        fixtures = load_settings().fixtures_dir
    except ConfigError as error:  # the settings are read only for FIXTURES_DIR here
        print(f"config error: {error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    path = fixtures.joinpath(*parts)
    return [str(path)] if path.exists() else []


def add_chain_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from chain.simulator import Fault, Rollback

    def rollback_arg(text: str) -> Rollback:
        try:
            return Rollback.parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    def fault_arg(text: str) -> Fault:
        try:
            return Fault.parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    block = sub.add_parser("block", help="print the ledger view of recorded blocks as JSON lines")
    block.add_argument("files", nargs="+", metavar="FILE",
                       help="a block in hex or binary, raw or era-wrapped, or a chunk")
    block.set_defaults(func=cmd_block)

    tail = sub.add_parser("tail", help="follow a node and print each roll forward/backward")
    tail.add_argument("--node", required=True, type=node_arg, metavar="URL",
                      help="tcp://host:port or unix:///path/node.socket")
    tail.add_argument("--network", required=True, type=network_arg,
                      metavar="mainnet|preprod|preview|MAGIC")
    tail.add_argument("--from", dest="start", default="tip", type=start_arg,
                      metavar="origin|tip|SLOT.HASH")
    tail.add_argument("--limit", type=positive_int, metavar="N",
                      help="exit 0 after N roll forwards")
    tail.add_argument("--attempts", type=positive_int, default=TAIL_ATTEMPTS, metavar="N",
                      help=f"tries to reach the node before giving up (default {TAIL_ATTEMPTS})")
    tail.set_defaults(func=cmd_tail)

    sim = sub.add_parser("simulate", help="serve recorded blocks as a Cardano node would")
    sim.add_argument("--blocks", nargs="+", metavar="FILE",
                     help="default: the recorded segment of --network (preprod, preview)")
    sim.add_argument("--listen", required=True, type=node_arg, metavar="URL",
                     help="tcp://127.0.0.1:PORT (node-to-node) or unix:///path (node-to-client)")
    sim.add_argument("--network", default=network_arg("mainnet"), type=network_arg,
                     metavar="mainnet|preprod|preview|MAGIC")
    sim.add_argument("--rollback", action="append", default=[], type=rollback_arg,
                     metavar="AFTER:DEPTH", help="once AFTER blocks are served, roll back DEPTH")
    sim.add_argument("--fault", type=fault_arg, metavar="MODE[@N]",
                     help="misbehave: garbage, wrong-magic, refuse, oversized, agency, stall")
    sim.add_argument("--fault-connections", type=positive_int, default=1, metavar="K",
                     help="how many first connections misbehave (default 1)")
    sim.add_argument("--initial", type=positive_int, metavar="N",
                     help="start with N blocks on the chain")
    sim.add_argument("--interval", type=float, metavar="SECONDS",
                     help="then add one block every SECONDS")
    sim.set_defaults(func=cmd_simulate)
