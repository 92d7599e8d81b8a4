"""`python -m stubs NAME --port N [--fixtures DIR]`: one API stub as a process on loopback
(what `dhl run` starts in paper mode). NAME is a module of this package with
`make_handler(fixtures_dir) -> Handler`."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from stubs.server import StubServer

STUBS = ("liqwid", "surf", "dexhunter")
#: The stubs that build from a wallet's UTxOs on the sandbox chain (`--chain-utxos`).
CHAIN_STUBS = ("surf", "dexhunter")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stubs")
    parser.add_argument("name", choices=STUBS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fixtures", type=Path, required=True)
    parser.add_argument("--chain-utxos", metavar="URL",
                        help="dexhunter, surf: build from the wallet's UTxOs at this sandbox "
                             "endpoint (dhl sandbox --http-port); surf also reads its pools, "
                             "loans and orders there")
    args = parser.parse_args(argv)
    if args.chain_utxos and args.name not in CHAIN_STUBS:
        parser.error(f"--chain-utxos is for {' and '.join(CHAIN_STUBS)} only")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    module = importlib.import_module(f"stubs.{args.name}")
    try:
        handler = module.make_handler(args.fixtures, chain_utxos=args.chain_utxos) \
            if args.chain_utxos else module.make_handler(args.fixtures)
    except (OSError, ValueError) as error:
        print(f"stub {args.name}: cannot load its recorded bodies: {error}", file=sys.stderr)
        return 2
    server = StubServer(handler, port=args.port)
    print(f"stub {args.name} listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
