"""A follower process for crash tests: file cursor, fsynced JSON-lines sink, stops once a
given block is applied. Run as `python -m tests.support.follow_to_file ...`."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from chain.address import parse_node_address
from chain.follower import FileCursor, Follower, FollowerConfig
from chain.ledger import Block
from chain.points import Tip
from tests.support.chainlog import JsonLinesSink


class Reached(Exception):
    pass


class StopAtSink(JsonLinesSink):
    def __init__(self, path: Path, until: str) -> None:
        super().__init__(path)
        self.until = until

    def roll_forward(self, block: Block, tip: Tip) -> None:
        super().roll_forward(block, tip)
        if block.hash.hex() == self.until:
            raise Reached()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--node", required=True)
    parser.add_argument("--magic", type=int, required=True)
    parser.add_argument("--cursor", type=Path, required=True)
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--until", required=True)
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    config = FollowerConfig(address=parse_node_address(args.node), magic=args.magic,
                            start="origin", backoff_initial_s=0.05, backoff_max_s=0.5)
    follower = Follower(config, StopAtSink(args.events, args.until), FileCursor(args.cursor))
    try:
        asyncio.run(follower.run())
    except Reached:
        return 0
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
